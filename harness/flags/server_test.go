package flags

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start runs a server on 127.0.0.1:0 with a fake clock; it is ready when
// Start returns.
func start(t *testing.T, defs map[string]*Flag) (*Server, string, *fakeClock) {
	t.Helper()
	s := NewServer(defs)
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	s.now = clock.Now
	url, err := s.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, url, clock
}

func post(t *testing.T, url, body string, hdr ...string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s: %v: %s", url, err, raw)
		}
	}
	return resp.StatusCode, resp.Header, m
}

func single(t *testing.T, base, key, tk string) (int, map[string]any) {
	t.Helper()
	code, _, m := post(t, base+"/ofrep/v1/evaluate/flags/"+key, `{"context":{"targetingKey":"`+tk+`"}}`)
	return code, m
}

func TestServerSingle(t *testing.T) {
	s, base, _ := start(t, map[string]*Flag{"new-pricing": boolFlag()})
	code, m := single(t, base, "new-pricing", "user-1")
	want := map[string]any{"key": "new-pricing", "value": false, "reason": "STATIC", "variant": "off",
		"metadata": map[string]any{"drill.revision": 0.0}}
	if code != 200 || !jsonEqual(m, want) {
		t.Errorf("got %d %v, want %v", code, m, want)
	}
	rev, err := s.Set("new-pricing", Share(boolFlag(), "on", 1))
	if err != nil || rev != 1 {
		t.Fatalf("Set: %d %v", rev, err)
	}
	_, m = single(t, base, "new-pricing", "user-1")
	want = map[string]any{"key": "new-pricing", "value": true, "reason": "TARGETING_MATCH", "variant": "on",
		"metadata": map[string]any{"drill.revision": 1.0, "drill.defects": "errors=5%"}}
	if !jsonEqual(m, want) {
		t.Errorf("after Set: %v, want %v", m, want)
	}
	d := boolFlag()
	d.State = Disabled
	if _, err := s.Set("new-pricing", d); err != nil {
		t.Fatal(err)
	}
	code, m = single(t, base, "new-pricing", "user-1")
	want = map[string]any{"key": "new-pricing", "reason": "DISABLED", "metadata": map[string]any{"drill.revision": 2.0}}
	if code != 200 || !jsonEqual(m, want) {
		t.Errorf("disabled: %d %v, want %v", code, m, want)
	}
	if _, err := s.Set("new-pricing", &Flag{State: "on"}); err == nil {
		t.Error("Set accepted an invalid flag")
	}
	if f, rev := s.Published("new-pricing"); rev != 2 || f.State != Disabled {
		t.Errorf("Published: %v %d", f, rev)
	}
	if f := s.Original("new-pricing"); f.State != Enabled || f.Targeting != nil {
		t.Errorf("Original: %+v", f)
	}
	if k := s.Keys(); len(k) != 1 || k[0] != "new-pricing" || s.Revision() != 2 {
		t.Errorf("Keys %v Revision %d", k, s.Revision())
	}
}

