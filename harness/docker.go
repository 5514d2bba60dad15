package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"

	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/redact"
	"github.com/drillhq/drill/harness/tcpproxy"
	"github.com/drillhq/drill/injectors"
	"github.com/drillhq/drill/scenarios"
)

func init() {
	provider.Register("docker", "builds services' Dockerfiles into local images (a scenario's image: is pulled only where the engine can) and runs them with testcontainers-go on a Docker network of the run's own; PostgreSQL from an image built from this machine's binaries",
		func(cfg provider.Config) (provider.Provider, error) { return newDockerProvider(cfg), nil })
}

// RunLabel is the label every container and network of a run carries, with
// the run id as value: `drill cleanup` and Close find leftovers by it.
const RunLabel = "drill.run"

// containerPort is where a service listens inside its container ($PORT).
const containerPort = "8080/tcp"

// postgresImageDir is the build folder of the default PostgreSQL image,
// looked up like a service's `build:` path.
const postgresImageDir = "fixtures/postgres"

// dockerProvider runs every instance and database as a container on one
// bridge network per run. The harness's routers and database proxies stay
// on 127.0.0.1; containers reach them through forwarders listening on the
// network's gateway address (the host's side of the run's bridge), so
// service-to-service traffic still passes the routers (faults, splits,
// metrics) and never leaves the drill's own network.
type dockerProvider struct {
	cfg provider.Config

	mu         sync.Mutex
	net        *testcontainers.DockerNetwork
	gateway    string
	images     map[string]string // build dir or image name -> local tag
	instances  []*dockerInstance
	databases  []testcontainers.Container
	proxies    []*tcpproxy.Proxy
	forwarders map[string]*forwarder // 127.0.0.1 address -> its gateway entry
	sqlite     bool                  // a SQLite database lives in TempDir
	closed     bool

	// allowed are the loopback addresses (127.0.0.1:port) the harness
	// named as its own (routers' caller entries): with the provider's own
	// database proxies, the only ones forwarded into the run's network.
	allowed map[string]bool
}

func newDockerProvider(cfg provider.Config) *dockerProvider {
	return &dockerProvider{cfg: cfg, images: map[string]string{}, forwarders: map[string]*forwarder{}}
}

var _ provider.Provider = (*dockerProvider)(nil)

func (p *dockerProvider) labels(extra ...string) map[string]string {
	// The harness's identity (host, pid, start time) lets `drill cleanup`
	// tell a live run's containers from a dead one's without its journal,
	// and this host's runs from those of others sharing the engine.
	l := ownerLabels(os.Getpid())
	l[RunLabel] = p.cfg.RunID
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return l
}

