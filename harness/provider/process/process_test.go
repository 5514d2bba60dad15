package process

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/provider/internal/host"
	"github.com/drillhq/drill/scenarios"
)

// helperEnv makes the test binary act as a service (see
// TestHelperProcess) instead of running tests.
const helperEnv = "DRILL_TEST_HELPER"

// TestHelperProcess is not a test: run as a child with helperEnv=serve, it
// is a service listening on 127.0.0.1:$PORT whose every path answers 503
// twice, then 200.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "serve" {
		return
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	fmt.Println("helper: listening on", l.Addr())
	var n atomic.Int64
	err = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	fmt.Fprintln(os.Stderr, "helper:", err)
	os.Exit(1)
}

// startProcess starts argv in its own process group the way StartInstance
// does and stops it at cleanup.
func startProcess(t *testing.T, url string, argv ...string) *processInstance {
	t.Helper()
	return startCmd(t, url, exec.Command(argv[0], argv[1:]...))
}

func startCmd(t *testing.T, url string, cmd *exec.Cmd) *processInstance {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	inst := &processInstance{name: "test-" + filepath.Base(cmd.Path), url: url, cmd: cmd, done: make(chan struct{})}
	go func() {
		inst.waitErr = cmd.Wait()
		close(inst.done)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // no grace at cleanup
		_ = inst.Stop(ctx)
	})
	return inst
}

// deadURL is a loopback URL nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	port, err := host.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

func TestFreePort(t *testing.T) {
	port, err := host.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if port <= 0 || port > 65535 {
		t.Fatalf("freePort = %d", port)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("listen on the free port %d: %v", port, err)
	}
	l.Close()
}

func TestWaitHealthy(t *testing.T) {
	// healthyAfter answers 503 until its nth request, then 200.
	type server struct {
		n     atomic.Int64
		paths chan string
	}
	healthyAfter := func(t *testing.T, n int64) (*server, string) {
		s := &server{paths: make(chan string, 100)}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.paths <- r.URL.Path
			if s.n.Add(1) < n {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
		}))
		t.Cleanup(srv.Close)
		return s, srv.URL
	}
	t.Run("first answer", func(t *testing.T) {
		s, url := healthyAfter(t, 1)
		inst := &processInstance{url: url, done: make(chan struct{})}
		if err := waitHealthy(context.Background(), inst, "/healthz", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if got := s.n.Load(); got != 1 {
			t.Errorf("%d health requests, want 1", got)
		}
	})
	t.Run("polls until healthy, then stops", func(t *testing.T) {
		s, url := healthyAfter(t, 4)
		inst := &processInstance{url: url, done: make(chan struct{})}
		if err := waitHealthy(context.Background(), inst, "/ready", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if got := s.n.Load(); got != 4 {
			t.Errorf("%d health requests, want 4 (three 503s and the 200)", got)
		}
		close(s.paths)
		for p := range s.paths {
			if p != "/ready" {
				t.Errorf("polled %q, want /ready", p)
			}
		}
	})
	t.Run("never healthy gives up at the deadline", func(t *testing.T) {
		_, url := healthyAfter(t, 1<<40)
		inst := &processInstance{url: url, done: make(chan struct{})}
		err := waitHealthy(context.Background(), inst, "/healthz", 200*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "gave up after 200ms") {
			t.Errorf("err = %v, want a give-up", err)
		}
	})
	t.Run("nothing listening gives up", func(t *testing.T) {
		inst := &processInstance{url: deadURL(t), done: make(chan struct{})}
		err := waitHealthy(context.Background(), inst, "/healthz", 100*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "gave up") {
			t.Errorf("err = %v, want a give-up", err)
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		_, url := healthyAfter(t, 1<<40)
		inst := &processInstance{url: url, done: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := waitHealthy(ctx, inst, "/healthz", time.Hour); err == nil {
			t.Errorf("waitHealthy with a canceled context succeeded")
		}
	})
	t.Run("process that exits", func(t *testing.T) {
		inst := startProcess(t, deadURL(t), "sh", "-c", "exit 3")
		err := waitHealthy(context.Background(), inst, "/healthz", time.Hour)
		if err == nil || !strings.Contains(err.Error(), "process exited: exit status 3") {
			t.Errorf("err = %v, want the exit status", err)
		}
	})
}

// signalOf returns the signal that ended a stopped instance.
func signalOf(t *testing.T, inst *processInstance) syscall.Signal {
	t.Helper()
	ws, ok := inst.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		t.Fatalf("process ended with %v, not by a signal", inst.waitErr)
	}
	return ws.Signal()
}

func TestProcessInstanceStop(t *testing.T) {
	t.Run("SIGTERM stops a well-behaved process", func(t *testing.T) {
		inst := startProcess(t, "", "sleep", "60")
		if !inst.Alive() {
			t.Fatal("not alive after start")
		}
		if err := inst.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if inst.Alive() {
			t.Error("alive after Stop")
		}
		if sig := signalOf(t, inst); sig != syscall.SIGTERM {
			t.Errorf("ended by %v, want SIGTERM", sig)
		}
		if err := inst.Stop(context.Background()); err != nil {
			t.Errorf("second Stop = %v", err)
		}
	})

	t.Run("a paused process is resumed to act on SIGTERM", func(t *testing.T) {
		inst := startProcess(t, "", "sleep", "60")
		if err := syscall.Kill(inst.PID(), syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		waitState(t, inst.PID(), 'T')
		if err := inst.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if sig := signalOf(t, inst); sig != syscall.SIGTERM {
			t.Errorf("ended by %v, want SIGTERM", sig)
		}
	})

	t.Run("the whole group is killed when SIGTERM is ignored", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		// The shell and its child both ignore SIGTERM and both hold the
		// pipe: it reads EOF only once both are dead.
		cmd := exec.Command("sh", "-c", `trap "" TERM; sleep 60 & echo $!; wait`)
		cmd.Stdout = w
		inst := startCmd(t, "", cmd)
		w.Close()
		if err := r.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(r)
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read child pid: %v", err)
		}
		child, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil {
			t.Fatalf("child pid %q: %v", line, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // no grace: straight to SIGKILL
		if err := inst.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if sig := signalOf(t, inst); sig != syscall.SIGKILL {
			t.Errorf("shell ended by %v, want SIGKILL", sig)
		}
		if _, err := io.ReadAll(br); err != nil {
			t.Errorf("child %d still holds the pipe: %v", child, err)
		}
	})
}

// waitState polls /proc until pid is in state (R, S, T, Z...), with a
// deadline.
func waitState(t *testing.T, pid int, state byte) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Skipf("no /proc: %v", err)
		}
		// pid (comm) STATE ...; comm may hold spaces, so cut at the last ')'.
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && b[i+2] == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never reached state %c: %s", pid, state, b)
		}
		<-tick.C
	}
}

