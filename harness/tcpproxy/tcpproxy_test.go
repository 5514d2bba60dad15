package tcpproxy_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/provider/process"
	"github.com/drillhq/drill/harness/tcpproxy"
	"github.com/drillhq/drill/scenarios"
)

// echoServer answers every line with the line itself.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func newProxy(t *testing.T, upstream string) *tcpproxy.Proxy {
	t.Helper()
	p, err := tcpproxy.New(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// roundTrip writes line and reads the echo.
func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, line string) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatal(err)
	}
	got, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read echo of %q: %v", line, err)
	}
	return strings.TrimSuffix(got, "\n")
}

// upper is a fault that upper-cases what clients send.
type upper struct{ piped chan bool }

func (u upper) Pipe(ctx context.Context, dst, src net.Conn, upstream bool) error {
	if u.piped != nil {
		u.piped <- upstream
	}
	stop := context.AfterFunc(ctx, func() { _ = src.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			b := buf[:n]
			if upstream {
				b = bytes.ToUpper(b)
			}
			if _, werr := dst.Write(b); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestProxyForwardsAndSwitchesFaultsOnOpenConnections(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if got := roundTrip(t, c, r, "hello"); got != "hello" {
		t.Fatalf("plain: %q", got)
	}
	u := upper{piped: make(chan bool, 8)}
	remove := p.Install(u)
	// The open connection switches to the fault asynchronously: wait until
	// the fault pipes the client's direction, then every byte goes through
	// it, in order, none lost.
	waitPiped(t, u.piped, true)
	for i := range 50 {
		if got := roundTrip(t, c, r, "abc"); got != "ABC" {
			t.Fatalf("round trip %d under the fault: %q", i, got)
		}
	}
	remove()
	remove() // idempotent
	if got := roundTrip(t, c, r, "after"); got != "after" {
		t.Fatalf("after remove: %q", got)
	}
	// A write is counted once it returns, which may be just after the
	// client has read the bytes: poll until the counters settle.
	want := int64(len("hello\nafter\n") + 50*4)
	var st = p.Stats()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if st = p.Stats(); st.BytesUp == want && st.BytesDown == want {
			break
		}
	}
	if st.Accepted != 1 || st.Open != 1 || st.BytesUp != want || st.BytesDown != want {
		t.Errorf("stats %+v, want %d bytes each way", st, want)
	}
}

// TestProxyStackedFaults: the latest fault acts; the earlier acts again
// once the latest is removed.
func TestProxyStackedFaults(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	// The open connection switches to a fault asynchronously: wait for a
	// to pipe the client's direction before expecting it to act.
	pipedA := make(chan bool, 16)
	removeA := p.Install(upper{piped: pipedA})
	waitPiped(t, pipedA, true)
	if got := roundTrip(t, c, r, "x"); got != "X" {
		t.Fatalf("a: %q", got)
	}
	piped := make(chan bool, 16)
	removeB := p.Install(upper{piped: piped})
	// b takes both directions of the open connection, asynchronously (a
	// direction may be piped again when a's ctx watcher interrupts b's
	// read late, which the proxy shrugs off).
	up, down := false, false
	for deadline := time.After(5 * time.Second); !up || !down; {
		select {
		case dir := <-piped:
			up, down = up || dir, down || !dir
		case <-deadline:
			t.Fatalf("b piped up=%v down=%v of the open connection, want both", up, down)
		}
	}
	if got := roundTrip(t, c, r, "y"); got != "Y" {
		t.Fatalf("b: %q", got)
	}
	removeB()
	if got := roundTrip(t, c, r, "z"); got != "Z" {
		t.Fatalf("a again: %q", got)
	}
	removeA()
	if got := roundTrip(t, c, r, "w"); got != "w" {
		t.Fatalf("none: %q", got)
	}
}

func TestProxyCloseEndsEverything(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	roundTrip(t, c, r, "x")
	p.Install(upper{})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := r.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read after Close: %v, want the connection closed", err)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Error("proxy still accepts after Close")
	}
	if st := p.Stats(); st.Open != 0 {
		t.Errorf("open connections after Close: %d", st.Open)
	}
	p.Install(upper{})() // a closed proxy takes no fault; removing is a no-op
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestProxyCountsDialErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	p := newProxy(t, dead)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read through a proxy to nowhere succeeded")
	}
	if st := p.Stats(); st.DialErrors != 1 || !strings.Contains(p.LastError(), "dial") {
		t.Errorf("stats %+v, last error %q", st, p.LastError())
	}
}

// TestProxyForwardsRealPostgres: pgx queries, a transaction and many
// pooled connections through the proxy of a real PostgreSQL.
func TestProxyForwardsRealPostgres(t *testing.T) {
	if _, err := process.FindPostgres(); err != nil {
		t.Skipf("no PostgreSQL: %v", err)
	}
	tmp, err := os.MkdirTemp("", "drill-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	prov, err := provider.New("process", provider.Config{TempDir: tmp, RunDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer prov.Close(context.Background())
	h, err := prov.StartDatabase(t.Context(), &scenarios.Database{Name: "db", Engine: scenarios.EnginePostgres})
	if err != nil {
		t.Fatal(err)
	}
	p := h.Proxy.(*tcpproxy.Proxy)
	db, err := sql.Open("pgx", h.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (id INT PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if _, err := db.Exec(`INSERT INTO t VALUES ($1, $2)`, w*1000+i, strings.Repeat("x", 100)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != 800 {
		t.Fatalf("count = %d, %v; want 800", n, err)
	}
	st := p.Stats()
	if st.Accepted < 2 || st.BytesUp < 800*100 || st.BytesDown == 0 || st.Errors != 0 {
		t.Errorf("stats %+v (last error %q)", st, p.LastError())
	}
	t.Logf("proxy stats after 800 inserts from 16 goroutines: %+v", st)
}

// waitPiped waits until a fault reports piping the given direction.
func waitPiped(t *testing.T, piped chan bool, upstream bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case dir := <-piped:
			if dir == upstream {
				return
			}
		case <-deadline:
			t.Fatal("the open connection never switched to the fault")
		}
	}
}