func (p *dockerProvider) Build(ctx context.Context, sc *scenarios.Scenario) error {
	if _, err := dockerClient(); err != nil {
		return err
	}
	for _, db := range sc.Environment.Databases {
		if db.Engine == scenarios.EnginePostgres {
			if _, err := p.databaseImage(ctx, db); err != nil {
				return err
			}
		}
	}
	for _, s := range sc.Environment.Services {
		for _, v := range s.Versions {
			if _, err := p.serviceImage(ctx, s, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// serviceImage is the image of a version: its `image:`, or the locally
// built image of its `build:` directory.
func (p *dockerProvider) serviceImage(ctx context.Context, s *scenarios.Service, v *scenarios.Version) (string, error) {
	prog := s.Program(v)
	switch {
	case prog.Image != "":
		return p.namedImage(ctx, prog.Image, "give the service build: DIR (a folder with a Dockerfile) to build it here")
	case prog.Build == "":
		return "", &provider.EnvError{What: fmt.Sprintf("service %q version %q has neither build nor image", s.Name, v.Name),
			Hint: "the docker provider runs `build:` directories (with a Dockerfile) or `image:` names; `command:` needs --provider process"}
	}
	return p.buildImage(ctx, s.Name, prog.Build)
}

func (p *dockerProvider) databaseImage(ctx context.Context, db *scenarios.Database) (string, error) {
	if db.Image != "" {
		return p.namedImage(ctx, db.Image, "leave image out to use drill/postgres, built here from this machine's PostgreSQL (make images)")
	}
	return p.buildImage(ctx, "postgres", postgresImageDir)
}

// namedImage makes sure a scenario's `image:` is on the engine: used as it
// is when present, else pulled — which only works where the engine
// reaches a registry; when it cannot, the error says so and how to build
// a local one instead (hint).
func (p *dockerProvider) namedImage(ctx context.Context, name, hint string) (string, error) {
	p.mu.Lock()
	_, ok := p.images[name]
	p.mu.Unlock()
	if ok {
		return name, nil
	}
	cli, err := dockerClient()
	if err != nil {
		return "", err
	}
	if _, err := cli.ImageInspect(ctx, name); err != nil {
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, imagePullTimeout)
		defer cancel()
		res, perr := cli.ImagePull(pctx, name, client.ImagePullOptions{})
		if perr == nil {
			perr = res.Wait(pctx)
			res.Close()
		}
		if perr != nil {
			return "", &provider.EnvError{What: fmt.Sprintf("image %q is not on this machine, and the Docker engine could not pull it", name), Err: perr,
				Hint: "drill never needs a registry for its own images; " + hint}
		}
		p.logf("image %s pulled in %s", name, time.Since(start).Round(100*time.Millisecond))
	}
	p.mu.Lock()
	p.images[name] = name
	p.mu.Unlock()
	return name, nil
}

// imagePullTimeout bounds pulling a scenario's named image.
const imagePullTimeout = 5 * time.Minute

func (p *dockerProvider) buildImage(ctx context.Context, name, dir string) (string, error) {
	p.mu.Lock()
	tag, ok := p.images[dir]
	p.mu.Unlock()
	if ok {
		return tag, nil
	}
	abs, err := (&processProvider{cfg: p.cfg}).resolveDir(dir)
	if err != nil {
		return "", err
	}
	start := time.Now()
	tag, err = ensureImage(ctx, name, abs)
	if err != nil {
		return "", err
	}
	p.logf("image %s ready in %s", tag, time.Since(start).Round(100*time.Millisecond))
	p.mu.Lock()
	p.images[dir] = tag
	p.mu.Unlock()
	return tag, nil
}

// network creates the run's network on first use and learns its gateway.
func (p *dockerProvider) network(ctx context.Context) (*testcontainers.DockerNetwork, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, "", errors.New("provider closed")
	}
	if p.net != nil {
		return p.net, p.gateway, nil
	}
	cli, err := dockerClient()
	if err != nil {
		return nil, "", err
	}
	nw, err := tcnetwork.New(ctx, tcnetwork.WithDriver("bridge"), tcnetwork.WithLabels(p.labels()))
	if err != nil {
		return nil, "", &provider.EnvError{What: "create the run's Docker network", Err: err}
	}
	res, err := cli.NetworkInspect(ctx, nw.ID, client.NetworkInspectOptions{})
	if err != nil {
		_ = nw.Remove(context.WithoutCancel(ctx))
		return nil, "", &provider.EnvError{What: "inspect the run's Docker network", Err: err}
	}
	var gw string
	for _, c := range res.Network.IPAM.Config {
		if c.Gateway.Is4() {
			gw = c.Gateway.String()
			break
		}
	}
	if gw == "" {
		_ = nw.Remove(context.WithoutCancel(ctx))
		return nil, "", &provider.EnvError{What: "the run's Docker network " + nw.Name + " has no IPv4 gateway"}
	}
	p.net, p.gateway = nw, gw
	p.logf("network %s (gateway %s)", nw.Name, gw)
	return nw, gw, nil
}

func (p *dockerProvider) StartDatabase(ctx context.Context, db *scenarios.Database) (*provider.DatabaseHandle, error) {
	switch db.Engine {
	case scenarios.EnginePostgres:
	case scenarios.EngineSQLite:
		return p.startSQLite(ctx, db)
	default:
		return nil, &provider.EnvError{What: fmt.Sprintf("database %q: engine %q is not supported by the docker provider", db.Name, db.Engine),
			Hint: "use engine: postgres or sqlite"}
	}
	start := time.Now()
	image, err := p.databaseImage(ctx, db)
	if err != nil {
		return nil, err
	}
	nw, _, err := p.network(ctx)
	if err != nil {
		return nil, err
	}
	password, err := newPGPassword()
	if err != nil {
		return nil, &provider.EnvError{What: "generate the PostgreSQL password", Err: err}
	}
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{Started: true,
		ContainerRequest: testcontainers.ContainerRequest{
			Image: image,
			// The run's own password, never trust: the server is published
			// on the host's loopback, where every local user could reach it.
			// Both are the official image's variables, so a scenario's own
			// `image:` takes them too; ours sets the password at start (see
			// fixtures/postgres/start.sh).
			Env:            map[string]string{"POSTGRES_HOST_AUTH_METHOD": "scram-sha-256", "POSTGRES_PASSWORD": password},
			ExposedPorts:   []string{"5432/tcp"},
			Labels:         p.labels("drill.database", db.Name),
			Networks:       []string{nw.Name},
			NetworkAliases: map[string][]string{nw.Name: {db.Name}},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.PortBindings = loopbackBindings("5432/tcp")
			},
		}})
	if ctr != nil {
		if !p.track(func() { p.databases = append(p.databases, ctr) }) {
			_ = ctr.Terminate(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("database %q: provider closed", db.Name)
		}
	}
	if err != nil {
		return nil, &provider.EnvError{What: fmt.Sprintf("start PostgreSQL container for %q (%s)", db.Name, image), Err: err}
	}
	port, err := ctr.MappedPort(ctx, "5432/tcp")
	if err != nil {
		return nil, &provider.EnvError{What: "published port of PostgreSQL " + db.Name, Err: err}
	}
	direct := fmt.Sprintf("127.0.0.1:%d", port.Num())
	srv := &pgServer{name: db.Name, password: password}
	err = pollUntil(ctx, pgStartTimeout, func(ctx context.Context) error {
		if st, err := ctr.State(ctx); err == nil && !st.Running {
			return fmt.Errorf("container exited with code %d", st.ExitCode)
		}
		return pingPostgres(ctx, direct, password)
	})
	if err != nil {
		return nil, &provider.EnvError{What: fmt.Sprintf("PostgreSQL container %q did not accept connections on %s", db.Name, direct), Err: err,
			Hint: "its log ends with:\n" + tail(redact.String(containerLog(ctx, ctr)), 15)}
	}
	if err := srv.createDatabase(ctx, direct, db.Name); err != nil {
		return nil, err
	}
	proxy, err := tcpproxy.New(direct)
	if err != nil {
		return nil, &provider.EnvError{What: "start the TCP proxy for database " + db.Name, Err: err}
	}
	if !p.track(func() { p.proxies = append(p.proxies, proxy) }) {
		proxy.Close()
		return nil, fmt.Errorf("database %q: provider closed", db.Name)
	}
	p.logf("started PostgreSQL %s in container %s on %s, proxy %s, in %s", db.Name, shortID(ctr.GetContainerID()), direct, proxy.Addr(),
		time.Since(start).Round(10*time.Millisecond))
	return &provider.DatabaseHandle{
		Name: db.Name, Engine: db.Engine,
		// As on the process provider: services go through the proxy (the
		// fault point), migrations and checks straight to the server.
		URL:        pgURL(proxy.Addr(), db.Name, password),
		MigrateURL: pgURL(direct, db.Name, password) + "&x-multi-statement=false",
		DriverName: "pgx",
		DSN:        pgURL(direct, db.Name, password),
		Proxy:      proxy,
	}, nil
}

// startSQLite hands out the same file as the process provider does, in
// the run's TempDir. Service containers get that directory bind-mounted at
// the same absolute path (see sqliteMount), so `sqlite:///<tmp>/<db>.sqlite`
// names one file inside and outside: the harness migrates and checks it
// through the host path, and SQLite's WAL locks (fcntl locks and the
// mmapped -shm file) work across containers because they share the kernel.
func (p *dockerProvider) startSQLite(ctx context.Context, db *scenarios.Database) (*provider.DatabaseHandle, error) {
	if p.cfg.TempDir == "" || !filepath.IsAbs(p.cfg.TempDir) {
		return nil, &provider.EnvError{What: fmt.Sprintf("database %q: SQLite on the docker provider needs an absolute TempDir, got %q", db.Name, p.cfg.TempDir)}
	}
	h, err := (&processProvider{cfg: p.cfg}).StartDatabase(ctx, db)
	if err != nil {
		return nil, err
	}
	if !p.track(func() { p.sqlite = true }) {
		return nil, fmt.Errorf("database %q: provider closed", db.Name)
	}
	p.logf("SQLite %s at %s, shared with containers by a bind mount of %s", db.Name, strings.TrimPrefix(h.URL, "sqlite://"), p.cfg.TempDir)
	return h, nil
}

// sqliteMount is what a service container needs to share the run's
// SQLite files: the TempDir bind-mounted at its own path, and the
// container run as the harness's uid:gid, the owner of the directory (a
// MkdirTemp 0700 one) and of the files the migrations create, so the
// container can write the database and create its -wal and -shm files
// whatever USER its image names. Empty when the run has no SQLite database.
func (p *dockerProvider) sqliteMount() (bind, user string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.sqlite {
		return "", ""
	}
	return p.cfg.TempDir + ":" + p.cfg.TempDir, fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())
}

