package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/drillhq/drill/scenarios"
)

// maxScenarioSize bounds a scenario file, in bytes: real scenarios are a
// few KB, and the bound keeps a runaway or hostile file from filling
// memory before the parser even starts.
const maxScenarioSize = 64 << 20

// loadScenario reads the scenario file at path through readInput and
// parses it with scenarios.Parse. scenarios.Load would read any path
// whole: a FIFO blocks it forever and /dev/zero never ends.
func loadScenario(path string) (*scenarios.Scenario, error) {
	data, err := readInput(path, maxScenarioSize, "scenario")
	if err != nil {
		return nil, fmt.Errorf("load scenario: %w", err)
	}
	return scenarios.Parse(path, data)
}

// readInput reads the regular file at path (symbolic links followed),
// refusing anything else and anything over limit bytes; what names the
// input in the size error ("scenario").
func readInput(path string, limit int64, what string) ([]byte, error) {
	// Stat before opening: opening a FIFO waits for a writer, and opening
	// a device may act.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := checkInput(path, fi, limit, what); err != nil {
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
	if err := checkInput(path, fi, limit, what); err != nil {
		return nil, err
	}
	// The limit holds even for a file that grows while it is read.
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, inputTooLarge(path, limit, what)
	}
	return b, nil
}

func checkInput(path string, fi fs.FileInfo, limit int64, what string) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is %s, not a regular file", path, fileKind(fi.Mode()))
	}
	if fi.Size() > limit {
		return inputTooLarge(path, limit, what)
	}
	return nil
}

func inputTooLarge(path string, limit int64, what string) error {
	return fmt.Errorf("%s is larger than %d MiB, the most a %s may be", path, limit>>20, what)
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
