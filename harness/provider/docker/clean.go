package docker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/internal/procid"
	"github.com/moby/moby/client"
)

// Labels beside RunLabel on every container and network of a docker run:
// the harness process that owns it, so leftovers of a dead run can be told
// from a live run's wherever its journal is. A PID means something only in
// the PID namespace and boot it was read in, and one engine may serve
// several hosts (CI jobs in containers of their own, a remote DOCKER_HOST):
// harnessHostLabel names where the PID was read, harnessStartLabel makes
// it one process rather than whatever holds that PID later.
const (
	harnessPIDLabel   = "drill.pid"
	harnessExeLabel   = "drill.exe"
	harnessStartLabel = "drill.pid.start"
	harnessHostLabel  = "drill.host"
)

// ownerLabels are the labels naming process pid, on this host, as the
// owner of what carries them (see harnessHostLabel).
func ownerLabels(pid int) map[string]string {
	l := map[string]string{harnessPIDLabel: strconv.Itoa(pid), harnessExeLabel: procid.ExePath(pid), harnessHostLabel: procid.HostID()}
	if st, err := procid.StartTime(pid); err == nil {
		l[harnessStartLabel] = strconv.FormatUint(st, 10)
	}
	return l
}

// runOwner is what the labels of a run's objects say about its harness.
type runOwner int

const (
	ownerDead    runOwner = iota // started here, by a process that is gone: remove
	ownerRunning                 // its harness still runs: leave alone
	ownerUnknown                 // another host's, or unlabelled: leave alone
)

// judgeRun decides from the labels of every object of one run whether
// drill may remove it: only when all of them name this host and one
// harness process (pid and start time) that is gone. Anything else is left
// alone, with why: a run whose owner cannot be checked here may be live.
func judgeRun(runID string, objs []map[string]string) (runOwner, string) {
	me := procid.HostID()
	var pid, start string
	for i, l := range objs {
		switch {
		case l[harnessHostLabel] == "" || l[harnessPIDLabel] == "" || l[harnessStartLabel] == "":
			return ownerUnknown, fmt.Sprintf("docker run %s has no %s/%s labels (made by an older drill): left alone; "+
				"remove it by hand if it is dead: docker rm -f $(docker ps -aq --filter label=%s=%s)", runID, harnessHostLabel, harnessStartLabel, RunLabel, runID)
		case me == "":
			return ownerUnknown, fmt.Sprintf("docker run %s left alone: this host's boot ID is unreadable, so no run can be proved dead", runID)
		case l[harnessHostLabel] != me:
			return ownerUnknown, fmt.Sprintf("docker run %s was started on another host (%s): left alone", runID, l[harnessHostLabel])
		case i > 0 && (l[harnessPIDLabel] != pid || l[harnessStartLabel] != start):
			return ownerUnknown, fmt.Sprintf("docker run %s: its objects name different owners: left alone", runID)
		}
		pid, start = l[harnessPIDLabel], l[harnessStartLabel]
	}
	n, _ := strconv.Atoi(pid)
	want, _ := strconv.ParseUint(start, 10, 64)
	// A zombie is a dead harness its parent has not reaped yet.
	if st, err := procid.StartTime(n); n > 0 && err == nil && st == want && procid.State(n) != 'Z' {
		return ownerRunning, ""
	}
	return ownerDead, ""
}

// runObjects lists the labels of every container and network of a run
// (of every run when runID is empty), by run id.
func runObjects(ctx context.Context, cli client.APIClient, runID string) (map[string][]map[string]string, error) {
	filter := client.Filters{}.Add("label", RunLabel)
	if runID != "" {
		filter = client.Filters{}.Add("label", RunLabel+"="+runID)
	}
	objs := map[string][]map[string]string{}
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter})
	if err != nil {
		return nil, fmt.Errorf("list drill containers: %w", err)
	}
	for _, c := range cs.Items {
		objs[c.Labels[RunLabel]] = append(objs[c.Labels[RunLabel]], c.Labels)
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: filter})
	if err != nil {
		return nil, fmt.Errorf("list drill networks: %w", err)
	}
	for _, n := range ns.Items {
		objs[n.Labels[RunLabel]] = append(objs[n.Labels[RunLabel]], n.Labels)
	}
	return objs, nil
}

// removeDeadRun removes the containers and networks of run runID when
// their labels prove it was started on this host by a harness that is gone
// (see judgeRun), and says what it left alone otherwise.
func removeDeadRun(ctx context.Context, runID string) (provider.CleanupResult, error) {
	res := provider.CleanupResult{RunDir: "docker run " + runID}
	cli, err := dockerClient()
	if err != nil {
		return res, err
	}
	objs, err := runObjects(ctx, cli, runID)
	if err != nil {
		return res, err
	}
	return removeIfDead(ctx, runID, objs[runID])
}

func removeIfDead(ctx context.Context, runID string, objs []map[string]string) (provider.CleanupResult, error) {
	res := provider.CleanupResult{RunDir: "docker run " + runID}
	if len(objs) == 0 {
		return res, nil
	}
	switch owner, why := judgeRun(runID, objs); owner {
	case ownerRunning:
		res.Running = true
		return res, nil
	case ownerUnknown:
		res.Skipped = append(res.Skipped, why)
		return res, nil
	}
	done, err := RemoveRun(ctx, runID)
	res.Actions = done
	return res, err
}

// RemoveRun force-removes every container and network labelled with the
// run id, and untags its artifact store: what Close does last, and what `drill cleanup` does for a run
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
	tags, err := removeStore(ctx, cli, runID)
	done = append(done, tags...)
	errs = append(errs, err)
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
	tags, err := storeTags(ctx, cli, runID)
	if err != nil {
		return append(out, "cannot list the run's artifact store: "+err.Error())
	}
	for _, t := range tags {
		out = append(out, "artifact store tag "+t+" still exists")
	}
	return out
}

// sweepDocker removes the containers and networks of every drill run that
// this host started and whose harness is gone, found by label alone: runs
// whose journal is elsewhere (another --out), lost, or never written. Runs
// whose harness still runs are left alone, and so are those this host
// cannot judge (another host's on a shared engine, or labelled by an older
// drill): they are reported in Skipped. Without a reachable engine there
// is nothing to sweep.
func sweepDocker(ctx context.Context) ([]provider.CleanupResult, error) {
	cli, err := dockerClient()
	if err != nil {
		return nil, nil
	}
	objs, err := runObjects(ctx, cli, "")
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(objs))
	for id := range objs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []provider.CleanupResult
	var errs []error
	for _, id := range ids {
		res, err := removeIfDead(ctx, id, objs[id])
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, res)
	}
	return out, errors.Join(errs...)
}

// Leftovers implements provider.LeftoverLister: the run's containers and networks
// still on the engine after Close.
func (p *dockerProvider) Leftovers(ctx context.Context) []string {
	return runLeftovers(ctx, p.cfg.RunID)
}

var _ provider.LeftoverLister = (*dockerProvider)(nil)