func pingPostgres(ctx context.Context, addr, password string) error {
	db, err := dbcheck.OpenDB(&provider.DatabaseHandle{DriverName: "pgx", DSN: pgURL(addr, "postgres", password) + "&connect_timeout=1"})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// track runs add under the lock unless Close has begun; false means the
// caller must undo what it started itself.
func (p *dockerProvider) track(add func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	add()
	return true
}

// loopbackAddr matches loopback addresses in a service's environment:
// inside a container, 127.0.0.1 is the container itself, so each one
// must become a forwarder or stay unreachable.
var loopbackAddr = regexp.MustCompile(`\b(?:127\.0\.0\.1|localhost):(\d{1,5})\b`)

// forwardAllower is a provider.Provider that forwards only the loopback listeners
// the harness names as its own: the harness calls AllowForward with every
// router entry it hands a service (resolveFor). Database proxies are the
// provider's own and need no naming.
type forwardAllower interface {
	AllowForward(url string)
}

var _ forwardAllower = (*dockerProvider)(nil)

// AllowForward lets containers reach every 127.0.0.1:<port> or
// localhost:<port> in url (a router's caller entry) through a forwarder.
// Without it, containerEnv refuses the address: a forwarder on the
// bridge gateway would otherwise hand containers any service on the
// host's loopback (the Docker API on localhost:2375, the host's own
// PostgreSQL on localhost:5432).
func (p *dockerProvider) AllowForward(url string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.allowed == nil {
		p.allowed = map[string]bool{}
	}
	for _, m := range loopbackAddr.FindAllStringSubmatch(url, -1) {
		p.allowed["127.0.0.1:"+m[1]] = true
	}
}

// forwardable reports whether target (127.0.0.1:<port>) is one of the
// harness's own listeners: a router entry named by AllowForward, or one of
// the provider's database proxies. p.mu must be held.
func (p *dockerProvider) forwardable(target string) bool {
	if p.allowed[target] {
		return true
	}
	for _, px := range p.proxies {
		if px.Addr() == target {
			return true
		}
	}
	return false
}

// containerEnv rewrites every 127.0.0.1:<port> (or localhost:<port>) in env
// to a forwarder on the run network's gateway that leads to it: inside a
// container, 127.0.0.1 is the container itself. Only the harness's own
// listeners are forwarded (see forwardable); env naming any other loopback
// port is an EnvError, and then no forwarder is opened at all.
func (p *dockerProvider) containerEnv(gateway string, env map[string]string) (map[string]string, error) {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same error for the same env
	p.mu.Lock()
	for _, k := range keys {
		for _, m := range loopbackAddr.FindAllStringSubmatch(env[k], -1) {
			if !p.forwardable("127.0.0.1:" + m[1]) {
				p.mu.Unlock()
				// The key and the address only: the value may hold a secret.
				return nil, &provider.EnvError{What: fmt.Sprintf("env %s names %s, which is not one of the drill's routers or database proxies: "+
					"the docker provider forwards only those into the run's network", k, m[0]),
					Hint: "reach services through ${services.NAME.url} and databases through ${databases.NAME.url}; " +
						"other host services are not the drill's to expose to containers"}
			}
		}
	}
	p.mu.Unlock()
	out := make(map[string]string, len(env)+2)
	var firstErr error
	for k, v := range env {
		out[k] = loopbackAddr.ReplaceAllStringFunc(v, func(m string) string {
			port := loopbackAddr.FindStringSubmatch(m)[1]
			fw, err := p.forwarderTo(gateway, "127.0.0.1:"+port)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return m
			}
			return fw.addr
		})
	}
	out["PORT"] = strconv.Itoa(int(network.MustParsePort(containerPort).Num()))
	out["HOST"] = "0.0.0.0"
	return out, firstErr
}

