package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the sqlite database/sql driver

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"

	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/provider/internal/host"
	"github.com/drillhq/drill/harness/provider/process"
	"github.com/drillhq/drill/harness/router"
	"github.com/drillhq/drill/injectors"
	"github.com/drillhq/drill/internal/procid"
	"github.com/drillhq/drill/scenarios"
)

// TestDockerProvider runs orders and pricing containers against a
// PostgreSQL container on the run's network, sends a real POST through
// orders' router (orders calls pricing through pricing's router, reached
// from the container via the gateway forwarder), exercises Kill, Pause and
// Resume, and checks that Close leaves no container or network behind.
func TestDockerProvider(t *testing.T) {
	needDocker(t)
	if _, err := process.FindPostgres(); err != nil {
		t.Fatalf("no PostgreSQL binaries to build the image from (.ci/run installs Debian's postgresql): %v", err)
	}
	ctx := context.Background()
	root := filepath.Join(fixturesDir(t), "..")
	runID := fmt.Sprintf("test-%d", time.Now().UnixNano())
	var log bytes.Buffer
	prov, err := provider.New("docker", provider.Config{RunID: runID, RunDir: t.TempDir(), TempDir: t.TempDir(),
		CacheDir: t.TempDir(), BaseDirs: []string{root}, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = prov.Close(context.Background())
		}
		t.Log(log.String())
	})

	ordersdb := &scenarios.Database{Name: "ordersdb", Engine: scenarios.EnginePostgres}
	pricing := &scenarios.Service{Name: "pricing", Build: "fixtures/pricing", Health: "/healthz",
		Versions: []*scenarios.Version{{Name: "v1"}}}
	orders := &scenarios.Service{Name: "orders", Build: "fixtures/orders", Health: "/healthz", Database: "ordersdb",
		Versions: []*scenarios.Version{{Name: "v1", Migration: 1}}}
	sc := &scenarios.Scenario{Environment: scenarios.Environment{Provider: "docker",
		Databases: []*scenarios.Database{ordersdb}, Services: []*scenarios.Service{pricing, orders}}}
	if err := prov.Build(ctx, sc); err != nil {
		t.Fatalf("Build: %v", err)
	}

	h, err := prov.StartDatabase(ctx, ordersdb)
	if err != nil {
		t.Fatalf("StartDatabase: %v", err)
	}
	m := dbcheck.Migrator{DB: h, Dir: filepath.Join(root, "fixtures/orders/migrations/postgres")}
	if _, err := m.To(1); err != nil {
		t.Fatalf("migrate: %v", err)
	}

	routers := map[string]*router.Router{}
	for _, name := range []string{"pricing", "orders"} {
		rt := router.New(name, metrics.NewRecorder("router:"+name))
		if _, err := rt.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rt.Close() })
		routers[name] = rt
	}
	start := func(s *scenarios.Service, env map[string]string) provider.Instance {
		t.Helper()
		inst, err := prov.StartInstance(ctx, provider.InstanceSpec{Service: s, Version: s.Versions[0], Env: env})
		if err != nil {
			t.Fatalf("StartInstance %s: %v", s.Name, err)
		}
		if err := routers[s.Name].SetBackend("v1", inst.URL()); err != nil {
			t.Fatal(err)
		}
		routers[s.Name].SetSplit("v1", "", 0)
		return inst
	}
	pricingInst := start(pricing, map[string]string{"DRILL_SERVICE": "pricing", "DRILL_VERSION": "v1"})
	pricingURL, err := routers["pricing"].CallerURL("orders")
	if err != nil {
		t.Fatal(err)
	}
	prov.(provider.ForwardAllower).AllowForward(pricingURL) // as resolveFor does
	ordersInst := start(orders, map[string]string{
		"PRICING_URL": pricingURL, "DATABASE_URL": h.URL,
		"DRILL_SERVICE": "orders", "DRILL_VERSION": "v1", "DRILL_MIGRATION": "1",
	})
	if ordersInst.Name() != "orders-v1" || !ordersInst.Alive() || ordersInst.PID() != 0 {
		t.Errorf("orders instance: name %q alive %v pid %d", ordersInst.Name(), ordersInst.Alive(), ordersInst.PID())
	}

	entry, err := routers["orders"].CallerURL("load")
	if err != nil {
		t.Fatal(err)
	}
	post := func() (int, map[string]any) {
		body := `{"sku":"SKU-1","qty":3,"client_ref":"` + runID + `"}`
		resp, err := http.Post(entry+"/orders", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST /orders: %v", err)
		}
		defer resp.Body.Close()
		var order map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&order)
		return resp.StatusCode, order
	}
	code, order := post()
	if code != http.StatusCreated || order["total_cents"] == nil {
		t.Fatalf("POST /orders through the router = %d %v; want 201 with a price from pricing", code, order)
	}
	db, err := dbcheck.OpenDB(h)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM orders WHERE client_ref = $1", runID).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("orders row for %s: %d, %v", runID, rows, err)
	}

	// Pause freezes pricing: orders answers 502 (its 2 s pricing timeout);
	// Resume brings it back.
	if err := pricingInst.Pause(); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 500 * time.Millisecond}
	if _, err := hc.Get(pricingInst.URL() + "/healthz"); err == nil {
		t.Error("paused pricing still answered its health path")
	}
	if err := pricingInst.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := pricingInst.Resume(); err != nil {
		t.Errorf("second Resume: %v", err)
	}
	waitHTTP200(t, pricingInst.URL()+"/healthz")
	if err := pricingInst.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := host.PollUntil(ctx, 10*time.Second, func(context.Context) error {
		if pricingInst.Alive() {
			return fmt.Errorf("still alive")
		}
		return nil
	}); err != nil {
		t.Errorf("killed pricing: %v", err)
	}
	if err := pricingInst.Kill(); err != nil {
		t.Errorf("Kill of a dead instance: %v", err)
	}

	closed = true
	closeStart := time.Now()
	if err := prov.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	t.Logf("Close took %s", time.Since(closeStart).Round(time.Millisecond))
	if err := prov.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	cli, err := dockerClient()
	if err != nil {
		t.Fatal(err)
	}
	filter := client.Filters{}.Add("label", RunLabel+"="+runID)
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter})
	if err != nil || len(cs.Items) != 0 {
		t.Errorf("containers left with %s=%s: %d, %v", RunLabel, runID, len(cs.Items), err)
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: filter})
	if err != nil || len(ns.Items) != 0 {
		t.Errorf("networks left with %s=%s: %d, %v", RunLabel, runID, len(ns.Items), err)
	}
}