func TestServerErrors(t *testing.T) {
	bad := boolFlag()
	bad.Targeting = rule(t, `{"if": [{"in": [{"var": "n"}, "abc"]}, "on", "off"]}`)
	_, base, _ := start(t, map[string]*Flag{"f": boolFlag(), "bad": bad})
	flag := base + "/ofrep/v1/evaluate/flags/"
	for _, c := range []struct {
		url, body string
		status    int
		code      string
	}{
		{flag + "nope", `{"context":{"targetingKey":"u"}}`, 404, ErrFlagNotFound},
		{flag + "f", `{"context":`, 400, ErrInvalidContext},
		{flag + "f", `{"context":"u"}`, 400, ErrInvalidContext},
		{flag + "bad", `{"context":{"targetingKey":"u","n":5}}`, 400, ErrParse},
		{base + "/ofrep/v1/evaluate/flags", `{"context":[1]}`, 400, ErrInvalidContext},
	} {
		status, _, m := post(t, c.url, c.body)
		if status != c.status || m["errorCode"] != c.code || m["errorDetails"] == "" {
			t.Errorf("%s %s: %d %v, want %d %s", c.url, c.body, status, m, c.status, c.code)
		}
	}
	// An empty body is an empty context, as flagd reads it.
	if status, _, m := post(t, flag+"f", ""); status != 200 || m["variant"] != "off" {
		t.Errorf("empty body: %d %v", status, m)
	}
	resp, err := http.Get(flag + "f")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

func TestServerBulkETag(t *testing.T) {
	s, base, _ := start(t, map[string]*Flag{"b": boolFlag(), "a": Share(boolFlag(), "on", 1)})
	url := base + "/ofrep/v1/evaluate/flags"
	body := `{"context":{"targetingKey":"user-1"}}`
	status, hdr, m := post(t, url, body)
	etag := hdr.Get("ETag")
	flags, _ := m["flags"].([]any)
	if status != 200 || etag == "" || len(flags) != 2 {
		t.Fatalf("bulk: %d %q %v", status, etag, m)
	}
	first := flags[0].(map[string]any)
	if first["key"] != "a" || first["variant"] != "on" || flags[1].(map[string]any)["variant"] != "off" {
		t.Errorf("bulk flags: %v", flags)
	}
	if status, _, _ := post(t, url, body, "If-None-Match", etag); status != http.StatusNotModified {
		t.Errorf("If-None-Match with the current ETag: %d, want 304", status)
	}
	if status, _, _ := post(t, url, body, "If-None-Match", `"other", W/`+etag); status != http.StatusNotModified {
		t.Errorf("If-None-Match list with a weak match: %d, want 304", status)
	}
	if _, err := s.Set("b", Share(boolFlag(), "on", 1)); err != nil {
		t.Fatal(err)
	}
	status, hdr, _ = post(t, url, body, "If-None-Match", etag)
	if status != 200 || hdr.Get("ETag") == etag {
		t.Errorf("after a change: %d, ETag %q (was %q)", status, hdr.Get("ETag"), etag)
	}
}

// Down refuses connections, including on a kept-alive connection; Up
// answers again on the same address.
func TestServerDownUp(t *testing.T) {
	s, base, _ := start(t, map[string]*Flag{"f": boolFlag()})
	client := &http.Client{Timeout: 2 * time.Second}
	ask := func() error {
		resp, err := client.Post(base+"/ofrep/v1/evaluate/flags/f", "application/json", bytes.NewBufferString(`{"context":{}}`))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			t.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	if err := ask(); err != nil {
		t.Fatal(err)
	}
	if err := s.Down(); err != nil {
		t.Fatal(err)
	}
	if err := s.Down(); err != nil {
		t.Errorf("second Down: %v", err)
	}
	err := ask()
	if !errors.Is(err, syscall.ECONNREFUSED) {
		// The kept-alive connection may fail first with a reset or EOF;
		// the next attempt must be refused.
		err = ask()
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("while down: %v, want connection refused", err)
	}
	if err := s.Up(); err != nil {
		t.Fatal(err)
	}
	if err := ask(); err != nil {
		t.Fatalf("after Up on the same address: %v", err)
	}
	if err := s.Up(); err != nil {
		t.Errorf("second Up: %v", err)
	}
}

func TestServerStaleness(t *testing.T) {
	s, base, clock := start(t, map[string]*Flag{"f": boolFlag()})
	s.SetStaleness(5 * time.Second)
	rev, _ := s.Set("f", Share(boolFlag(), "on", 1))
	variant := func() (string, float64) {
		_, m := single(t, base, "f", "user-1")
		return m["variant"].(string), m["metadata"].(map[string]any)["drill.revision"].(float64)
	}
	if _, prev := s.Served("f"); prev != 0 {
		t.Errorf("served revision %d before the staleness passed", prev)
	}
	if _, prev := s.Published("f"); prev != rev {
		t.Errorf("published revision %d, want %d", prev, rev)
	}
	clock.Advance(4999 * time.Millisecond)
	if v, r := variant(); v != "off" || r != 0 {
		t.Errorf("before the staleness passed: %s at revision %v", v, r)
	}
	clock.Advance(time.Millisecond)
	if v, r := variant(); v != "on" || r != 1 {
		t.Errorf("once the staleness passed: %s at revision %v", v, r)
	}
	// A change published under a long staleness is not overtaken by one
	// published later under a shorter one: changes arrive in order.
	s.SetStaleness(10 * time.Second)
	_, _ = s.Set("f", boolFlag()) // rev 2, due +10s
	s.SetStaleness(time.Second)
	_, _ = s.Set("f", Share(boolFlag(), "on", 1)) // rev 3, due +10s too
	clock.Advance(2 * time.Second)
	if _, r := s.Served("f"); r != 1 {
		t.Errorf("revision %d served after 2s, want 1", r)
	}
	clock.Advance(8 * time.Second)
	if v, r := variant(); v != "on" || r != 3 {
		t.Errorf("after 10s: %s at revision %v, want on at 3", v, r)
	}
	// Removing staleness serves what was held back at once.
	s.SetStaleness(time.Hour)
	_, _ = s.Set("f", boolFlag())
	if v, _ := variant(); v != "on" {
		t.Errorf("held back change served early: %s", v)
	}
	s.SetStaleness(0)
	if v, r := variant(); v != "off" || r != 4 {
		t.Errorf("after SetStaleness(0): %s at %v, want off at 4", v, r)
	}
}

// Concurrent answers and changes, for the race detector.
func TestServerConcurrent(t *testing.T) {
	s, base, clock := start(t, map[string]*Flag{"f": boolFlag()})
	s.SetStaleness(time.Second)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				// t.Fatal must not run here: report and go on.
				resp, err := http.Post(base+"/ofrep/v1/evaluate/flags/f", "application/json", bytes.NewBufferString(`{"context":{"targetingKey":"u"}}`))
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		})
	}
	for i := range 20 {
		_, _ = s.Set("f", Share(boolFlag(), "on", float64(i)/20))
		clock.Advance(100 * time.Millisecond)
		s.Served("f")
	}
	wg.Wait()
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