// forwarderTo returns the forwarder to target, opening it on first use. It
// refuses a target that is not the harness's own (see forwardable), also
// for callers other than containerEnv.
func (p *dockerProvider) forwarderTo(gateway, target string) (*forwarder, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("provider closed")
	}
	if fw, ok := p.forwarders[target]; ok {
		return fw, nil
	}
	if !p.forwardable(target) {
		return nil, &provider.EnvError{What: target + " is not one of the drill's routers or database proxies: not forwarded into the run's network"}
	}
	fw, err := newForwarder(net.JoinHostPort(gateway, "0"), target)
	if err != nil {
		return nil, &provider.EnvError{What: "listen on the run network's gateway " + gateway + " for " + target, Err: err}
	}
	p.forwarders[target] = fw
	return fw, nil
}

func (p *dockerProvider) StartInstance(ctx context.Context, spec provider.InstanceSpec) (provider.Instance, error) {
	s, v := spec.Service, spec.Version
	name := s.Name + "-" + v.Name
	image, err := p.serviceImage(ctx, s, v)
	if err != nil {
		return nil, err
	}
	nw, gateway, err := p.network(ctx)
	if err != nil {
		return nil, err
	}
	env, err := p.containerEnv(gateway, spec.Env)
	if err != nil {
		return nil, err
	}
	cli, err := dockerClient()
	if err != nil {
		return nil, err
	}
	bind, user := p.sqliteMount()
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{Started: true,
		ContainerRequest: testcontainers.ContainerRequest{
			Image: image, Env: env,
			ConfigModifier: func(c *container.Config) {
				if user != "" {
					c.User = user
				}
			},
			ExposedPorts:   []string{containerPort},
			Labels:         p.labels("drill.service", s.Name, "drill.version", v.Name),
			Networks:       []string{nw.Name},
			NetworkAliases: map[string][]string{nw.Name: {name}},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.PortBindings = loopbackBindings(containerPort)
				// docker-init as PID 1 (from the engine's host, not an image):
				// it forwards SIGTERM, so a stop is graceful even for a
				// program that installs no signal handler.
				init := true
				hc.Init = &init
				if bind != "" {
					hc.Binds = append(hc.Binds, bind)
				}
			},
		}})
	var inst *dockerInstance
	if ctr != nil {
		inst = &dockerInstance{name: name, ctr: ctr, cli: cli, logPath: p.logPath(name + ".log"), logf: p.logf}
		if !p.track(func() { p.instances = append(p.instances, inst) }) {
			_ = inst.Stop(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("start %s: provider closed", name)
		}
	}
	if err != nil {
		return nil, &provider.EnvError{What: fmt.Sprintf("start container %s (%s)", name, image), Err: err}
	}
	port, err := ctr.MappedPort(ctx, containerPort)
	if err != nil {
		return nil, &provider.EnvError{What: "published port of " + name, Err: err}
	}
	inst.url = fmt.Sprintf("http://127.0.0.1:%d", port.Num())
	health := firstNonEmpty(s.Health, "/healthz")
	if err := waitContainerHealthy(ctx, ctr, inst.url+health, healthTimeout); err != nil {
		logText := redact.String(containerLog(ctx, ctr))
		_ = inst.Stop(context.WithoutCancel(ctx))
		return nil, &provider.EnvError{What: fmt.Sprintf("%s did not become healthy on %s%s", name, inst.url, health), Err: err,
			Hint: "its container log ends with:\n" + tail(logText, 15)}
	}
	// The engine's first stats sample takes up to a second: start the
	// stream now, so the first resources tick finds one.
	inst.statsOnce.Do(inst.startStats)
	p.logf("started %s in container %s on %s", name, shortID(ctr.GetContainerID()), inst.url)
	return inst, nil
}

