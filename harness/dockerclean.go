package harness

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/moby/moby/client"
)

// Labels beside RunLabel on every container and network of a docker run:
// the harness process that owns it, so leftovers of a dead run can be told
// from a live run's wherever its journal is.
const (
	harnessPIDLabel = "drill.pid"
	harnessExeLabel = "drill.exe"
)

// RemoveRun force-removes every container and network labelled with the
// run id: what Close does last, and what `drill cleanup` does for a run
// whose harness died. It returns what it removed.
func RemoveRun(ctx context.Context, runID string) ([]string, error) {
	if runID == "" {
		return nil, errors.New("remove run: empty run id")
	}
	cli, err := dockerClient()
	if err != nil {
		return nil, err
	}
	filter := client.Filters{}.Add("label", RunLabel+"="+runID)
	var done []string
	var errs []error
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter})
	if err != nil {
		return nil, fmt.Errorf("list containers of run %s: %w", runID, err)
	}
	for _, c := range cs.Items {
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", shortID(c.ID), err))
			continue
		}
		done = append(done, fmt.Sprintf("removed container %s (%s, %s)", shortID(c.ID), containerWhat(c.Labels), c.State))
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: filter})
	if err != nil {
		return done, errors.Join(append(errs, fmt.Errorf("list networks of run %s: %w", runID, err))...)
	}
	for _, n := range ns.Items {
		if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		done = append(done, "removed network "+n.Name)
	}
	return done, errors.Join(errs...)
}

// containerWhat names a drill container by its labels.
func containerWhat(l map[string]string) string {
	if db := l["drill.database"]; db != "" {
		return "database " + db
	}
	if svc := l["drill.service"]; svc != "" {
		return svc + "-" + l["drill.version"]
	}
	return "unlabelled"
}

// runLeftovers lists what of a run is still on the engine, independently
// of what the provider believes it removed.
func runLeftovers(ctx context.Context, runID string) []string {
	cli, err := dockerClient()
	if err != nil {
		return []string{"cannot check for containers left behind: " + err.Error()}
	}
	filter := client.Filters{}.Add("label", RunLabel+"="+runID)
	var out []string
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter})
	if err != nil {
		return []string{"cannot list the run's containers: " + err.Error()}
	}
	for _, c := range cs.Items {
		out = append(out, fmt.Sprintf("container %s (%s) still exists, %s", shortID(c.ID), containerWhat(c.Labels), c.State))
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: filter})
	if err != nil {
		return append(out, "cannot list the run's networks: "+err.Error())
	}
	for _, n := range ns.Items {
		out = append(out, "network "+n.Name+" still exists")
	}
	return out
}

// sweepDocker removes the containers and networks of every drill run whose
// harness is gone, found by label alone: runs whose journal is elsewhere
// (another --out), lost, or never written. Runs whose harness still runs
// are left alone. Without a reachable engine there is nothing to sweep.
func sweepDocker(ctx context.Context) ([]CleanupResult, error) {
	cli, err := dockerClient()
	if err != nil {
		return nil, nil
	}
	filter := client.Filters{}.Add("label", RunLabel)
	owners := map[string]map[string]string{} // run id -> labels of one of its objects
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter})
	if err != nil {
		return nil, fmt.Errorf("list drill containers: %w", err)
	}
	for _, c := range cs.Items {
		owners[c.Labels[RunLabel]] = c.Labels
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: filter})
	if err != nil {
		return nil, fmt.Errorf("list drill networks: %w", err)
	}
	for _, n := range ns.Items {
		if _, ok := owners[n.Labels[RunLabel]]; !ok {
			owners[n.Labels[RunLabel]] = n.Labels
		}
	}
	ids := make([]string, 0, len(owners))
	for id := range owners {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []CleanupResult
	var errs []error
	for _, id := range ids {
		l := owners[id]
		res := CleanupResult{RunDir: "docker run " + id}
		pid, _ := strconv.Atoi(l[harnessPIDLabel])
		if pid > 0 && sameProcess(pid, l[harnessExeLabel]) {
			res.Running = true
			out = append(out, res)
			continue
		}
		done, err := RemoveRun(ctx, id)
		res.Actions = done
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, res)
	}
	return out, errors.Join(errs...)
}

// Leftovers implements leftoverLister: the run's containers and networks
// still on the engine after Close.
func (p *dockerProvider) Leftovers(ctx context.Context) []string {
	return runLeftovers(ctx, p.cfg.RunID)
}

// leftoverLister is a Provider that can prove, after Close, that nothing it
// created survives (a container engine's objects, which have no PID the
// harness could check).
type leftoverLister interface {
	Leftovers(ctx context.Context) []string
}

var _ leftoverLister = (*dockerProvider)(nil)
