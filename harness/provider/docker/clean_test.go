package docker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/internal/procid"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
)

// TestSweepDockerLeavesOtherHostsRuns puts on the engine three runs whose
// harness pid is dead here: one labelled as started on another host (a CI
// job in another container on the same engine, whose pid means nothing in
// this PID namespace), one labelled by an older drill (no host, no start
// time), and one this host started. The sweep used to remove all three; it
// must remove only the last and say why it left the others. Cleanup from a
// journal naming the other host's run must leave it alone too.
func TestSweepDockerLeavesOtherHostsRuns(t *testing.T) {
	img := pricingImage(t)
	ctx := context.Background()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := strconv.Itoa(gone.Process.Pid)
	stamp := time.Now().UnixNano()
	foreign, unlabelled, mine := fmt.Sprintf("test-foreign-%d", stamp), fmt.Sprintf("test-unlabelled-%d", stamp), fmt.Sprintf("test-mine-%d", stamp)
	cli, _ := dockerClient()
	start := func(labels map[string]string, withNetwork bool) string {
		t.Helper()
		t.Cleanup(func() { _, _ = RemoveRun(context.Background(), labels[RunLabel]) })
		req := testcontainers.ContainerRequest{Image: img, Labels: labels, Env: map[string]string{"PORT": "8080", "HOST": "0.0.0.0"}}
		if withNetwork {
			nw, err := tcnetwork.New(ctx, tcnetwork.WithLabels(labels))
			if err != nil {
				t.Fatal(err)
			}
			req.Networks = []string{nw.Name}
		}
		ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{Started: true, ContainerRequest: req})
		if err != nil {
			t.Fatal(err)
		}
		return ctr.GetContainerID()
	}
	exe := procid.ExePath(os.Getpid())
	foreignID := start(map[string]string{RunLabel: foreign, harnessPIDLabel: deadPID, harnessExeLabel: exe, harnessStartLabel: "1",
		harnessHostLabel: "ci-job-2/" + procid.BootID() + "/pid:[4026532999]"}, true)
	unlabelledID := start(map[string]string{RunLabel: unlabelled, harnessPIDLabel: deadPID, harnessExeLabel: exe}, false)
	start(map[string]string{RunLabel: mine, harnessPIDLabel: deadPID, harnessExeLabel: exe, harnessStartLabel: "1",
		harnessHostLabel: procid.HostID()}, true)

	// By run id first, as `drill cleanup` asks from a journal copied from
	// the other host (a shared --out): the labels, not the journal, decide.
	res, err := removeDeadRun(ctx, foreign)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Actions) != 0 || len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0], "another host") {
		t.Errorf("cleanup of the other host's journal = %+v, want its run left alone and said so", res)
	}

	results, err := sweepDocker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{foreign: "another host", unlabelled: "older drill", mine: ""}
	for _, r := range results {
		id := strings.TrimPrefix(r.RunDir, "docker run ")
		why, ok := want[id]
		if !ok {
			continue
		}
		delete(want, id)
		switch {
		case r.Running:
			t.Errorf("%s: judged running", id)
		case why == "" && (len(r.Actions) != 2 || len(r.Skipped) != 0):
			t.Errorf("%s: %+v, want its container and network removed", id, r)
		case why != "" && (len(r.Actions) != 0 || len(r.Skipped) != 1 || !strings.Contains(r.Skipped[0], why)):
			t.Errorf("%s: %+v, want it left alone because of %q", id, r, why)
		}
	}
	if len(want) != 0 {
		t.Errorf("the sweep did not report %v: %+v", want, results)
	}
	for _, id := range []string{foreignID, unlabelledID} {
		if _, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{}); err != nil {
			t.Errorf("container %s of a run this host cannot judge was removed: %v", shortID(id), err)
		}
	}
	if left := runLeftovers(ctx, foreign); len(left) != 2 {
		t.Errorf("the other host's run: %v, want its container and network", left)
	}
	if left := runLeftovers(ctx, mine); len(left) != 0 {
		t.Errorf("this host's dead run left: %v", left)
	}
}

// TestOwnerLabels labels a live process with this host and its start time,
// which judgeRun then finds running; the same labels with another start
// time (the pid reused) are a dead run's.
func TestOwnerLabels(t *testing.T) {
	l := ownerLabels(os.Getpid())
	if l[harnessHostLabel] == "" || l[harnessStartLabel] == "" || l[harnessPIDLabel] != strconv.Itoa(os.Getpid()) {
		t.Fatalf("ownerLabels = %v", l)
	}
	if owner, why := judgeRun("r", []map[string]string{l, l}); owner != ownerRunning {
		t.Errorf("own labels: %v %q, want running", owner, why)
	}
	reused := map[string]string{}
	for k, v := range l {
		reused[k] = v
	}
	reused[harnessStartLabel] = "1"
	if owner, why := judgeRun("r", []map[string]string{reused}); owner != ownerDead {
		t.Errorf("reused pid: %v %q, want dead", owner, why)
	}
	if owner, _ := judgeRun("r", []map[string]string{l, reused}); owner != ownerUnknown {
		t.Errorf("objects naming two owners: %v, want left alone", owner)
	}
}

// TestZombieHarnessIsDead: a harness killed by SIGKILL whose parent has
// not reaped it yet still has its /proc entry and start time, but it is
// dead: its run's containers and processes are leftovers.
func TestZombieHarnessIsDead(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	pid := cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for procid.State(pid) != 'Z' {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never became a zombie (state %q)", pid, procid.State(pid))
		}
		time.Sleep(5 * time.Millisecond) // polling its state, not waiting for luck
	}
	st, err := procid.StartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	l := map[string]string{harnessPIDLabel: strconv.Itoa(pid), harnessHostLabel: procid.HostID(), harnessStartLabel: strconv.FormatUint(st, 10)}
	if owner, why := judgeRun("r", []map[string]string{l}); owner != ownerDead {
		t.Errorf("zombie harness: %v %q, want dead", owner, why)
	}
	if (procid.ID{PID: pid, Exe: "/bin/true", Start: st, Boot: procid.BootID()}).Alive() {
		t.Error("procid.ID.Alive is true for a zombie")
	}
}