// waitContainerHealthy polls url until it answers 200, the container
// stops running, or timeout passes.
func waitContainerHealthy(ctx context.Context, ctr testcontainers.Container, url string, timeout time.Duration) error {
	// Never follows a redirect: a 3xx is not healthy (newHealthClient).
	client := newHealthClient()
	return pollUntil(ctx, timeout, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("health answered %d", resp.StatusCode)
		}
		if st, serr := ctr.State(ctx); serr == nil && !st.Running {
			return stopPolling{fmt.Errorf("container exited with code %d", st.ExitCode)}
		}
		return err
	})
}

func (p *dockerProvider) Close(ctx context.Context) error {
	p.mu.Lock()
	insts := append([]*dockerInstance(nil), p.instances...)
	dbs := append([]testcontainers.Container(nil), p.databases...)
	proxies := append([]*tcpproxy.Proxy(nil), p.proxies...)
	fws := p.forwarders
	p.forwarders = map[string]*forwarder{}
	nw := p.net
	p.closed = true
	p.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(insts))
	for i, in := range insts {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = in.Stop(ctx) }()
	}
	wg.Wait()
	// Databases after the services: a service stopping gracefully may
	// still write.
	for _, c := range dbs {
		p.saveDatabaseLog(ctx, c)
		if err := c.Terminate(ctx, testcontainers.StopTimeout(pgStopGrace)); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("remove database container: %w", err))
		}
	}
	for _, px := range proxies {
		errs = append(errs, px.Close())
	}
	for _, fw := range fws {
		fw.close()
	}
	// Then whatever else carries the run's label (a start cut short, a
	// container created but never tracked).
	if nw != nil {
		if err := nw.Remove(ctx); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", nw.Name, err))
		}
	}
	if _, err := RemoveRun(ctx, p.cfg.RunID); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (p *dockerProvider) logf(format string, args ...any) {
	if p.cfg.Log != nil {
		fmt.Fprintf(p.cfg.Log, "  "+format+"\n", args...)
	}
}

// dockerInstance is one service container.
type dockerInstance struct {
	name, url string
	ctr       testcontainers.Container
	cli       client.APIClient
	stopOnce  sync.Once
	stopErr   error
	// logPath is where Stop saves the container's output before removing
	// it ("" for none); logf reports a log that could not be saved.
	logPath string
	logf    func(format string, args ...any)

	// Resource usage: a stats stream read from the container's start on
	// (the engine publishes one sample a second; a one-shot call waits
	// for the next publication, up to a second per container and tick).
	// Samples so lag the tick by up to a second.
	statsOnce   sync.Once
	statsCancel context.CancelFunc
	statsDone   chan struct{}
	statsFirst  chan struct{} // closed at the first sample or the stream's end
	usageMu     sync.Mutex
	last        *container.StatsResponse // newest sample of the stream
	prevCPU     uint64                   // cpu_stats.cpu_usage.total_usage (ns) at prevRead
	prevRead    time.Time                // the engine's timestamp of that reading
	prevOut     provider.ResourceSample
}

