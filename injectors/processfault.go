package injectors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// What the process kinds (kill, pause, restart, cpu-throttle) share: the
// seeded choice of instances, polling with a deadline, and reading a
// process's state from /proc for proof of effect.

// Bounds of the polls the process kinds make. They only bound a wait that
// normally ends within milliseconds; they are not timing claims.
const (
	// goneTimeout bounds the wait for a SIGKILLed instance to be reaped.
	goneTimeout = 5 * time.Second
	// stateTimeout bounds the wait for a signalled process to show the
	// state the signal puts it in (T after SIGSTOP, not T after SIGCONT).
	stateTimeout = 2 * time.Second
)

// pickProcesses returns the target's running instances a process fault
// acts on: each one with the fault's probability, from the seeded coin,
// in the order the ProcessPoint lists them. all is how many ran.
func pickProcesses(pp ProcessPoint, c *coin) (all int, picked []Process) {
	insts := pp.Instances()
	for _, p := range insts {
		if c.flip() {
			picked = append(picked, p)
		}
	}
	return len(insts), picked
}

// findProcess returns the running instance called name, if any.
func findProcess(pp ProcessPoint, name string) Process {
	for _, p := range pp.Instances() {
		if p.Name() == name {
			return p
		}
	}
	return nil
}

// errNoProcess is returned by Apply when the target has nothing running:
// a process fault that acts on nothing must not pass for effective.
func errNoProcess(kind, target string) error {
	return fmt.Errorf("%s %s: no running instance", kind, target)
}

// procPoll checks cond every few milliseconds until it holds, timeout
// passes or ctx ends; it returns how long that took and whether cond held.
func procPoll(ctx context.Context, timeout time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	backoff := 500 * time.Microsecond
	for {
		if cond() {
			return time.Since(start), true
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return time.Since(start), cond()
		case <-deadline.C:
			t.Stop()
			return time.Since(start), cond()
		case <-t.C:
		}
		backoff = min(backoff*2, 20*time.Millisecond)
	}
}

// errNoProc says a process's state cannot be read: not on Linux, a PID
// this host cannot see (a container), or the process is gone.
var errNoProc = errors.New("process state not readable from /proc")

// procStat is what /proc/<pid>/stat says of a process.
type procStat struct {
	State byte   // R running, S sleeping, D disk, T stopped, Z zombie, …
	Ticks uint64 // utime+stime in clock ticks (USER_HZ, 100 on Linux)
}

// userHZ is the unit of /proc's CPU times; the kernel fixes it at 100 for
// user space on every architecture Go supports.
const userHZ = 100

// readProcStat reads /proc/<pid>/stat. A zombie or dead process counts as
// gone (errNoProc): it has no state a fault could have caused.
func readProcStat(pid int) (procStat, error) {
	if pid <= 0 {
		return procStat{}, errNoProc
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, errNoProc
	}
	// The command name (field 2) is in parentheses and may hold spaces or
	// parentheses itself, so fields are counted from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 { // state is field 3, utime 14, stime 15
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	st := procStat{State: f[0][0]}
	if st.State == 'Z' || st.State == 'X' || st.State == 'x' {
		return procStat{}, errNoProc
	}
	ut, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	st.Ticks = ut + stime
	return st, nil
}

// stopPending reports whether a SIGSTOP sent to pid's process group is
// still pending: the process has not been on a CPU since it was sent, so
// it runs none of its own code before it stops. On a loaded machine that
// wait is a real part of a throttle's stopped phase, while /proc still
// shows state R.
func stopPending(pid int) bool {
	if sigstopMask == 0 || pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	_, rest, ok := bytes.Cut(b, []byte("\nShdPnd:"))
	if !ok {
		return false
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	mask, err := strconv.ParseUint(string(bytes.TrimSpace(line)), 16, 64)
	return err == nil && mask&sigstopMask != 0
}

// isStoppedState reports whether a /proc state is a stopped one (SIGSTOP gives
// T; t is a traced stop).
func isStoppedState(state byte) bool { return state == 'T' || state == 't' }

// waitState polls pid's /proc state until want says yes. It returns how
// long that took, the last state seen (0 when unreadable) and whether want
// held in time.
func waitState(ctx context.Context, pid int, want func(byte) bool) (time.Duration, byte, bool) {
	var last byte
	took, ok := procPoll(ctx, stateTimeout, func() bool {
		st, err := readProcStat(pid)
		if err != nil {
			last = 0
			return false
		}
		last = st.State
		return want(st.State)
	})
	return took, last, ok
}

// procStateName spells a /proc state for a report.
func procStateName(s byte) string {
	if s == 0 {
		return "unreadable"
	}
	return "state " + string(s)
}

// pct formats a fraction as a percentage for Measured texts.
func procPct(f float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(f*100, 'f', 1, 64), ".0") + "%"
}

// round keeps reported durations readable.
func procRound(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
