package docker

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/harness/provider/internal/host"
	"github.com/drillhq/drill/harness/redact"
	"github.com/drillhq/drill/injectors"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

func (p *dockerProvider) StartInstance(ctx context.Context, spec provider.InstanceSpec) (provider.Instance, error) {
	s, v := spec.Service, spec.Version
	name := s.Name + "-" + v.Name
	image, err := p.instanceImage(ctx, spec)
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
	health := cmp.Or(s.Health, "/healthz")
	if err := waitContainerHealthy(ctx, ctr, inst.url+health, host.HealthTimeout); err != nil {
		logText := redact.String(containerLog(ctx, ctr))
		_ = inst.Stop(context.WithoutCancel(ctx))
		return nil, &provider.EnvError{What: fmt.Sprintf("%s did not become healthy on %s%s", name, inst.url, health), Err: err,
			Hint: "its container log ends with:\n" + host.Tail(logText, 15)}
	}
	// The engine's first stats sample takes up to a second: start the
	// stream now, so the first resources tick finds one.
	inst.statsOnce.Do(inst.startStats)
	p.logf("started %s in container %s on %s", name, shortID(ctr.GetContainerID()), inst.url)
	return inst, nil
}

// instanceImage is the image an instance runs: its store tag when the spec
// names one, checked first (a missing tag would otherwise be pulled, and
// fail as a registry error), else the version's built or named image.
func (p *dockerProvider) instanceImage(ctx context.Context, spec provider.InstanceSpec) (string, error) {
	if spec.Artifact != "" {
		if _, err := p.storedImage(ctx, spec.Artifact); err != nil {
			return "", err
		}
		return spec.Artifact, nil
	}
	return p.serviceImage(ctx, spec.Service, spec.Version)
}

// waitContainerHealthy polls url until it answers 200, the container
// stops running, or timeout passes.
func waitContainerHealthy(ctx context.Context, ctr testcontainers.Container, url string, timeout time.Duration) error {
	// Never follows a redirect: a 3xx is not healthy (newHealthClient).
	client := host.HealthClient()
	return host.PollUntil(ctx, timeout, func(ctx context.Context) error {
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
			return host.Stop(fmt.Errorf("container exited with code %d", st.ExitCode))
		}
		return err
	})
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
// its first sample; provider.ErrNoProcess once the instance is stopped.
func (i *dockerInstance) awaitStats(ctx context.Context) error {
	i.statsOnce.Do(i.startStats)
	if i.statsFirst == nil {
		return provider.ErrNoProcess // stopped before any stream started
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
		return provider.ResourceSample{}, provider.ErrNoProcess
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

func (i *dockerInstance) URL() string { return i.url }

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

// Stop is `docker stop` (SIGTERM, SIGKILL after host.StopGrace), then the
// container is removed. It is idempotent.
func (i *dockerInstance) Stop(ctx context.Context) error {
	i.stopOnce.Do(func() {
		i.stopStats()
		// A frozen container cannot act on SIGTERM.
		_ = i.Resume()
		// Stopped first and removed after its log is saved: the log then
		// holds what the service said while shutting down.
		grace := host.StopGrace
		_ = i.ctr.Stop(ctx, &grace)
		if err := saveContainerLog(ctx, i.cli, i.ctr.GetContainerID(), i.logPath); err != nil && i.logf != nil {
			i.logf("%s: could not save its log: %v", i.name, err)
		}
		err := i.ctr.Terminate(ctx, testcontainers.StopTimeout(host.StopGrace))
		if err != nil && !isGone(err) {
			i.stopErr = fmt.Errorf("remove container %s: %w", i.name, err)
		}
	})
	return i.stopErr
}