var _ provider.UsageReporter = (*dockerInstance)(nil)

func (i *dockerInstance) startStats() {
	ctx, cancel := context.WithCancel(context.Background())
	i.statsCancel = cancel
	i.statsDone = make(chan struct{})
	i.statsFirst = make(chan struct{})
	go func() {
		defer close(i.statsDone)
		var first sync.Once
		defer first.Do(func() { close(i.statsFirst) })
		res, err := i.cli.ContainerStats(ctx, i.ctr.GetContainerID(), client.ContainerStatsOptions{Stream: true})
		if err != nil {
			return
		}
		defer res.Body.Close()
		dec := json.NewDecoder(res.Body)
		for {
			var st container.StatsResponse
			if err := dec.Decode(&st); err != nil {
				return
			}
			i.usageMu.Lock()
			i.last = &st
			i.usageMu.Unlock()
			first.Do(func() { close(i.statsFirst) })
		}
	}()
}

// awaitStats starts the stats stream if it is not running and waits for
// its first sample; errNoProcess once the instance is stopped.
func (i *dockerInstance) awaitStats(ctx context.Context) error {
	i.statsOnce.Do(i.startStats)
	if i.statsFirst == nil {
		return errNoProcess // stopped before any stream started
	}
	select {
	case <-i.statsFirst:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(3 * time.Second):
		return fmt.Errorf("stats of %s: no sample in 3s", i.name)
	}
}

func (i *dockerInstance) stopStats() {
	i.statsOnce.Do(func() {}) // no stream after Stop
	if i.statsCancel != nil {
		i.statsCancel()
		<-i.statsDone
	}
}

// Usage is the container's usage from the engine's cgroup counters, read
// from a stats stream: CPU is the delta of cpu_stats.cpu_usage.total_usage
// between the newest sample and the one the previous call used, over the
// delta of the engine's read timestamps, in cores; RSS is what `docker
// stats` shows as memory usage, the cgroup's usage less its inactive page
// cache (inactive_file on cgroup v2, total_inactive_file on v1). The first
// call has no CPU value (CPUOK false); a call that finds no newer sample
// than the previous one repeats its answer.
func (i *dockerInstance) Usage(ctx context.Context) (provider.ResourceSample, error) {
	if err := i.awaitStats(ctx); err != nil {
		return provider.ResourceSample{}, err
	}
	i.usageMu.Lock()
	defer i.usageMu.Unlock()
	st := i.last
	// A stopped container streams empty stats.
	if st == nil || st.Read.Year() < 2000 || st.MemoryStats.Usage == 0 {
		return provider.ResourceSample{}, errNoProcess
	}
	if st.Read.Equal(i.prevRead) {
		return i.prevOut, nil
	}
	rss := float64(st.MemoryStats.Usage)
	for _, k := range []string{"inactive_file", "total_inactive_file"} {
		if v, ok := st.MemoryStats.Stats[k]; ok && v < st.MemoryStats.Usage {
			rss = float64(st.MemoryStats.Usage - v)
			break
		}
	}
	out := provider.ResourceSample{At: time.Now(), RSS: rss}
	cpu := st.CPUStats.CPUUsage.TotalUsage
	if !i.prevRead.IsZero() && cpu >= i.prevCPU {
		if wall := st.Read.Sub(i.prevRead); wall > 0 {
			out.CPU, out.CPUOK = float64(cpu-i.prevCPU)/float64(wall.Nanoseconds()), true
		}
	}
	i.prevCPU, i.prevRead, i.prevOut = cpu, st.Read, out
	return out, nil
}

func (i *dockerInstance) Name() string { return i.name }
func (i *dockerInstance) URL() string  { return i.url }

// PID is 0: the service is not a child process of the harness.
func (i *dockerInstance) PID() int { return 0 }

func (i *dockerInstance) Alive() bool {
	st, err := i.ctr.State(context.Background())
	return err == nil && st.Running
}

