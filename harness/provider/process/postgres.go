package process

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/provider/internal/host"
	"github.com/drillhq/drill/harness/redact"
	"github.com/drillhq/drill/harness/tcpproxy"
	"github.com/drillhq/drill/scenarios"
)

// pgServer is one PostgreSQL cluster the process provider runs for one
// scenario database, with the TCP proxy in front of it.
type pgServer struct {
	name     string
	dir      string // <TempDir>/pg-<name>: data/, the unix socket
	password string // the postgres superuser's, for this run only
	port     int
	cmd      *exec.Cmd
	logPath  string
	done     chan struct{}
	waitErr  error
	proxy    *tcpproxy.Proxy

	stopOnce sync.Once
	stopErr  error
}

// setup creates the cluster's directory (the postgres user's when drill
// runs as root), initialises the cluster with a password of the run's own
// and starts the server on a free loopback port.
func (s *pgServer) setup(ctx context.Context, cfg provider.Config, bin string, cred *syscall.Credential) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return &provider.EnvError{What: "create PostgreSQL directory", Err: err}
	}
	if cred != nil {
		if err := reachable(cfg.TempDir, s.dir); err != nil {
			return err
		}
		if err := os.Chown(s.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return &provider.EnvError{What: "hand " + s.dir + " to the postgres user", Err: err}
		}
	}
	data := filepath.Join(s.dir, "data")
	// A password of the run's own, not trust: on loopback, trust makes
	// every local user (and every process of the host) the cluster's
	// superuser, able to run programs as postgres (COPY … FROM PROGRAM).
	var err error
	if s.password, err = host.NewPGPassword(); err != nil {
		return &provider.EnvError{What: "generate the PostgreSQL password", Err: err}
	}
	if err := s.initdb(ctx, bin, data, cred); err != nil {
		return err
	}
	logDir := filepath.Join(cfg.RunDir, "logs")
	if cfg.RunDir == "" {
		logDir = s.dir // no run directory (tests): the log goes with the cluster
	}
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return &provider.EnvError{What: "create log dir", Err: err}
	}
	s.logPath = filepath.Join(logDir, "postgres-"+host.Sanitize(s.name)+".log")
	// A port from the kernel can be taken again before postgres binds it:
	// try a few.
	for attempt := 1; ; attempt++ {
		err := s.run(ctx, bin, data, cred)
		if err == nil {
			return nil
		}
		if attempt == 3 || ctx.Err() != nil || !strings.Contains(readTail(s.logPath), "could not bind") {
			return err
		}
		s.reset()
	}
}

// pgCredential is how the server runs: as root, initdb and postgres
// refuse to start, so they run as the `postgres` user (what `runuser -u
// postgres --` does, without the extra runuser process in between: the
// pid drill tracks is the postmaster's own, and the kernel's
// parent-death signal, which a credential change inside runuser would
// clear, still stops the server if the harness is killed).
func pgCredential() (*syscall.Credential, *provider.EnvError) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, &provider.EnvError{What: "running as root, and there is no `postgres` user to run PostgreSQL as (initdb and postgres refuse root)",
			Hint: "install PostgreSQL from the distribution (apt-get install -y postgresql creates the user), or run drill as an unprivileged user"}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// reachable makes sure the server's user can enter dir: the run's temp
// dir gets search (not read) permission for others; a parent it cannot
// enter is an environment problem drill does not fix behind your back.
func reachable(tempDir, dir string) error {
	if st, err := os.Stat(tempDir); err == nil && st.Mode().Perm()&0o011 != 0o011 {
		if err := os.Chmod(tempDir, st.Mode().Perm()|0o011); err != nil {
			return &provider.EnvError{What: "let PostgreSQL's user enter " + tempDir, Err: err}
		}
	}
	for p := filepath.Dir(tempDir); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err == nil && st.Mode().Perm()&0o001 == 0 {
			return &provider.EnvError{What: fmt.Sprintf("PostgreSQL runs as user postgres, which cannot enter %s (mode %v) on the way to %s", p, st.Mode().Perm(), dir),
				Hint: "point TMPDIR at a directory every user can traverse (e.g. /tmp)"}
		}
		if parent := filepath.Dir(p); parent == p {
			return nil
		}
	}
}

