// Package host holds what the process and docker providers share about
// the machine they run on: build directories, SQLite files in the run's
// temp dir, free loopback ports, health checks and bounded polling.
package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/scenarios"
)

// HealthClient is the HTTP client of health checks. It never follows a
// redirect: a 3xx is not "healthy", and following one would let a service
// send the harness's check to any address.
func HealthClient() *http.Client {
	return &http.Client{Timeout: time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// FreePort asks the kernel for an unused loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// EnvList turns an environment map into sorted NAME=value entries.
func EnvList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// FileExists says whether p exists.
func FileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// HasGoFiles says whether dir holds a Go package.
func HasGoFiles(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	return len(m) > 0
}

// Sanitize makes s safe as a file or image name component.
func Sanitize(s string) string {
	return strings.Trim(regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(s, "_"), "_.")
}

// Tail returns the last n lines of s, indented for an error hint.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// CopyFile copies an executable.
func CopyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// StopPolling ends PollUntil early: waiting longer cannot help.
type StopPolling struct{ error }

// Stop wraps err so that PollUntil returns it at once.
func Stop(err error) error { return StopPolling{err} }

// PollUntil calls try until it returns nil or timeout passes, backing off
// from 10 ms to 200 ms; the last error says why it gave up.
func PollUntil(ctx context.Context, timeout time.Duration, try func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	backoff := 10 * time.Millisecond
	for {
		actx, acancel := context.WithTimeout(ctx, time.Second)
		err := try(actx)
		acancel()
		if err == nil {
			return nil
		}
		var stop StopPolling
		if errors.As(err, &stop) {
			return stop.error
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %s: %w", timeout, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 200*time.Millisecond)
	}
}

// ResolveDir finds a relative build directory in baseDirs (the scenario's
// folder and its parents, then the working directory).
func ResolveDir(baseDirs []string, dir string) (string, error) {
	if filepath.IsAbs(dir) {
		return dir, nil
	}
	for _, base := range baseDirs {
		cand := filepath.Join(base, dir)
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return filepath.Abs(cand)
		}
	}
	return "", &provider.EnvError{What: fmt.Sprintf("build directory %q not found", dir),
		Hint: fmt.Sprintf("paths are looked up from the scenario's folder upwards and then the working directory (%s)", strings.Join(baseDirs, ", "))}
}

// SQLite is the handle of database db as a file in the run's temp dir.
// There is nothing to start: the first service or migration creates it.
func SQLite(tempDir string, db *scenarios.Database) *provider.DatabaseHandle {
	path := filepath.Join(tempDir, db.Name+".sqlite")
	return &provider.DatabaseHandle{
		Name: db.Name, Engine: db.Engine,
		// synchronous=OFF for the reason PostgreSQL runs with fsync=off
		// (see the process provider's postgres.go): it only guards against an OS crash, which a
		// file thrown away after the drill never survives, while its
		// flushes make every latency hostage to the host's disk (measured:
		// a busy disk moved the steady-state p99 from 3 ms to 120 ms). A
		// killed service still loses nothing it committed: the write is
		// in the OS's page cache before the client hears of it.
		URL:        "sqlite://" + path + "?_pragma=synchronous(OFF)",
		MigrateURL: "sqlite://" + path + "?x-no-tx-wrap=false",
		DriverName: "sqlite",
		DSN:        path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)",
	}
}

var CargoName = regexp.MustCompile(`(?m)^\s*name\s*=\s*"([^"]+)"`)

// StopGrace is how long an instance gets to drain after SIGTERM.
const StopGrace = 5 * time.Second

// StopAll stops every instance at once (each Stop waits out its grace
// period, so one at a time would add them up) and returns their errors.
func StopAll[I interface{ Stop(context.Context) error }](ctx context.Context, insts []I) []error {
	var wg sync.WaitGroup
	errs := make([]error, len(insts))
	for i, in := range insts {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = in.Stop(ctx) }()
	}
	wg.Wait()
	return errs
}
