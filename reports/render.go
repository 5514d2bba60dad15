package reports

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/drillhq/drill/internal/registry"
)

// Renderer turns a report into one output format.
type Renderer interface {
	Render(w io.Writer, r *Report) error
}

// RendererFunc lets a plain function serve as a Renderer.
type RendererFunc func(w io.Writer, r *Report) error

// Render calls f.
func (f RendererFunc) Render(w io.Writer, r *Report) error { return f(w, r) }

// registered is a renderer as registered: the file it writes into a run
// directory, "" for one that writes none.
type registered struct {
	Renderer
	file string
}

var renderers = registry.New[registered]("renderer")

// Register adds a renderer under name, with a one-line description for
// `drill list`; it writes no file into a run directory (RegisterFile adds
// one that does). It panics on a duplicate name, which is a programming
// error caught at init time.
func Register(name, desc string, r Renderer) {
	renderers.Register(name, desc, registered{Renderer: r})
}

// RegisterFile adds a renderer as Register does, one that also writes file
// (report.md, junit.xml, …) into a run directory: `drill run --format`
// offers it and WriteFormats writes it. The table is the terminal summary
// and json is report.json itself, written by Write, so neither registers a
// file.
func RegisterFile(name, file, desc string, r Renderer) {
	renderers.Register(name, desc, registered{Renderer: r, file: file})
}

// Lookup returns the renderer registered as name.
func Lookup(name string) (Renderer, bool) {
	reg, err := renderers.Get(name)
	if err != nil {
		return nil, false
	}
	return reg.Renderer, true
}

// Describe returns the one-line description of the renderer registered as
// name, or "" when there is none.
func Describe(name string) string { return renderers.Description(name) }

// Names returns the registered renderer names, sorted.
func Names() []string { return renderers.Names() }

func init() {
	Register("json", "report.json itself: the full report, the source of every other format",
		RendererFunc(Encode))
}

// FileFormats lists the registered renderers that write a file of their
// own into a run directory, sorted.
func FileFormats() []string {
	var out []string
	for _, n := range Names() {
		if reg, _ := renderers.Get(n); reg.file != "" {
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
		reg, err := renderers.Get(f)
		if err != nil || reg.file == "" {
			errs = append(errs, fmt.Errorf("format %q writes no file (file formats: %s)", f, strings.Join(FileFormats(), ", ")))
			continue
		}
		var buf bytes.Buffer
		if err := reg.Render(&buf, r); err != nil {
			errs = append(errs, fmt.Errorf("render %s: %w", f, err))
			continue
		}
		path := filepath.Join(dir, reg.file)
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
