package process

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/provider/internal/host"
	"github.com/drillhq/drill/harness/redact"
	"github.com/drillhq/drill/scenarios"
)

func init() {
	provider.Register("process", "builds services from source and runs them as local processes on 127.0.0.1; SQLite files, or PostgreSQL run locally, as databases",
		provider.Kind{
			New:  func(cfg provider.Config) (provider.Provider, error) { return newProcessProvider(cfg), nil },
			Caps: scenarios.ProviderCaps{Build: true, Command: true}, // no image: that needs an engine
		})
}

// processProvider runs every instance as a child process in its own
// process group, with Pdeathsig so that even a SIGKILLed harness does not
// leave services behind.
type processProvider struct {
	cfg provider.Config

	mu        sync.Mutex
	binaries  map[string][]string // build dir -> argv
	instances []*processInstance
	pgs       []*pgServer
	store     *artifactStore // the run's artifact store, once StoreArtifacts ran
	closed    bool
}

func newProcessProvider(cfg provider.Config) *processProvider {
	// Builds run in the service's directory: relative paths would land there.
	if abs, err := filepath.Abs(cfg.CacheDir); err == nil {
		cfg.CacheDir = abs
	}
	return &processProvider{cfg: cfg, binaries: map[string][]string{}}
}

func (p *processProvider) Build(ctx context.Context, sc *scenarios.Scenario) error {
	seen := map[string]bool{}
	for _, s := range sc.Environment.Services {
		for _, v := range s.Versions {
			prog := s.Program(v)
			if len(prog.Command) > 0 {
				continue
			}
			build := prog.Build
			if build == "" {
				return &provider.EnvError{What: fmt.Sprintf("service %q version %q has neither build nor command", s.Name, v.Name),
					Hint: "the process provider runs `build:` directories or `command:` programs; `image:` needs --provider docker"}
			}
			if seen[build] {
				continue
			}
			seen[build] = true
			if _, err := p.build(ctx, s.Name, build); err != nil {
				return err
			}
		}
	}
	return nil
}

// build compiles a Go package or a Cargo project once per run; the
// compilers' own caches make a rebuild of unchanged sources take a second.
func (p *processProvider) build(ctx context.Context, service, dir string) ([]string, error) {
	p.mu.Lock()
	argv, ok := p.binaries[dir]
	p.mu.Unlock()
	if ok {
		return argv, nil
	}
	abs, err := host.ResolveDir(p.cfg.BaseDirs, dir)
	if err != nil {
		return nil, err
	}
	// Binaries go to the run's temp dir: a shared output path would be
	// rewritten by a parallel run while this one executes it (ETXTBSY).
	binDir := filepath.Join(p.cfg.TempDir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, &provider.EnvError{What: "create bin dir", Err: err}
	}
	start := time.Now()
	var cmd *exec.Cmd
	var out string
	switch {
	case host.FileExists(filepath.Join(abs, "Cargo.toml")):
		if _, err := exec.LookPath("cargo"); err != nil {
			return nil, &provider.EnvError{What: fmt.Sprintf("service %q is a Rust project but cargo is not installed", service),
				Hint: "install Rust (Debian: apt-get install cargo, or rustup) and run again"}
		}
		manifest, err := os.ReadFile(filepath.Join(abs, "Cargo.toml"))
		if err != nil {
			return nil, &provider.EnvError{What: "read Cargo.toml", Err: err}
		}
		m := host.CargoName.FindSubmatch(manifest)
		if m == nil {
			return nil, &provider.EnvError{What: fmt.Sprintf("%s/Cargo.toml has no package name", dir)}
		}
		target := filepath.Join(p.cfg.CacheDir, "cargo", string(m[1]))
		cmd = exec.CommandContext(ctx, "cargo", "build", "--release", "--quiet", "--target-dir", target)
		if os.Getenv("DRILL_CARGO_ONLINE") == "" {
			// Offline by default: drill never reaches for a registry during a
			// drill; projects with dependencies vendor them or set the env.
			cmd.Args = append(cmd.Args, "--offline")
		}
		out = filepath.Join(target, "release", string(m[1]))
	case host.HasGoFiles(abs):
		if _, err := exec.LookPath("go"); err != nil {
			return nil, &provider.EnvError{What: fmt.Sprintf("service %q is a Go package but go is not installed", service),
				Hint: "install Go 1.26 (https://go.dev/dl) and put it on PATH"}
		}
		out = filepath.Join(binDir, host.Sanitize(dir))
		cmd = exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	default:
		return nil, &provider.EnvError{What: fmt.Sprintf("build directory %q holds neither Go files nor a Cargo.toml", dir)}
	}
	cmd.Dir = abs
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return nil, &provider.EnvError{What: fmt.Sprintf("build %s (%s)", dir, strings.Join(cmd.Args, " ")),
			Hint: "the compiler said:\n" + host.Tail(stderr.String(), 20), Err: err}
	}
	if filepath.Dir(out) != binDir {
		dst := filepath.Join(binDir, host.Sanitize(dir))
		if err := host.CopyFile(out, dst); err != nil {
			return nil, &provider.EnvError{What: "copy built binary", Err: err}
		}
		out = dst
	}
	p.logf("built %s in %s", dir, time.Since(start).Round(100*time.Millisecond))
	argv = []string{out}
	p.mu.Lock()
	p.binaries[dir] = argv
	p.mu.Unlock()
	return argv, nil
}