func TestProcessProviderStartInstance(t *testing.T) {
	newProvider := func(t *testing.T) *processProvider {
		p := newProcessProvider(provider.Config{RunDir: t.TempDir(), TempDir: t.TempDir(), CacheDir: t.TempDir()})
		t.Cleanup(func() {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_ = p.Close(ctx)
		})
		return p
	}
	t.Run("a real service is started, polled healthy and stopped", func(t *testing.T) {
		p := newProvider(t)
		spec := provider.InstanceSpec{
			Service: &scenarios.Service{Name: "orders", Health: "/ready"},
			Version: &scenarios.Version{Name: "v1", Command: []string{os.Args[0], "-test.run=^TestHelperProcess$"}},
			Env:     map[string]string{helperEnv: "serve"},
		}
		inst, err := p.StartInstance(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		if inst.Name() != "orders-v1" || !strings.HasPrefix(inst.URL(), "http://127.0.0.1:") || inst.PID() <= 0 || !inst.Alive() {
			t.Errorf("instance %s at %s pid %d alive %v", inst.Name(), inst.URL(), inst.PID(), inst.Alive())
		}
		resp, err := http.Get(inst.URL() + "/ready")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("service answers %d after StartInstance, want 200", resp.StatusCode)
		}
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if inst.Alive() {
			t.Error("alive after the provider closed")
		}
		log, err := os.ReadFile(filepath.Join(p.cfg.RunDir, "logs", "orders-v1.log"))
		if err != nil || !strings.Contains(string(log), "helper: listening on 127.0.0.1:") {
			t.Errorf("instance log %q, %v; want the service's output", log, err)
		}
	})
	t.Run("a service that exits is an environment error with its log", func(t *testing.T) {
		p := newProvider(t)
		spec := provider.InstanceSpec{
			Service: &scenarios.Service{Name: "orders"},
			Version: &scenarios.Version{Name: "v2", Command: []string{"sh", "-c", "echo boom: no DATABASE_URL >&2; exit 3"}},
		}
		_, err := p.StartInstance(context.Background(), spec)
		var env *provider.EnvError
		if !errors.As(err, &env) {
			t.Fatalf("err = %v, want an *provider.EnvError", err)
		}
		if !strings.Contains(env.What, "orders-v2 did not become healthy") || !strings.Contains(env.Hint, "boom: no DATABASE_URL") ||
			!strings.Contains(err.Error(), "exit status 3") {
			t.Errorf("error %q with hint %q, want the exit and the log tail", err, env.Hint)
		}
	})
}
