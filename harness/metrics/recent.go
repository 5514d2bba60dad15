package metrics

import "sync"

// Recent keeps the last few windows of every source and label, so that a
// fault's "before" is the traffic just before it was applied rather than
// the whole drill's. Safe for concurrent use.
type Recent struct {
	n  int
	mu sync.Mutex
	ws map[string]map[string][]Window
}

// NewRecent keeps the last n windows of each source and label.
func NewRecent(n int) *Recent {
	return &Recent{n: n, ws: map[string]map[string][]Window{}}
}

// Add remembers one interval's windows, by source and label.
func (r *Recent) Add(tw map[string]map[string]Window) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for src, labels := range tw {
		if r.ws[src] == nil {
			r.ws[src] = map[string][]Window{}
		}
		for l, w := range labels {
			ws := append(r.ws[src][l], w)
			if len(ws) > r.n {
				ws = ws[len(ws)-r.n:]
			}
			r.ws[src][l] = ws
		}
	}
}

// Merged merges the remembered windows of source under label, or under
// every label when label is "".
func (r *Recent) Merged(source, label string) Window {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ws []Window
	for l, lw := range r.ws[source] {
		if label == "" || l == label {
			ws = append(ws, lw...)
		}
	}
	return Merge(ws...)
}