func (p *processProvider) StartDatabase(ctx context.Context, db *scenarios.Database) (*provider.DatabaseHandle, error) {
	switch db.Engine {
	case scenarios.EnginePostgres:
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return nil, fmt.Errorf("database %q: provider closed", db.Name)
		}
		srv, h, err := startPostgres(ctx, p.cfg, db, p.logf)
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		closed = p.closed
		if !closed {
			p.pgs = append(p.pgs, srv)
		}
		p.mu.Unlock()
		if closed {
			// Close ran while the server started: it did not see it.
			_ = srv.stop(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("database %q: provider closed", db.Name)
		}
		return h, nil
	case scenarios.EngineSQLite:
		return host.SQLite(p.cfg.TempDir, db), nil
	}
	return nil, &provider.EnvError{What: fmt.Sprintf("database %q: engine %q is not supported by the process provider yet", db.Name, db.Engine)}
}

// argv is the command line that runs version v of s: its command, or the
// binary its build directory compiles to.
func (p *processProvider) argv(ctx context.Context, s *scenarios.Service, v *scenarios.Version) ([]string, error) {
	switch prog := s.Program(v); {
	case len(prog.Command) > 0:
		return prog.Command, nil
	case prog.Build != "":
		return p.build(ctx, s.Name, prog.Build)
	default:
		return nil, &provider.EnvError{What: fmt.Sprintf("service %q version %q runs image %q", s.Name, v.Name, prog.Image),
			Hint: "images need --provider docker"}
	}
}

// watch copies the instance's output through redaction to its log, and
// waits for it to exit.
func (i *processInstance) watch(out *os.File, logf *os.File) {
	go func() {
		rw := redact.NewWriter(logf)
		_, _ = io.Copy(rw, out)
		_ = rw.Flush()
		out.Close()
		logf.Close()
		close(i.logDone)
	}()
	go func() {
		i.waitErr = i.cmd.Wait()
		close(i.done)
	}()
}

func (p *processProvider) StartInstance(ctx context.Context, spec provider.InstanceSpec) (provider.Instance, error) {
	s, v := spec.Service, spec.Version
	argv, err := p.argv(ctx, s, v)
	if err != nil {
		return nil, err
	}
	if spec.Artifact != "" {
		// The stored copy, not the build cache's: what a redeploy proves
		// it runs is what the store holds.
		stored, err := p.storedPath(spec.Artifact)
		if err != nil {
			return nil, err
		}
		argv = append([]string{stored}, argv[1:]...)
	}
	port, err := host.FreePort()
	if err != nil {
		return nil, &provider.EnvError{What: "find a free port on 127.0.0.1", Err: err}
	}
	name := s.Name + "-" + v.Name
	logDir := filepath.Join(p.cfg.RunDir, "logs")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return nil, &provider.EnvError{What: "create log dir", Err: err}
	}
	logPath := filepath.Join(logDir, name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, &provider.EnvError{What: "open instance log", Err: err}
	}
	// The service writes into a pipe the harness copies to its log through
	// redaction: a service printing its DATABASE_URL or a token must not
	// put the secret on disk. An *os.File, not an io.Writer, so cmd.Wait
	// does not wait for a grandchild that keeps the pipe open.
	pr, pw, err := os.Pipe()
	if err != nil {
		logf.Close()
		return nil, &provider.EnvError{What: "create the instance's output pipe", Err: err}
	}
	redact.RegisterEnv(spec.Env)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = childEnv(spec.Env, port)
	cmd.Stdout, cmd.Stderr = pw, pw
	// Own process group (so a stop reaches the children too) and a kill
	// signal from the kernel if the harness dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	pw.Close() // the child holds its own copy; EOF comes when it (and its children) exit
	if err != nil {
		pr.Close()
		logf.Close()
		return nil, &provider.EnvError{What: fmt.Sprintf("start %s (%s)", name, argv[0]), Err: err,
			Hint: fmt.Sprintf("check services.%s's command/build: the program must exist and be executable", s.Name)}
	}
	inst := &processInstance{name: name, url: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, log: logf,
		done: make(chan struct{}), logDone: make(chan struct{})}
	inst.watch(pr, logf)
	p.mu.Lock()
	p.instances = append(p.instances, inst)
	p.mu.Unlock()
	health := cmp.Or(s.Health, "/healthz")
	if err := waitHealthy(ctx, inst, health, host.HealthTimeout); err != nil {
		_ = inst.Stop(context.Background())
		logText, _ := os.ReadFile(logPath)
		// The log is redacted already; redact again for what was
		// registered after a line was written.
		return nil, &provider.EnvError{What: fmt.Sprintf("%s did not become healthy on %s%s", name, inst.url, health),
			Hint: "its log (" + logPath + ") ends with:\n" + redact.String(host.Tail(string(logText), 15)), Err: err}
	}
	p.logf("started %s pid %d on %s", name, inst.PID(), inst.url)
	return inst, nil
}

