package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/scenarios"
)

func TestRedact(t *testing.T) {
	registerSecret("registered-s3cr3t-value")
	registerSecret("abc") // too short to register: it would blank out every "abc"
	tests := []struct{ in, want string }{
		{"postgres://postgres:hunter22@127.0.0.1:5432/db?sslmode=disable",
			"postgres://postgres:[REDACTED]@127.0.0.1:5432/db?sslmode=disable"},
		{"dial postgres://u:p%40ss@h/db: refused", "dial postgres://u:[REDACTED]@h/db: refused"},
		{"postgres://postgres@127.0.0.1:5432/db", "postgres://postgres@127.0.0.1:5432/db"},
		{"http://127.0.0.1:8080/orders/x@y", "http://127.0.0.1:8080/orders/x@y"},
		{"run migrate --db-password=hunter22 now", "run migrate --db-password=[REDACTED] now"},
		{"DB_PASSWORD=x GITHUB_TOKEN='ghp abc' AWS_SECRET_ACCESS_KEY=\"q w\" PORT=8080",
			"DB_PASSWORD=[REDACTED] GITHUB_TOKEN=[REDACTED] AWS_SECRET_ACCESS_KEY=[REDACTED] PORT=8080"},
		{"GET /x?api_key=zzz&page=2", "GET /x?api_key=[REDACTED]&page=2"},
		{`{"level":"info","Password":"p\"w","n":1}`, `{"level":"info","Password":"[REDACTED]","n":1}`},
		{"the value registered-s3cr3t-value leaked", "the value [REDACTED] leaked"},
		{"abc stays", "abc stays"},
		{"weight=50 version=v2", "weight=50 version=v2"},
	}
	for _, tc := range tests {
		if got := redact(tc.in); got != tc.want {
			t.Errorf("redact(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactField(t *testing.T) {
	registerSecret("field-s3cr3t-value")
	type evidence struct {
		Note  string `json:"note"`
		Count int    `json:"count"`
	}
	tests := []struct {
		key       string
		in, want  any
		sameValue bool // no secret: the value is kept as it was, type and all
	}{
		{key: "db_password", in: "whatever", want: redactMark},
		{key: "url", in: "postgres://u:pw12345@h/db", want: "postgres://u:[REDACTED]@h/db"},
		{key: "error", in: errors.New("connect field-s3cr3t-value: refused"), want: "connect [REDACTED]: refused"},
		{key: "env", in: map[string]string{"API_TOKEN": "t", "PORT": "1"}, want: map[string]string{"API_TOKEN": redactMark, "PORT": "1"}},
		{key: "args", in: []string{"--token=x", "-v"}, want: []string{"--token=[REDACTED]", "-v"}},
		{key: "ev", in: evidence{Note: "with field-s3cr3t-value", Count: 2}, want: map[string]any{"note": "with [REDACTED]", "count": float64(2)}},
		{key: "ev", in: evidence{Note: "clean", Count: 2}, sameValue: true},
		{key: "n", in: 42, sameValue: true},
		{key: "d", in: time.Second, sameValue: true},
	}
	for _, tc := range tests {
		got := redactField(tc.key, tc.in)
		want := tc.want
		if tc.sameValue {
			want = tc.in
		}
		if !equalJSONish(got, want) {
			t.Errorf("redactField(%q, %#v) = %#v, want %#v", tc.key, tc.in, got, want)
		}
	}
}

func equalJSONish(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !equalJSONish(x[k], y[k]) {
				return false
			}
		}
		return true
	case map[string]string:
		y, ok := b.(map[string]string)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if x[k] != y[k] {
				return false
			}
		}
		return true
	case []string:
		y, ok := b.([]string)
		return ok && strings.Join(x, "\x00") == strings.Join(y, "\x00")
	}
	return a == b
}

// TestRedactWriter: a secret split across writes is still caught, and a
// last line without a newline comes out at Flush.
func TestRedactWriter(t *testing.T) {
	registerSecret("writer-s3cr3t-value")
	var out bytes.Buffer
	w := &redactWriter{w: &out}
	for _, chunk := range []string{"start\nconnecting with writer-s3", "cr3t-value\nDB_PASS", "WORD=abc\ntail"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "start\nconnecting with [REDACTED]\nDB_PASSWORD=[REDACTED]\ntail"
	if out.String() != want {
		t.Errorf("wrote %q, want %q", out.String(), want)
	}
}

// TestJournalRedactsSecrets: the password of a URL and the value of a
// secret-named field reach neither the file nor the in-memory events
// (which become the report's timeline), and the file is private to the
// user.
func TestJournalRedactsSecrets(t *testing.T) {
	j, path := openTestJournal(t, time.Now())
	j.Record("instance.failed", "url", "postgres://postgres:0123456789abcdef@127.0.0.1:5432/ordersdb?sslmode=disable",
		"error", errors.New("migrate postgres://postgres:0123456789abcdef@127.0.0.1:5432/ordersdb: dirty"), "api_token", "plain-token")
	checkJournalHides(t, j, path, "0123456789abcdef", "plain-token")
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "postgres://postgres:[REDACTED]@127.0.0.1:5432/ordersdb") {
		t.Errorf("journal lost the rest of the URL:\n%s", b)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("journal mode %v, want 0600", perm)
	}
}

