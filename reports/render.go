package reports

import (
	"fmt"
	"io"
	"sort"
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
