// Package boundedfile reads the files drill takes from its users (a
// scenario, a report.json) so that no path can hang or exhaust it: only a
// regular file, through a size limit. A FIFO would block the read forever
// and a device such as /dev/zero never ends, so both are refused before a
// byte is read.
package boundedfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Read reads the regular file at path (symbolic links followed), refusing
// anything else and anything over limit bytes; what names the input in
// the size error ("scenario", "report").
func Read(path string, limit int64, what string) ([]byte, error) {
	// Stat before opening: opening a FIFO waits for a writer, and opening
	// a device may act.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := check(path, fi, limit, what); err != nil {
		return nil, err
	}
	// O_NONBLOCK: should path become a FIFO after the Stat, the open
	// returns at once and the Stat below refuses it. Regular files ignore
	// the flag.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := check(path, fi, limit, what); err != nil {
		return nil, err
	}
	// The limit holds even for a file that grows while it is read.
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(path, limit, what)
	}
	return b, nil
}

func check(path string, fi fs.FileInfo, limit int64, what string) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is %s, not a regular file", path, kind(fi.Mode()))
	}
	if fi.Size() > limit {
		return tooLarge(path, limit, what)
	}
	return nil
}

func tooLarge(path string, limit int64, what string) error {
	return fmt.Errorf("%s is larger than %d MiB, the most a %s may be", path, limit>>20, what)
}

// kind names what a non-regular file is, for the error message.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	default:
		return "a special file"
	}
}