// TestJournalAddSecret: a value registered with AddSecret is hidden
// wherever it turns up, under any field name.
func TestJournalAddSecret(t *testing.T) {
	j, path := openTestJournal(t, time.Now())
	j.AddSecret("journal-s3cr3t-value")
	j.Record("fault.apply.failed", "error", "exit 1: auth journal-s3cr3t-value rejected",
		"actions", []string{"sent journal-s3cr3t-value"})
	checkJournalHides(t, j, path, "journal-s3cr3t-value")
}

func checkJournalHides(t *testing.T, j *Journal, path string, leaks ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range leaks {
		if strings.Contains(string(b), leak) {
			t.Errorf("journal file holds %q:\n%s", leak, b)
		}
		for _, e := range j.Events() {
			if m, _ := json.Marshal(e.Fields); strings.Contains(string(m), leak) {
				t.Errorf("in-memory event %s holds %q: %s", e.Event, leak, m)
			}
		}
	}
}

// TestRegisterSecretEnv: values of secret-named env entries are hidden
// everywhere, except those more likely addresses or identifiers than
// secrets, which must not vanish from the whole journal.
func TestRegisterSecretEnv(t *testing.T) {
	registerSecretEnv(map[string]string{
		"API_TOKEN":     "tok-9f8e7d6c",
		"DB_PASSWORD":   "letmeinplease",
		"KEYSPACE":      "orders_ks",
		"SORT_KEY":      "created_at",
		"KEYSERVER_URL": "http://127.0.0.1:41234",
		"KEY_ID":        "123456789",
		"SIGNING_KEY":   "k3y-material-0001",
		"PORT":          "some-other-value",
	})
	for in, want := range map[string]string{
		"sent tok-9f8e7d6c":                "sent [REDACTED]",
		"login letmeinplease":              "login [REDACTED]",
		"signed with k3y-material-0001":    "signed with [REDACTED]",
		"table orders_ks by created_at":    "table orders_ks by created_at",
		"calling http://127.0.0.1:41234/x": "calling http://127.0.0.1:41234/x",
		"key 123456789 rotated":            "key 123456789 rotated",
		"some-other-value is not secret":   "some-other-value is not secret",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSecretMarkedEnvIsRedacted: a value marked `secret: true` in the
// scenario is redacted though its name looks harmless.
func TestSecretMarkedEnvIsRedacted(t *testing.T) {
	sc, err := scenarios.Parse("secret.yaml", []byte(`version: 1
name: secret-env
environment:
  services:
    api:
      command: ["true"]
      env:
        UPSTREAM_AUTH: {value: "opaque-marked-value-1", secret: true}
        PLAIN: visible-value
      versions:
        v1: {}
        v2: {env: {SIGNING: {value: "opaque-marked-value-2", secret: true}}}
load: {target: api, rate: 1/s, requests: [{path: /}]}
steady_state: {duration: 1s}
rollout: {service: api, to: v2, steps: [{weight: 50%, hold: 1s}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := sc.Environment.Service("api")
	v2 := s.Version("v2")
	if s.Env["UPSTREAM_AUTH"] != "opaque-marked-value-1" || !s.SecretEnv["UPSTREAM_AUTH"] || s.SecretEnv["PLAIN"] || !v2.SecretEnv["SIGNING"] {
		t.Fatalf("env %v, secret %v / %v", s.Env, s.SecretEnv, v2.SecretEnv)
	}
	env := map[string]string{"UPSTREAM_AUTH": "opaque-marked-value-1", "SIGNING": "opaque-marked-value-2", "PLAIN": "visible-value"}
	registerMarkedSecrets(s, v2, env)
	got := redact("auth opaque-marked-value-1 signing opaque-marked-value-2 plain visible-value")
	if strings.Contains(got, "opaque-marked") || !strings.Contains(got, "visible-value") {
		t.Errorf("redact = %q", got)
	}
}
