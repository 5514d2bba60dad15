package docker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/provider/internal/host"
	"github.com/drillhq/drill/harness/tcpproxy"
	"github.com/drillhq/drill/injectors"
	"github.com/drillhq/drill/scenarios"
)

func init() {
	provider.Register("docker", "builds services' Dockerfiles into local images (a scenario's image: is pulled only where the engine can) and runs them with testcontainers-go on a Docker network of the run's own; PostgreSQL from an image built from this machine's binaries",
		provider.Kind{
			New: func(cfg provider.Config) (provider.Provider, error) { return newDockerProvider(cfg), nil },
			// A container cannot run a local command, and 127.0.0.1 in it
			// is the container itself.
			Caps:     scenarios.ProviderCaps{Build: true, Image: true, Isolated: true},
			SweepRun: removeDeadRun,
			SweepAll: sweepDocker,
		})
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
	store      *dockerStore          // the run's artifact store, once StoreArtifacts ran
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
	abs, err := host.ResolveDir(p.cfg.BaseDirs, dir)
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

var _ provider.ForwardAllower = (*dockerProvider)(nil)

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
	errs := host.StopAll(ctx, insts)
	// Databases after the services: a service stopping gracefully may
	// still write.
	for _, c := range dbs {
		p.saveDatabaseLog(ctx, c)
		if err := c.Terminate(ctx, testcontainers.StopTimeout(host.PGStopGrace)); err != nil && !isGone(err) {
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

var _ provider.UsageReporter = (*dockerInstance)(nil)

var _ injectors.CPUCapper = (*dockerInstance)(nil)

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

// Available says why the Docker engine cannot be reached (nil when it can).
func Available() error {
	_, err := dockerClient()
	return err
}
