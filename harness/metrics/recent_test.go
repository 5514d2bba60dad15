package metrics

import "testing"

// TestRecentKeepsTheLastWindows: only the last n windows of a label count,
// one label or all of a source's, and an unknown source is empty.
func TestRecentKeepsTheLastWindows(t *testing.T) {
	r := NewRecent(2)
	for i := int64(1); i <= 3; i++ {
		r.Add(map[string]map[string]Window{"router:web": {
			"v1": {Source: "router:web", Label: "v1", Requests: i, Hist: mergeHists()},
			"v2": {Source: "router:web", Label: "v2", Requests: 10 * i, Hist: mergeHists()},
		}})
	}
	if got := r.Merged("router:web", "v1").Requests; got != 2+3 {
		t.Errorf("v1's last two windows: %d requests, want 5", got)
	}
	if got := r.Merged("router:web", "").Requests; got != 2+3+20+30 {
		t.Errorf("every label: %d requests, want 55", got)
	}
	if got := r.Merged("router:api", "").Requests; got != 0 {
		t.Errorf("unknown source: %d requests", got)
	}
}