func (p *processProvider) Close(ctx context.Context) error {
	p.mu.Lock()
	insts := append([]*processInstance(nil), p.instances...)
	pgs := append([]*pgServer(nil), p.pgs...)
	p.closed = true
	p.mu.Unlock()
	errs := host.StopAll(ctx, insts)
	// Databases after the services: a service stopping gracefully may
	// still write.
	for _, s := range pgs {
		errs = append(errs, s.stop(ctx))
	}
	errs = append(errs, p.closeStore())
	return errors.Join(errs...)
}

func (p *processProvider) logf(format string, args ...any) {
	if p.cfg.Log != nil {
		fmt.Fprint(p.cfg.Log, redact.String(fmt.Sprintf("  "+format+"\n", args...)))
	}
}

// childEnvKeys are the only variables of the harness's own environment a
// service started by the process provider inherits (when set): enough to
// find programs, a home, a temp dir and the locale. Anything else of the
// harness's (CI tokens, cloud credentials) stays out of scenario commands;
// a service that needs more gets it from the scenario's env.
var childEnvKeys = []string{"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL"}

// childEnv is a service's environment: childEnvKeys from the harness, the
// scenario's env, and PORT and HOST last, so a scenario cannot move a
// service off loopback: HOST is always 127.0.0.1, where the routers reach
// it and nothing outside the machine does.
func childEnv(scenarioEnv map[string]string, port int) []string {
	env := map[string]string{}
	for _, k := range childEnvKeys {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	for k, val := range scenarioEnv {
		env[k] = val
	}
	env["PORT"] = strconv.Itoa(port)
	env["HOST"] = "127.0.0.1"
	return host.EnvList(env)
}

// processInstance is one child process.
type processInstance struct {
	name, url string
	cmd       *exec.Cmd
	log       *os.File
	done      chan struct{}
	logDone   chan struct{} // the output copier has written everything; nil: no copier
	waitErr   error
	stopOnce  sync.Once
}

var _ provider.Instance = (*processInstance)(nil)

func (i *processInstance) Name() string { return i.name }
func (i *processInstance) URL() string  { return i.url }
func (i *processInstance) PID() int     { return i.cmd.Process.Pid }

func (i *processInstance) Alive() bool {
	select {
	case <-i.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL to the instance's process group.
func (i *processInstance) Kill() error { return i.signal(syscall.SIGKILL) }

// Pause freezes the instance's process group (SIGSTOP).
func (i *processInstance) Pause() error { return i.signal(syscall.SIGSTOP) }

// Resume thaws the instance's process group (SIGCONT).
func (i *processInstance) Resume() error { return i.signal(syscall.SIGCONT) }

func (i *processInstance) signal(sig syscall.Signal) error {
	if !i.Alive() {
		return nil // already gone: nothing to act on, nothing to undo
	}
	if err := syscall.Kill(-i.cmd.Process.Pid, sig); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("signal %v to %s: %w", sig, i.name, err)
	}
	return nil
}

func (i *processInstance) Stop(ctx context.Context) error {
	i.stopOnce.Do(func() {
		pgid := -i.cmd.Process.Pid
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		// A paused (SIGSTOPped) process cannot act on SIGTERM.
		_ = syscall.Kill(pgid, syscall.SIGCONT)
		t := time.NewTimer(host.StopGrace)
		defer t.Stop()
		select {
		case <-i.done:
		case <-t.C:
		case <-ctx.Done():
		}
		// Kill the whole group even after a clean exit: children of the
		// service must not outlive it.
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-i.done
		// The service's last lines reach its log before Stop returns,
		// unless something outside its group still holds the pipe.
		if i.logDone != nil {
			t := time.NewTimer(logDrainGrace)
			defer t.Stop()
			select {
			case <-i.logDone:
			case <-t.C:
			}
		}
	})
	return nil
}

// logDrainGrace bounds how long Stop waits for an instance's output to be
// copied to its log after the process group is gone.
const logDrainGrace = 2 * time.Second

// waitHealthy polls the health path until it answers 200, the process
// exits, or the deadline passes.
func waitHealthy(ctx context.Context, inst *processInstance, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := host.HealthClient()
	backoff := 10 * time.Millisecond
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, inst.url+path, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-inst.done:
			return fmt.Errorf("process exited: %v", inst.waitErr)
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("health answered %d", resp.StatusCode)
			}
			return fmt.Errorf("gave up after %s: %w", timeout, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 200*time.Millisecond)
	}
}
