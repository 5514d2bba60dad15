// Package procid names a process for the life of the machine (PID, start
// time, boot ID, executable, host), so that cleanup of a dead run acts only
// on what is provably still the process that run started.
package procid

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// ID names one process for the life of the machine: a PID alone is
// reused (after the process ends, and after a reboot), but not together
// with the boot ID and the process's start time.
type ID struct {
	PID   int
	Exe   string
	Start uint64 // field 22 of /proc/<pid>/stat, clock ticks since boot
	Boot  string // /proc/sys/kernel/random/boot_id when it was recorded
	Host  string // HostID() when it was recorded: where pid means something
}

// FromFields reads a process's identity from journal fields (see Identity).
func FromFields(f map[string]any) ID {
	id := ID{PID: intField(f, "pid")}
	id.Exe, _ = f["exe"].(string)
	id.Boot, _ = f["boot_id"].(string)
	id.Host, _ = f["host"].(string)
	if v, ok := f["start_time"].(float64); ok && v > 0 {
		id.Start = uint64(v)
	}
	return id
}

// Complete reports whether the journal recorded everything that proves
// the process is still the one it started. Journals of older drills have
// the pid and executable only.
func (p ID) Complete() bool {
	return p.PID > 0 && p.Exe != "" && p.Start > 0 && p.Boot != ""
}

// Alive reports whether p is still running: the same boot, the same start
// time and the same executable as journaled, and not a zombie (a dead
// harness its parent has not reaped yet).
func (p ID) Alive() bool {
	if !p.Complete() || p.Boot != BootID() || State(p.PID) == 'Z' {
		return false
	}
	st, err := StartTime(p.PID)
	if err != nil || st != p.Start {
		return false
	}
	return ExePath(p.PID) == p.Exe
}

// Identity is what the journal records beside a pid so that cleanup
// can later prove the pid is still that process: start_time, boot_id and
// host (see HostID: a journal in an --out shared with another container
// names pids of another PID namespace), as key-value pairs for
// Journal.Record. It is empty when pid is no local
// process (a container's instance has pid 0) or /proc cannot say; cleanup
// then leaves the pid alone.
func Identity(pid int) []any {
	if pid <= 0 {
		return nil
	}
	st, err := StartTime(pid)
	boot := BootID()
	if err != nil || boot == "" {
		return nil
	}
	return []any{"start_time", st, "boot_id", boot, "host", HostID()}
}

// StartTime is field 22 of /proc/<pid>/stat: when the process started,
// in clock ticks since boot. The comm field (2) may hold spaces and
// parentheses, so fields are counted after its last ')'.
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no comm field", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state).
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after comm", pid, len(fields))
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// BootID is this boot's random ID ("" when the kernel does not say): start
// times count from boot, so they identify a process only within one boot.
var BootID = sync.OnceValue(func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
})

// intField reads an integer journal field (JSON numbers decode as float64).
func intField(m map[string]any, k string) int {
	if v, ok := m[k].(float64); ok {
		return int(v)
	}
	return 0
}

// ExePath is the executable of a running process ("" when gone).
func ExePath(pid int) string {
	p, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(p, " (deleted)")
}

// State is the state letter of /proc/<pid>/stat ('T' = stopped).
func State(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// HostID names the place a harness's PID is valid in: the hostname, the
// boot ID and the PID namespace. Two CI jobs in containers on one engine
// differ in hostname and PID namespace; a reboot changes the boot ID.
// Empty when the boot ID cannot be read: then nothing is swept.
var HostID = sync.OnceValue(func() string {
	boot := BootID()
	if boot == "" {
		return ""
	}
	host, _ := os.Hostname()
	ns, _ := os.Readlink("/proc/self/ns/pid")
	return host + "/" + boot + "/" + ns
})