// startPostgres initialises a throwaway cluster in the run's temp dir,
// starts it on a free loopback port, waits until it accepts connections,
// creates the scenario's database and puts a TCP proxy in front of it.
func startPostgres(ctx context.Context, cfg provider.Config, db *scenarios.Database, logf func(string, ...any)) (*pgServer, *provider.DatabaseHandle, error) {
	start := time.Now()
	bin, err := FindPostgres()
	if err != nil {
		return nil, nil, err
	}
	cred, envErr := pgCredential()
	if envErr != nil {
		return nil, nil, envErr
	}
	ctx, cancel := context.WithTimeout(ctx, host.PGStartTimeout)
	defer cancel()
	s := &pgServer{name: db.Name, dir: filepath.Join(cfg.TempDir, "pg-"+host.Sanitize(db.Name)), done: make(chan struct{})}
	// From here on every failure stops what was started and removes the
	// directory: a failed start leaves nothing behind either.
	fail := func(err error) (*pgServer, *provider.DatabaseHandle, error) {
		_ = s.stop(context.Background())
		return nil, nil, err
	}
	if err := s.setup(ctx, cfg, bin, cred); err != nil {
		return fail(err)
	}
	direct := fmt.Sprintf("127.0.0.1:%d", s.port)
	if err := s.createDatabase(ctx, direct, db.Name); err != nil {
		return fail(err)
	}
	proxy, err := tcpproxy.New(direct)
	if err != nil {
		return fail(&provider.EnvError{What: "start the TCP proxy for database " + db.Name, Err: err})
	}
	s.proxy = proxy
	h := &provider.DatabaseHandle{
		Name: db.Name, Engine: db.Engine,
		// Services reach the database through the proxy, so connection
		// faults act on them; the harness's migrations and checks
		// (MigrateURL, DSN) go to the server directly, so a fault can
		// never break the verification of its own drill.
		URL:        host.PGURL(proxy.Addr(), db.Name, s.password),
		MigrateURL: host.PGURL(direct, db.Name, s.password) + "&x-multi-statement=false",
		DriverName: "pgx",
		DSN:        host.PGURL(direct, db.Name, s.password),
		PID:        s.cmd.Process.Pid,
		Proxy:      proxy,
	}
	logf("started PostgreSQL %s (pid %d) on %s, proxy %s, in %s", db.Name, h.PID, direct, proxy.Addr(),
		time.Since(start).Round(10*time.Millisecond))
	return s, h, nil
}

// initdb creates the cluster in data with SCRAM authentication for every
// connection and s.password for the postgres superuser. The password goes
// through a file only the server's user can read (initdb takes it no other
// way but a terminal prompt), removed as soon as initdb has read it.
// --no-sync: a drill's cluster lives for minutes and is deleted
// afterwards; nothing in it needs to survive a crash.
func (s *pgServer) initdb(ctx context.Context, bin, data string, cred *syscall.Credential) error {
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.password+"\n"), 0o600); err != nil {
		return &provider.EnvError{What: "write the PostgreSQL password file", Err: err}
	}
	defer os.Remove(pwfile)
	if cred != nil {
		if err := os.Chown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			return &provider.EnvError{What: "hand the password file to the postgres user", Err: err}
		}
	}
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=scram-sha-256", "--pwfile="+pwfile, "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	initdb.Stdout, initdb.Stderr = &out, &out
	if err := initdb.Run(); err != nil {
		return &provider.EnvError{What: "initdb " + data, Err: err, Hint: "initdb said:\n" + redact.String(host.Tail(out.String(), 15))}
	}
	return nil
}

