package flags

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/drillhq/drill/reports"
)

// Prove is the proof of rollback step 5 for flag key, restored on s: it
// reads the flag back from s (published and served) and polls every
// instance instances names (service.version → base URL, asked again on
// every poll, since instances come and go) until each has evaluated the
// restored revision (or later) since the restore, or until deadline. A
// restore is only done when the code that reads the flag serves it: the
// flag service saying so is not enough.
func Prove(ctx context.Context, s *Server, key string, instances func() map[string]string, deadline time.Time) reports.FlagProof {
	orig := s.Original(key)
	pub, rev := s.Published(key)
	p := reports.FlagProof{Key: key, Revision: rev, Published: equal(pub, orig)}
	for {
		served, srev := s.Served(key)
		p.Served = srev >= rev && equal(served, orig)
		p.Instances, p.OK, p.Detail = instanceEvaluations(ctx, instances(), key, rev, orig.DefaultVariant)
		p.OK = p.OK && p.Published && p.Served
		if p.OK || time.Now().After(deadline) || ctx.Err() != nil {
			return p
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// instanceEvaluations asks every instance for its last evaluation of key:
// all must have evaluated revision rev or later (or fallen back to the
// default, which a restored flag serves anyway).
func instanceEvaluations(ctx context.Context, instances map[string]string, key string, rev int64, want string) ([]reports.FlagEvaluation, bool, string) {
	out := []reports.FlagEvaluation{}
	ok := true
	var missing []string
	for name, base := range instances {
		e, err := lastEvaluation(ctx, base, key)
		if err != nil {
			ok = false
			missing = append(missing, name+": "+err.Error())
			continue
		}
		e.Instance = name
		out = append(out, e)
		if e.Variant != want || (!e.Fallback && e.Revision < rev) {
			ok = false
			missing = append(missing, fmt.Sprintf("%s: last served %s at revision %d", name, e.Variant, e.Revision))
		}
	}
	return out, ok, strings.Join(missing, "; ")
}

// lastEvaluation reads one instance's GET /debug/flags for key.
func lastEvaluation(ctx context.Context, base, key string) (reports.FlagEvaluation, error) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, strings.TrimRight(base, "/")+"/debug/flags", nil)
	if err != nil {
		return reports.FlagEvaluation{}, err
	}
	res, err := probeClient.Do(req)
	if err != nil {
		return reports.FlagEvaluation{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		// A service that does not report its evaluations (not one of
		// drill's fixtures) cannot prove what it serves: say so.
		return reports.FlagEvaluation{}, fmt.Errorf("GET /debug/flags: %s (the service does not report its last flag evaluations; see fixtures/README.md)", res.Status)
	}
	var body struct {
		Flags map[string]reports.FlagEvaluation `json:"flags"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, res.Body, 1<<20)).Decode(&body); err != nil {
		return reports.FlagEvaluation{}, fmt.Errorf("GET /debug/flags: %w", err)
	}
	e, found := body.Flags[key]
	if !found {
		return e, fmt.Errorf("has not evaluated %s yet", key)
	}
	return e, nil
}

// probeClient asks instances directly, never through a proxy from the
// environment.
var probeClient = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 2 * time.Second}

// equal compares two definitions as they are published (JSON).
func equal(a, b *Flag) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
