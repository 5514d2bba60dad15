package reports

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Renderer turns a report into one output format.
type Renderer interface {
	Render(w io.Writer, r *Report) error
}

// RendererFunc lets a plain function serve as a Renderer.
type RendererFunc func(w io.Writer, r *Report) error

// Render calls f.
func (f RendererFunc) Render(w io.Writer, r *Report) error { return f(w, r) }

type registration struct {
	desc string
	r    Renderer
}

var (
	mu       sync.RWMutex
	registry = map[string]registration{}
)

// Register adds a renderer under name, with a one-line description for
// `drill list`. It panics on a duplicate name, which is a programming error
// caught at init time.
func Register(name, desc string, r Renderer) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("reports: renderer %q registered twice", name))
	}
	registry[name] = registration{desc, r}
}

// Lookup returns the renderer registered as name.
func Lookup(name string) (Renderer, bool) {
	mu.RLock()
	defer mu.RUnlock()
	reg, ok := registry[name]
	return reg.r, ok
}

// Describe returns the one-line description of the renderer registered as
// name, or "" when there is none.
func Describe(name string) string {
	mu.RLock()
	defer mu.RUnlock()
	return registry[name].desc
}

// Names returns the registered renderer names, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func init() {
	Register("json", "report.json itself: the full report, the source of every other format",
		RendererFunc(Encode))
}

// files names the file each renderer writes into a run directory. The
// table is the terminal summary and json is report.json itself, written
// by Write, so neither is here.
var files = map[string]string{
	"markdown": "report.md",
	"html":     "report.html",
	"junit":    "junit.xml",
}

// FileFormats lists the registered renderers that write a file of their
// own into a run directory, sorted.
func FileFormats() []string {
	var out []string
	for _, n := range Names() {
		if _, ok := files[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// WriteFormats renders r into dir in each format, one file per format
// (report.md, junit.xml, …), each written whole or not at all. It returns
// the paths written; an unknown format or a failed renderer is an error
// naming it, after the others were written.
func WriteFormats(dir string, r *Report, formats []string) ([]string, error) {
	var written []string
	var errs []error
	for _, f := range formats {
		name, ok := files[f]
		rd, registered := Lookup(f)
		if !ok || !registered {
			errs = append(errs, fmt.Errorf("format %q writes no file (file formats: %s)", f, strings.Join(FileFormats(), ", ")))
			continue
		}
		var buf bytes.Buffer
		if err := rd.Render(&buf, r); err != nil {
			errs = append(errs, fmt.Errorf("render %s: %w", f, err))
			continue
		}
		path := filepath.Join(dir, name)
		if err := writeAtomic(path, buf.Bytes()); err != nil {
			errs = append(errs, err)
			continue
		}
		written = append(written, path)
	}
	return written, errors.Join(errs...)
}

// writeAtomic writes data to path through a temp file and a rename, so a
// reader never sees half a file.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// 0600 like the rest of a run directory: reports carry request
		// details and logs excerpts of a system that may be private.
		err = os.Chmod(tmp, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