// run starts the server on a fresh free port and waits until it accepts
// connections.
func (s *pgServer) run(ctx context.Context, bin, data string, cred *syscall.Credential) error {
	port, err := host.FreePort()
	if err != nil {
		return &provider.EnvError{What: "find a free port on 127.0.0.1", Err: err}
	}
	s.port = port
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return &provider.EnvError{What: "open PostgreSQL log", Err: err}
	}
	sock := s.dir
	if len(sock)+len("/.s.PGSQL.65535") >= 104 {
		sock = "" // too long for a unix socket path: TCP only
	}
	// fsync and full_page_writes off: they only protect against an OS
	// crash or power loss, which a cluster thrown away after the drill
	// never has to survive, and they cost disk flushes (a drill measures
	// the service, not the disk). synchronous_commit stays on: a commit
	// is in the OS's hands before the client hears of it, so even a
	// killed postgres loses no acknowledged write, and the ledger check
	// blames lost writes on the system under test, never on this setup.
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+sock,
		"-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "logging_collector=off")
	// Own process group so a stop reaches every process of the server, and
	// a kill from the kernel if the harness dies without cleaning up.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return &provider.EnvError{What: "start postgres", Err: err}
	}
	done := s.done
	go func() {
		s.waitErr = s.cmd.Wait()
		logFile.Close()
		close(done)
	}()
	if err := s.waitReady(ctx, fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		return &provider.EnvError{What: fmt.Sprintf("PostgreSQL did not accept connections on 127.0.0.1:%d", port), Err: err,
			Hint: "its log (" + s.logPath + ") ends with:\n" + redact.String(host.Tail(readTail(s.logPath), 15))}
	}
	return nil
}

// reset forgets a server that exited before it was ready, for a retry.
func (s *pgServer) reset() {
	<-s.done
	s.cmd, s.done = nil, make(chan struct{})
}

// waitReady polls the server with a connection until it answers, the
// process exits, or ctx ends.
func (s *pgServer) waitReady(ctx context.Context, addr string) error {
	db, err := sql.Open("pgx", host.PGURL(addr, "postgres", s.password)+"&connect_timeout=1")
	if err != nil {
		return err
	}
	defer db.Close()
	backoff := 10 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := db.PingContext(pctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("postgres exited: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("gave up: %w", err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 100*time.Millisecond)
	}
}

func (s *pgServer) createDatabase(ctx context.Context, addr, name string) error {
	return host.CreateDatabase(ctx, addr, s.password, name)
}

// stop closes the proxy, shuts the server down and removes its directory.
// It is idempotent.
//
// Shutdown is SIGINT to the postmaster, which is exactly what `pg_ctl
// stop -m fast` sends (pg_ctl would refuse to run as root, and it only
// signals and waits): sessions are ended, the postmaster exits. If it has
// not within host.PGStopGrace, its process group and its children (backends
// run in sessions of their own) are killed.
func (s *pgServer) stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		var errs []error
		if s.proxy != nil {
			errs = append(errs, s.proxy.Close())
		}
		if s.cmd != nil && s.cmd.Process != nil && !s.exited() {
			// Signals only while the process is unreaped: its pid cannot
			// have been reused by another process yet.
			pid := s.cmd.Process.Pid
			_ = syscall.Kill(pid, syscall.SIGINT)
			t := time.NewTimer(host.PGStopGrace)
			select {
			case <-s.done:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
			select {
			case <-s.done:
			default:
				for _, child := range childrenOf(pid) {
					_ = syscall.Kill(child, syscall.SIGKILL)
				}
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				<-s.done
				errs = append(errs, fmt.Errorf("postgres %s did not shut down within %s: killed", s.name, host.PGStopGrace))
			}
		}
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", s.dir, err))
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

func (s *pgServer) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// childrenOf lists the processes whose parent is pid (from /proc).
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		rest := stat[bytes.LastIndexByte(stat, ')')+1:]
		f := strings.Fields(string(rest))
		if len(f) > 1 {
			if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
				out = append(out, child)
			}
		}
	}
	return out
}

func readTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	return string(b)
}

// FindPostgres returns the directory holding PostgreSQL's initdb and
// postgres (see PostgresBinEnv), or a *provider.EnvError saying how to get
// them. Tests that need a local PostgreSQL skip with its message.
func FindPostgres() (string, error) { return host.FindPostgres() }

// PostgresBinEnv names the variable that points drill at PostgreSQL's
// binaries when they are not in a standard place.
const PostgresBinEnv = host.PostgresBinEnv
