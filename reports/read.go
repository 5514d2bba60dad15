package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxReportSize bounds the report.json that Read accepts, in bytes. A real
// drill's report is a few MB (its series and timeline grow with the
// drill's length); the bound is far above that and low enough that a
// report path that is a link to /dev/zero, or a runaway file, fails at
// once instead of filling memory.
const MaxReportSize = 512 << 20

// Decode parses data, the bytes of a report.json, into a Report with nil
// lists and maps made empty, as Read does. Bytes that are not a drill
// report (not JSON, no schema_version) or that a newer drill wrote (a
// higher schema_version) are an error, never a half-read report.
func Decode(data []byte) (*Report, error) {
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	switch {
	case r.SchemaVersion == 0:
		return nil, errors.New("no schema_version: not a drill report")
	case r.SchemaVersion < 0:
		return nil, fmt.Errorf("schema_version %d is not a version: not a drill report", r.SchemaVersion)
	case r.SchemaVersion > SchemaVersion:
		return nil, fmt.Errorf("schema_version %d is newer than this drill understands (%d); upgrade drill", r.SchemaVersion, SchemaVersion)
	}
	r = r.normalized()
	return &r, nil
}

// readRegular reads the regular file at path (symbolic links followed),
// refusing anything else and anything over limit bytes. A FIFO would
// block the read forever and a device such as /dev/zero never ends, so
// both are refused before a byte is read.
func readRegular(path string, limit int64) ([]byte, error) {
	// Stat first, so that a FIFO or a device is not even opened: opening
	// a FIFO waits for a writer, and opening some devices acts.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(path, fi, limit); err != nil {
		return nil, err
	}
	// O_NONBLOCK: should the path turn into a FIFO between the Stat and
	// the open, the open returns instead of waiting for a writer, and the
	// Stat of the open file below refuses it. Regular files ignore it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := checkRegular(path, fi, limit); err != nil {
		return nil, err
	}
	// The limit holds even for a file that grows while it is read.
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(path, limit)
	}
	return b, nil
}

// checkRegular refuses fi unless it is a regular file of at most limit
// bytes.
func checkRegular(path string, fi fs.FileInfo, limit int64) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is %s, not a regular file", path, fileKind(fi.Mode()))
	}
	if fi.Size() > limit {
		return tooLarge(path, limit)
	}
	return nil
}

func tooLarge(path string, limit int64) error {
	return fmt.Errorf("%s is larger than %d MiB, the most a report may be", path, limit>>20)
}

// fileKind names what a non-regular file is, for the error message.
func fileKind(m fs.FileMode) string {
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
