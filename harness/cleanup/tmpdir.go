package cleanup

import (
	"os"

	"golang.org/x/sys/unix"
)

// memTempRoot is where a run's temp dir goes when TMPDIR does not say:
// the run's SQLite files, PostgreSQL data directories and built binaries
// live there. Memory-backed storage keeps the system under test's
// latencies independent of the host's disk, which the harness shares with
// the compilers and whatever else runs (measured: on a disk kept busy by
// three writers the steady-state p99 of the orders drill went from 3 ms to
// 120 ms, and recovery windows missed the baseline). A drill measures the
// release, not the disk; the data is thrown away at teardown anyway.
const memTempRoot = "/dev/shm"

// minMemTempFree is the free space memTempRoot must have to be used: a
// drill's binaries and databases take tens of MiB, so this leaves ample
// room for long drills and several runs side by side.
const minMemTempFree = 1 << 30

// TempRoot picks the directory a run's temp dir is created in: TMPDIR when
// the user set it, else memTempRoot when it is a tmpfs that allows
// executables and has room, else the system default.
func TempRoot() string {
	if os.Getenv("TMPDIR") != "" {
		return os.TempDir()
	}
	if memTempUsable(memTempRoot) {
		return memTempRoot
	}
	return os.TempDir()
}

// memTempUsable reports whether dir is a writable, exec-allowed tmpfs with
// at least minMemTempFree bytes free.
func memTempUsable(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	if st.Type != unix.TMPFS_MAGIC || st.Flags&(unix.ST_NOEXEC|unix.ST_RDONLY) != 0 {
		return false
	}
	if uint64(st.Bavail)*uint64(st.Bsize) < minMemTempFree {
		return false
	}
	return unix.Access(dir, unix.W_OK|unix.X_OK) == nil
}