// Kill is `docker kill` (SIGKILL to the container).
func (i *dockerInstance) Kill() error {
	if !i.Alive() {
		return nil // already gone: nothing to act on, nothing to undo
	}
	_, err := i.cli.ContainerKill(context.Background(), i.ctr.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"})
	return i.wrap("kill", err)
}

// Pause is `docker pause` (the cgroup freezer).
func (i *dockerInstance) Pause() error {
	if !i.Alive() {
		return nil
	}
	_, err := i.cli.ContainerPause(context.Background(), i.ctr.GetContainerID(), client.ContainerPauseOptions{})
	return i.wrap("pause", err)
}

// Resume is `docker unpause`.
func (i *dockerInstance) Resume() error {
	st, err := i.ctr.State(context.Background())
	if err != nil || !st.Paused {
		return nil // not paused (or gone): nothing to undo
	}
	_, err = i.cli.ContainerUnpause(context.Background(), i.ctr.GetContainerID(), client.ContainerUnpauseOptions{})
	return i.wrap("unpause", err)
}

var _ injectors.CPUCapper = (*dockerInstance)(nil)

// CapCPU sets the container's CFS quota (`docker update --cpus`): cores of
// CPU time per period; cores <= 0 removes it.
func (i *dockerInstance) CapCPU(cores float64, period time.Duration) error {
	res := &container.Resources{CPUPeriod: period.Microseconds(), CPUQuota: -1}
	if cores > 0 {
		res.CPUQuota = int64(math.Round(cores * float64(res.CPUPeriod)))
	}
	_, err := i.cli.ContainerUpdate(context.Background(), i.ctr.GetContainerID(), client.ContainerUpdateOptions{Resources: res})
	return i.wrap("update cpu quota of", err)
}

// CPUAccount reads the quota in place from the container's configuration
// and the cgroup's CPU counters from the stats stream: its newest sample,
// or with a non-zero since the first one the engine read at or after it
// (the engine samples once a second, so that waits up to about a second).
func (i *dockerInstance) CPUAccount(since time.Time) (injectors.CPUAccount, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var a injectors.CPUAccount
	ins, err := i.cli.ContainerInspect(ctx, i.ctr.GetContainerID(), client.ContainerInspectOptions{})
	if err != nil {
		return a, fmt.Errorf("inspect %s: %w", i.name, err)
	}
	if hc := ins.Container.HostConfig; hc != nil && hc.CPUQuota > 0 && hc.CPUPeriod > 0 {
		a.Cap = float64(hc.CPUQuota) / float64(hc.CPUPeriod)
	}
	if err := i.awaitStats(ctx); err != nil {
		return a, err
	}
	var st *container.StatsResponse
	for {
		i.usageMu.Lock()
		st = i.last
		i.usageMu.Unlock()
		if st != nil && !st.Read.Before(since) {
			break
		}
		select {
		case <-ctx.Done():
			return a, fmt.Errorf("stats of %s: no sample read after %s", i.name, since.Format(time.RFC3339Nano))
		case <-i.statsDone:
			return a, fmt.Errorf("stats of %s: the stream ended", i.name)
		case <-time.After(20 * time.Millisecond):
		}
	}
	a.Usage = time.Duration(st.CPUStats.CPUUsage.TotalUsage)
	a.Periods, a.Throttled = st.CPUStats.ThrottlingData.Periods, st.CPUStats.ThrottlingData.ThrottledPeriods
	a.At = st.Read
	return a, nil
}

func (i *dockerInstance) wrap(op string, err error) error {
	if err == nil || isGone(err) {
		return nil
	}
	return fmt.Errorf("%s %s: %w", op, i.name, err)
}

// Stop is `docker stop` (SIGTERM, SIGKILL after stopGrace), then the
// container is removed. It is idempotent.
func (i *dockerInstance) Stop(ctx context.Context) error {
	i.stopOnce.Do(func() {
		i.stopStats()
		// A frozen container cannot act on SIGTERM.
		_ = i.Resume()
		// Stopped first and removed after its log is saved: the log then
		// holds what the service said while shutting down.
		grace := stopGrace
		_ = i.ctr.Stop(ctx, &grace)
		if err := saveContainerLog(ctx, i.cli, i.ctr.GetContainerID(), i.logPath); err != nil && i.logf != nil {
			i.logf("%s: could not save its log: %v", i.name, err)
		}
		err := i.ctr.Terminate(ctx, testcontainers.StopTimeout(stopGrace))
		if err != nil && !isGone(err) {
			i.stopErr = fmt.Errorf("remove container %s: %w", i.name, err)
		}
	})
	return i.stopErr
}

// forwarder relays TCP connections from a listener on the run network's
// gateway to one of the harness's loopback listeners.
type forwarder struct {
	addr   string
	target string
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func newForwarder(listen, target string) (*forwarder, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	fw := &forwarder{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	fw.wg.Add(1)
	go fw.serve()
	return fw, nil
}

func (f *forwarder) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() { defer f.wg.Done(); f.relay(c) }()
	}
}

func (f *forwarder) relay(client net.Conn) {
	upstream, err := net.DialTimeout("tcp", f.target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	if !f.add(client, upstream) {
		client.Close()
		upstream.Close()
		return
	}
	defer f.remove(client, upstream)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Half-close: the other direction may still be answering.
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(upstream, client)
	go pipe(client, upstream)
	<-done
	<-done
}

func (f *forwarder) add(cs ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	for _, c := range cs {
		f.conns[c] = struct{}{}
	}
	return true
}

func (f *forwarder) remove(cs ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(f.conns, c)
	}
}

// close stops listening, cuts open connections and waits for the relays.
func (f *forwarder) close() {
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.ln.Close()
	f.wg.Wait()
}

var (
	dockerOnce sync.Once
	dockerErr  error
	dockerCli  client.APIClient
)

// dockerClient returns the engine client shared by the process. Ryuk (the
// reaper) is an image testcontainers would pull: it is switched off before
// the first call, and drill removes what it created by label instead.
func dockerClient() (client.APIClient, error) {
	dockerOnce.Do(func() {
		if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
			os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
		}
		// drill prints its own progress; testcontainers' lines would
		// interleave with the operator's view.
		tclog.SetDefault(tclog.Logger(quietLogger{}))
		var prov *testcontainers.DockerProvider
		prov, dockerErr = testcontainers.NewDockerProvider()
		if dockerErr != nil {
			return
		}
		dockerCli = prov.Client()
		_, dockerErr = dockerCli.Ping(context.Background(), client.PingOptions{})
	})
	if dockerErr != nil {
		return nil, &provider.EnvError{What: "connect to the Docker engine", Err: dockerErr,
			Hint: "start Docker (systemctl start docker) or set DOCKER_HOST; --provider process needs no Docker"}
	}
	return dockerCli, nil
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// loopbackBindings publishes a container port on a free port of 127.0.0.1
// only: load and faults never leave the machine.
func loopbackBindings(port string) network.PortMap {
	return network.PortMap{network.MustParsePort(port): {{HostIP: netip.MustParseAddr("127.0.0.1")}}}
}

// stopPolling ends pollUntil early: waiting longer cannot help.
type stopPolling struct{ error }

// pollUntil calls try until it returns nil or timeout passes, backing off
// from 10 ms to 200 ms; the last error says why it gave up.
func pollUntil(ctx context.Context, timeout time.Duration, try func(context.Context) error) error {
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
		var stop stopPolling
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

// logPath is where the output of a container is saved:
// <RunDir>/logs/<file>, beside the process provider's logs of the same
// names; "" when the run has no RunDir.
func (p *dockerProvider) logPath(file string) string {
	if p.cfg.RunDir == "" {
		return ""
	}
	return filepath.Join(p.cfg.RunDir, "logs", file)
}

// saveDatabaseLog stops a database container (gracefully, so its log ends
// with the shutdown) and saves its output as the process provider names a
// PostgreSQL log: logs/postgres-<database>.log.
func (p *dockerProvider) saveDatabaseLog(ctx context.Context, ctr testcontainers.Container) {
	cli, err := dockerClient()
	if err != nil {
		return
	}
	grace := pgStopGrace
	_ = ctr.Stop(ctx, &grace)
	ins, err := cli.ContainerInspect(ctx, ctr.GetContainerID(), client.ContainerInspectOptions{})
	if err != nil {
		if !isGone(err) {
			p.logf("database container %s: could not save its log: %v", shortID(ctr.GetContainerID()), err)
		}
		return
	}
	db := "unnamed"
	if ins.Container.Config != nil && ins.Container.Config.Labels["drill.database"] != "" {
		db = ins.Container.Config.Labels["drill.database"]
	}
	if err := saveContainerLog(ctx, cli, ctr.GetContainerID(), p.logPath("postgres-"+sanitize(db)+".log")); err != nil {
		p.logf("database %s: could not save its log: %v", db, err)
	}
}

// logSaveTimeout bounds reading one container's log from the engine.
const logSaveTimeout = 30 * time.Second

// logSaveMu keeps two saves to one file (an instance name started twice,
// stopped side by side at Close) from interleaving.
var logSaveMu sync.Mutex

// saveContainerLog appends a container's whole output, stdout and stderr
// as the engine stored them, to path: the engine keeps it only until the
// container is removed. The directory is made 0700 and the file 0600: a
// service's log may hold what its environment holds. Nothing is done for
// an empty path or a container already gone.
func saveContainerLog(ctx context.Context, cli client.APIClient, id, path string) error {
	if path == "" || cli == nil {
		return nil
	}
	// Saved even when teardown's context has ended (a Ctrl-C), but not
	// waited for forever.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logSaveTimeout)
	defer cancel()
	rc, err := cli.ContainerLogs(lctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		if isGone(err) {
			return nil
		}
		return err
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	logSaveMu.Lock()
	defer logSaveMu.Unlock()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	// Without a TTY the engine multiplexes the two streams in frames.
	// Secrets are redacted on the way to disk, as the process provider's
	// logs are.
	rw := redact.NewWriter(f)
	_, err = stdcopy.StdCopy(rw, rw, rc)
	if ferr := rw.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// containerLog is the tail of a container's output, for error hints.
func containerLog(ctx context.Context, ctr testcontainers.Container) string {
	rc, err := ctr.Logs(context.WithoutCancel(ctx))
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
	return string(b)
}

func isGone(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "No such container") || strings.Contains(s, "is not running") ||
		strings.Contains(s, "not found") || strings.Contains(s, "is already in progress")
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
