package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/provider/internal/host"
	"github.com/drillhq/drill/harness/redact"
	"github.com/drillhq/drill/harness/tcpproxy"
	"github.com/drillhq/drill/scenarios"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

func (p *dockerProvider) databaseImage(ctx context.Context, db *scenarios.Database) (string, error) {
	if db.Image != "" {
		return p.namedImage(ctx, db.Image, "leave image out to use drill/postgres, built here from this machine's PostgreSQL (make images)")
	}
	return p.buildImage(ctx, "postgres", postgresImageDir)
}

func (p *dockerProvider) StartDatabase(ctx context.Context, db *scenarios.Database) (*provider.DatabaseHandle, error) {
	switch db.Engine {
	case scenarios.EnginePostgres:
		return p.startPostgres(ctx, db)
	case scenarios.EngineSQLite:
		return p.startSQLite(ctx, db)
	}
	return nil, &provider.EnvError{What: fmt.Sprintf("database %q: engine %q is not supported by the docker provider", db.Name, db.Engine),
		Hint: "use engine: postgres or sqlite"}
}

// startPostgres starts PostgreSQL in a container on the run's network,
// published on the host's loopback, behind a TCP proxy (the fault point).
func (p *dockerProvider) startPostgres(ctx context.Context, db *scenarios.Database) (*provider.DatabaseHandle, error) {
	start := time.Now()
	password, err := host.NewPGPassword()
	if err != nil {
		return nil, &provider.EnvError{What: "generate the PostgreSQL password", Err: err}
	}
	ctr, image, err := p.postgresContainer(ctx, db, password)
	if err != nil {
		return nil, err
	}
	port, err := ctr.MappedPort(ctx, "5432/tcp")
	if err != nil {
		return nil, &provider.EnvError{What: "published port of PostgreSQL " + db.Name, Err: err}
	}
	direct := fmt.Sprintf("127.0.0.1:%d", port.Num())
	err = host.PollUntil(ctx, host.PGStartTimeout, func(ctx context.Context) error {
		if st, err := ctr.State(ctx); err == nil && !st.Running {
			return fmt.Errorf("container exited with code %d", st.ExitCode)
		}
		return host.PingPostgres(ctx, direct, password)
	})
	if err != nil {
		return nil, &provider.EnvError{What: fmt.Sprintf("PostgreSQL container %q (%s) did not accept connections on %s", db.Name, image, direct), Err: err,
			Hint: "its log ends with:\n" + host.Tail(redact.String(containerLog(ctx, ctr)), 15)}
	}
	if err := host.CreateDatabase(ctx, direct, password, db.Name); err != nil {
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
		URL:        host.PGURL(proxy.Addr(), db.Name, password),
		MigrateURL: host.PGURL(direct, db.Name, password) + "&x-multi-statement=false",
		DriverName: "pgx",
		DSN:        host.PGURL(direct, db.Name, password),
		Proxy:      proxy,
	}, nil
}

// postgresContainer starts database db's container, tracked so Close
// removes it even when this start fails.
func (p *dockerProvider) postgresContainer(ctx context.Context, db *scenarios.Database, password string) (testcontainers.Container, string, error) {
	image, err := p.databaseImage(ctx, db)
	if err != nil {
		return nil, "", err
	}
	nw, _, err := p.network(ctx)
	if err != nil {
		return nil, "", err
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
			return nil, "", fmt.Errorf("database %q: provider closed", db.Name)
		}
	}
	if err != nil {
		return nil, "", &provider.EnvError{What: fmt.Sprintf("start PostgreSQL container for %q (%s)", db.Name, image), Err: err}
	}
	return ctr, image, nil
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
	h := host.SQLite(p.cfg.TempDir, db)
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

// saveDatabaseLog stops a database container (gracefully, so its log ends
// with the shutdown) and saves its output as the process provider names a
// PostgreSQL log: logs/postgres-<database>.log.
func (p *dockerProvider) saveDatabaseLog(ctx context.Context, ctr testcontainers.Container) {
	cli, err := dockerClient()
	if err != nil {
		return
	}
	grace := host.PGStopGrace
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
	if err := saveContainerLog(ctx, cli, ctr.GetContainerID(), p.logPath("postgres-"+host.Sanitize(db)+".log")); err != nil {
		p.logf("database %s: could not save its log: %v", db, err)
	}
}