func TestContainerEnvRewritesLoopbackToGateway(t *testing.T) {
	p := newDockerProvider(provider.Config{RunID: "t"})
	defer p.Close(context.Background())
	// As the harness names its routers (and, here, stands in for a proxy).
	p.AllowForward("http://127.0.0.1:8081")
	p.AllowForward("localhost:5432")
	env, err := p.containerEnv("127.0.0.1", map[string]string{
		"PRICING_URL":  "http://127.0.0.1:8081",
		"DATABASE_URL": "postgres://postgres@localhost:5432/db?sslmode=disable",
		"OTHER":        "http://pricing-v1:8080",
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, orig := range map[string]string{"PRICING_URL": ":8081", "DATABASE_URL": ":5432/"} {
		if strings.Contains(env[k], orig) || !strings.Contains(env[k], "127.0.0.1:") {
			t.Errorf("%s = %q: not rewritten to a forwarder", k, env[k])
		}
	}
	if env["OTHER"] != "http://pricing-v1:8080" || env["PORT"] != "8080" || env["HOST"] != "0.0.0.0" {
		t.Errorf("env = %v", env)
	}
	again, _ := p.containerEnv("127.0.0.1", map[string]string{"PRICING_URL": "http://127.0.0.1:8081"})
	if again["PRICING_URL"] != env["PRICING_URL"] {
		t.Errorf("second rewrite %q != first %q: one forwarder per target", again["PRICING_URL"], env["PRICING_URL"])
	}
}

// sqliteOrders is a docker provider running pricing and two orders
// containers (v1 and v2) on one SQLite file in the run's TempDir.
type sqliteOrders struct {
	prov   provider.Provider
	runID  string
	db     *provider.DatabaseHandle
	orders []provider.Instance
}

func startSQLiteOrders(t *testing.T) *sqliteOrders {
	t.Helper()
	needDocker(t)
	ctx := context.Background()
	root := filepath.Join(fixturesDir(t), "..")
	runID := fmt.Sprintf("test-sqlite-%d", time.Now().UnixNano())
	var log bytes.Buffer
	prov, err := provider.New("docker", provider.Config{RunID: runID, RunDir: t.TempDir(), TempDir: t.TempDir(),
		CacheDir: t.TempDir(), BaseDirs: []string{root}, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := prov.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
		t.Log(log.String())
	})
	ordersdb := &scenarios.Database{Name: "ordersdb", Engine: scenarios.EngineSQLite}
	pricing := &scenarios.Service{Name: "pricing", Build: "fixtures/pricing", Health: "/healthz",
		Versions: []*scenarios.Version{{Name: "v1"}}}
	orders := &scenarios.Service{Name: "orders", Build: "fixtures/orders", Health: "/healthz", Database: "ordersdb",
		Versions: []*scenarios.Version{{Name: "v1", Migration: 1}, {Name: "v2", Migration: 1}}}
	sc := &scenarios.Scenario{Environment: scenarios.Environment{Provider: "docker",
		Databases: []*scenarios.Database{ordersdb}, Services: []*scenarios.Service{pricing, orders}}}
	if err := prov.Build(ctx, sc); err != nil {
		t.Fatalf("Build: %v", err)
	}
	h, err := prov.StartDatabase(ctx, ordersdb)
	if err != nil {
		t.Fatalf("StartDatabase: %v", err)
	}
	if !strings.HasPrefix(h.URL, "sqlite:///") {
		t.Fatalf("URL = %q", h.URL)
	}
	m := dbcheck.Migrator{DB: h, Dir: filepath.Join(root, "fixtures/orders/migrations/sqlite")}
	if _, err := m.To(1); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	pricingInst, err := prov.StartInstance(ctx, provider.InstanceSpec{Service: pricing, Version: pricing.Versions[0],
		Env: map[string]string{"DRILL_SERVICE": "pricing", "DRILL_VERSION": "v1"}})
	if err != nil {
		t.Fatalf("StartInstance pricing: %v", err)
	}
	// Straight to pricing's published port on 127.0.0.1: the gateway
	// forwarder brings the container to it.
	so := &sqliteOrders{prov: prov, runID: runID, db: h}
	prov.(provider.ForwardAllower).AllowForward(pricingInst.URL())
	for _, v := range orders.Versions {
		inst, err := prov.StartInstance(ctx, provider.InstanceSpec{Service: orders, Version: v, Env: map[string]string{
			"PRICING_URL": pricingInst.URL(), "DATABASE_URL": h.URL,
			"DRILL_SERVICE": "orders", "DRILL_VERSION": v.Name, "DRILL_MIGRATION": "1",
		}})
		if err != nil {
			t.Fatalf("StartInstance orders %s: %v", v.Name, err)
		}
		so.orders = append(so.orders, inst)
	}
	return so
}

// TestDockerProviderSQLite runs two orders containers (v1 and v2) on one
// SQLite file in the run's TempDir, bind-mounted at the same path: the
// harness migrates it through the host path, a real POST to each
// container writes a row, and the host sees both rows in the same file.
func TestDockerProviderSQLite(t *testing.T) {
	so := startSQLiteOrders(t)
	ctx := context.Background()
	runID, h, ordersInsts := so.runID, so.db, so.orders
	for i, inst := range ordersInsts {
		body := fmt.Sprintf(`{"sku":"SKU-1","qty":%d,"client_ref":"%s-%d"}`, i+1, runID, i)
		resp, err := http.Post(inst.URL()+"/orders", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST /orders to %s: %v", inst.Name(), err)
		}
		var order map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&order)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || order["total_cents"] == nil {
			t.Fatalf("POST /orders to %s = %d %v; want 201 with a price", inst.Name(), resp.StatusCode, order)
		}
	}
	db, err := dbcheck.OpenDB(h)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM orders WHERE client_ref LIKE ?", runID+"-%").Scan(&rows); err != nil || rows != 2 {
		t.Fatalf("rows written by the two containers, read from the host file: %d, %v; want 2", rows, err)
	}

	// cpu and rss of containers (PID 0) come from the engine's stats:
	// orders-v1 busy with POSTs for an interval, orders-v2 idle.
	usage := func(inst provider.Instance) provider.ResourceSample {
		t.Helper()
		s, err := inst.(provider.UsageReporter).Usage(ctx)
		if err != nil {
			t.Fatalf("usage of %s: %v", inst.Name(), err)
		}
		return s
	}
	sampleStart := time.Now()
	for _, inst := range ordersInsts {
		if s := usage(inst); s.CPUOK || s.RSS < 1<<20 {
			t.Errorf("first sample of %s: %+v; want rss > 1 MiB and no cpu yet", inst.Name(), s)
		}
	}
	t.Logf("one sampling of two containers took %s", time.Since(sampleStart).Round(time.Millisecond))
	// The engine publishes a sample a second: 2.5 s of load leaves at
	// least 1.5 s of it in the newest sample.
	deadline := time.Now().Add(2500 * time.Millisecond)
	posts := 0
	for i := 0; time.Now().Before(deadline); i++ {
		body := fmt.Sprintf(`{"sku":"SKU-1","qty":1,"client_ref":"%s-load-%d"}`, runID, i)
		resp, err := http.Post(ordersInsts[0].URL()+"/orders", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		posts++
	}
	busy, idle := usage(ordersInsts[0]), usage(ordersInsts[1])
	t.Logf("after %d POSTs in 2.5 s: orders-v1 cpu %.3f cores rss %.1f MiB; idle orders-v2 cpu %.4f cores rss %.1f MiB",
		posts, busy.CPU, busy.RSS/(1<<20), idle.CPU, idle.RSS/(1<<20))
	if !busy.CPUOK || !idle.CPUOK || busy.CPU < 0.02 || busy.CPU <= idle.CPU || idle.CPU > 0.05 {
		t.Errorf("cpu: busy %+v, idle %+v; want busy > idle, idle about 0", busy, idle)
	}
	// A stopped container is not alive, so the harness samples it no more.
	if err := ordersInsts[1].Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if ordersInsts[1].Alive() {
		t.Errorf("%s alive after Stop", ordersInsts[1].Name())
	}
}

// procEnv is an injectors.Env that offers process faults a fixed set of
// instances, for tests that drive one injector against real containers.
type procEnv struct{ procs []injectors.Process }

func (e procEnv) HTTP(string) (injectors.HTTPPoint, error) { return nil, errors.New("no routers here") }
func (e procEnv) Link(_, _ string) (injectors.HTTPPoint, error) {
	return nil, errors.New("no routers here")
}
func (e procEnv) Conn(string) (injectors.ConnPoint, error) {
	return nil, errors.New("no databases here")
}
func (e procEnv) Processes(string) (injectors.ProcessPoint, error) {
	return procPoint(e), nil
}

type procPoint procEnv

func (p procPoint) Instances() []injectors.Process        { return p.procs }
func (p procPoint) Restart(context.Context, string) error { return errors.New("no restarts here") }

// busyCores keeps inst busy with POST /orders from eight clients for d and
// returns the cores the container used meanwhile, from the engine's stats
// stream (the resources path, not the CPU accounting cpu-throttle reads).
func busyCores(t *testing.T, inst provider.Instance, d time.Duration) float64 {
	t.Helper()
	ur := inst.(provider.UsageReporter)
	ctx := context.Background()
	// The stream's samples lag up to a second: the reference sample is
	// taken 1.5 s into the load, so both samples lie inside it.
	const lead = 1500 * time.Millisecond
	ref := time.AfterFunc(lead, func() { _, _ = ur.Usage(ctx) })
	defer ref.Stop()
	stop := time.Now().Add(lead + d)
	var wg sync.WaitGroup
	var n atomic.Int64
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 5 * time.Second}
			for i := 0; time.Now().Before(stop); i++ {
				body := fmt.Sprintf(`{"sku":"SKU-1","qty":1,"client_ref":"busy-%d-%d-%d"}`, time.Now().UnixNano(), w, i)
				resp, err := c.Post(inst.URL()+"/orders", "application/json", strings.NewReader(body))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	smp, err := ur.Usage(ctx)
	if err != nil || !smp.CPUOK {
		t.Fatalf("usage after load: %+v, %v", smp, err)
	}
	t.Logf("%d POSTs in %s: %.3f cores over its last %s", n.Load(), lead+d, smp.CPU, d)
	return smp.CPU
}

// TestDockerCPUThrottleCapsTheContainer applies cpu-throttle to a busy
// orders container: the container's CPU quota caps what it uses, the
// injector proves it from the engine's accounting, and the revert lifts
// the quota so the container is as busy as before.
func TestDockerCPUThrottleCapsTheContainer(t *testing.T) {
	so := startSQLiteOrders(t)
	busy := so.orders[0]
	kind, ok := injectors.Lookup("cpu-throttle")
	if !ok {
		t.Fatal("cpu-throttle is not registered")
	}
	const limit = 0.05
	params, err := kind.Parse(func(v any) error { v.(*injectors.CPUThrottleParams).Limit = limit; return nil })
	if err != nil {
		t.Fatal(err)
	}
	inj := kind.New(injectors.Spec{Name: "throttle", Target: "orders.v1", Probability: 1, Seed: 1, Params: params})
	quota := limit * float64(runtime.NumCPU())

	before := busyCores(t, busy, 3*time.Second)
	if before < 3*quota {
		t.Fatalf("unthrottled the container used %.3f cores, too little to tell a %.2f-core quota apart", before, quota)
	}
	ctx := context.Background()
	if err := inj.Apply(ctx, procEnv{procs: []injectors.Process{busy}}); err != nil {
		t.Fatal(err)
	}
	during := busyCores(t, busy, 3*time.Second)
	t0 := time.Now()
	if err := inj.Revert(ctx); err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	after := busyCores(t, busy, 3*time.Second)
	eff := inj.(injectors.Verifier).Verify(injectors.Observation{})
	t.Logf("configured limit %.0f%% (quota %.2f cores): %.3f cores before, %.3f during, %.3f after; injector: effective=%v %s; revert took %s",
		100*limit, quota, before, during, after, eff.Effective, eff.Measured, took)
	if during > quota*1.25+0.02 {
		t.Errorf("throttled the container used %.3f cores, above the %.2f-core quota", during, quota)
	}
	if after < 3*quota {
		t.Errorf("after revert the container used %.3f cores: the quota is still in place?", after)
	}
	if !eff.Effective {
		t.Errorf("effect not proven: %s", eff.Measured)
	}
	a, err := busy.(injectors.CPUCapper).CPUAccount(time.Time{})
	if err != nil || a.Cap != 0 {
		t.Errorf("after revert: cap %.2f cores, %v; want none", a.Cap, err)
	}
	if err := inj.Revert(ctx); err != nil {
		t.Errorf("second Revert: %v", err)
	}
}

// pricingImage is the locally built pricing image's tag, for tests that
// need some image to run.
func pricingImage(t *testing.T) string {
	t.Helper()
	needDocker(t)
	tag, err := ensureImage(context.Background(), "pricing", filepath.Join(fixturesDir(t), "pricing"))
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

// TestSweepDockerRemovesOnlyDeadRuns labels two containers as two runs: one
// whose harness is dead (a pid that has exited), one whose harness is this
// test process. sweepDocker, which finds runs by label alone, must remove
// the dead run's container and network and leave the live one's alone.
// Any drill starting meanwhile on this engine (another package's tests)
// sweeps the dead run too: `make test` runs these packages one at a time.
func TestSweepDockerRemovesOnlyDeadRuns(t *testing.T) {
	img := pricingImage(t)
	ctx := context.Background()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	stamp := time.Now().UnixNano()
	dead, live := fmt.Sprintf("test-dead-%d", stamp), fmt.Sprintf("test-live-%d", stamp)
	cli, _ := dockerClient()
	start := func(runID string, pid int, exe string) string {
		labels := map[string]string{RunLabel: runID, harnessPIDLabel: strconv.Itoa(pid), harnessExeLabel: exe,
			harnessHostLabel: procid.HostID(), harnessStartLabel: "1"} // for the pid that has exited
		if st, err := procid.StartTime(pid); err == nil {
			labels[harnessStartLabel] = strconv.FormatUint(st, 10)
		}
		nw, err := tcnetwork.New(ctx, tcnetwork.WithLabels(labels))
		if err != nil {
			t.Fatal(err)
		}
		ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{Started: true,
			ContainerRequest: testcontainers.ContainerRequest{Image: img, Labels: labels, Networks: []string{nw.Name},
				Env: map[string]string{"PORT": "8080", "HOST": "0.0.0.0"}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = RemoveRun(context.Background(), runID) })
		return ctr.GetContainerID()
	}
	start(dead, gone.Process.Pid, procid.ExePath(os.Getpid()))
	liveID := start(live, os.Getpid(), procid.ExePath(os.Getpid()))

	results, err := sweepDocker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sawDead, sawLive bool
	for _, r := range results {
		switch r.RunDir {
		case "docker run " + dead:
			sawDead = true
			if r.Running || len(r.Actions) != 2 {
				t.Errorf("dead run: %+v, want its container and network removed", r)
			}
		case "docker run " + live:
			sawLive = true
			if !r.Running || len(r.Actions) != 0 {
				t.Errorf("live run: %+v, want it left alone", r)
			}
		}
	}
	if !sawDead || !sawLive {
		t.Errorf("sweep saw dead=%v live=%v in %+v", sawDead, sawLive, results)
	}
	if left := runLeftovers(ctx, dead); len(left) != 0 {
		t.Errorf("dead run left: %v", left)
	}
	if _, err := cli.ContainerInspect(ctx, liveID, client.ContainerInspectOptions{}); err != nil {
		t.Errorf("the live run's container is gone: %v", err)
	}
}

// TestDockerNamedImages runs a service from a scenario's `image:` (a tag
// already on the engine: the locally built pricing image, named, not
// built) and checks that a named image the engine has not got and cannot
// pull fails the build with an error that says so and how to build one.
func TestDockerNamedImages(t *testing.T) {
	tag := pricingImage(t)
	ctx := context.Background()
	runID := fmt.Sprintf("test-images-%d", time.Now().UnixNano())
	prov, err := provider.New("docker", provider.Config{RunID: runID, RunDir: t.TempDir(), TempDir: t.TempDir(), CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := prov.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	named := &scenarios.Service{Name: "pricing", Image: tag, Health: "/healthz", Versions: []*scenarios.Version{{Name: "v1"}}}
	if err := prov.Build(ctx, &scenarios.Scenario{Environment: scenarios.Environment{Services: []*scenarios.Service{named}}}); err != nil {
		t.Fatalf("Build with image %s: %v", tag, err)
	}
	inst, err := prov.StartInstance(ctx, provider.InstanceSpec{Service: named, Version: named.Versions[0]})
	if err != nil {
		t.Fatalf("StartInstance: %v", err)
	}
	resp, err := http.Get(inst.URL() + "/price?sku=SKU-1&qty=2")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /price on the named image: %d", resp.StatusCode)
	}

	for _, tc := range []struct {
		name string
		sc   *scenarios.Scenario
		hint string
	}{
		{"service", &scenarios.Scenario{Environment: scenarios.Environment{Services: []*scenarios.Service{
			{Name: "api", Image: "drill-test/not-there:never", Versions: []*scenarios.Version{{Name: "v1"}}}}}}, "build: DIR"},
		{"database", &scenarios.Scenario{Environment: scenarios.Environment{Databases: []*scenarios.Database{
			{Name: "db", Engine: scenarios.EnginePostgres, Image: "drill-test/no-postgres:never"}}}}, "make images"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := prov.Build(ctx, tc.sc)
			var env *provider.EnvError
			if !errors.As(err, &env) {
				t.Fatalf("Build = %v, want an EnvError", err)
			}
			if !strings.Contains(env.Error(), "could not pull") || !strings.Contains(env.Hint, tc.hint) {
				t.Errorf("error %q, hint %q: want it to say the engine could not pull, and a hint naming %q", env.Error(), env.Hint, tc.hint)
			}
		})
	}
}

func (procEnv) Migrations(string) (injectors.MigrationPoint, error) {
	return nil, errors.New("no migrations in this test")
}
