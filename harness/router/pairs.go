package router

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/drillhq/drill/harness/contract"
	"github.com/drillhq/drill/harness/metrics"
)

// HeaderCaller names the calling service and version on a request
// between services ("orders/v2"); the fixtures send it on every call (see
// contract.HeaderCaller). The router reads its version part to count the
// request under its (caller version, served version) pair.
const HeaderCaller = contract.HeaderCaller

// Pair is the traffic one caller version sent to one version of the
// router's service: a cell of a release's compatibility matrix.
type Pair struct {
	// Caller is the calling service: the one whose listener (CallerURL)
	// the requests arrived through.
	Caller string
	// CallerVersion is the version part of the requests' X-Drill-Caller
	// header, "" when they carried none (or one without a version).
	CallerVersion string
	// Version is the version of the service that served them.
	Version string
	// Requests counts the requests; Failed those that failed by the
	// recorder's definition (metrics.Outcome.Failed: a 5xx or a
	// transport error).
	Requests, Failed int64
}

// pairKey identifies a Pair.
type pairKey struct{ caller, callerVersion, version string }

type pairCount struct{ requests, failed atomic.Int64 }

// Pairs returns a snapshot of the traffic counted per (caller, caller
// version, served version), sorted by caller, caller version, version.
// Only requests that arrived through a caller's listener (CallerURL) are
// pairs: the load generator's (main listener) and preview requests are
// not. Counts start when the router is made and are never reset.
func (rt *Router) Pairs() []Pair {
	var out []Pair
	rt.pairs.Range(func(k, v any) bool {
		key, c := k.(pairKey), v.(*pairCount)
		out = append(out, Pair{Caller: key.caller, CallerVersion: key.callerVersion, Version: key.version,
			Requests: c.requests.Load(), Failed: c.failed.Load()})
		return true
	})
	slices.SortFunc(out, func(a, b Pair) int {
		return strings.Compare(a.Caller+"\x00"+a.CallerVersion+"\x00"+a.Version, b.Caller+"\x00"+b.CallerVersion+"\x00"+b.Version)
	})
	return out
}

func (rt *Router) pairCounter(k pairKey) *pairCount {
	if c, ok := rt.pairs.Load(k); ok {
		return c.(*pairCount)
	}
	c, _ := rt.pairs.LoadOrStore(k, new(pairCount))
	return c.(*pairCount)
}

// SetContracts installs the contracts whose live answers the router
// checks, replacing those installed before. A request is checked against
// a contract when it arrived through the listener of the contract's
// Consumer (CallerURL), with the contract's request method, and its path
// without the query equals the contract's path without the query
// (contract.Contract.MatchPath): "/price?sku=SKU-1&qty=2" covers every GET
// /price of the consumer. For such a request the router keeps a copy of
// the body the client receives (up to contract.MaxBody; a longer answer
// fails the check), without changing what the client gets, and validates
// the status and body with the contract. Answers the client did not get
// whole (a transport error, an aborted copy) are not checked: pairs count
// them as failures, a contract judges answers. Counts are kept per
// (contract, caller version, served version) across calls; nil removes
// every contract.
func (rt *Router) SetContracts(cs []*contract.Contract) {
	list := slices.Clone(cs)
	rt.contracts.Store(&list)
}

// Observed returns the live contract checks per (contract, consumer
// version, provider version), as contract results of phase "during",
// sorted by contract, consumer version, provider version. Detail is the
// first failure's.
func (rt *Router) Observed() []contract.Result {
	var out []contract.Result
	rt.observed.Range(func(k, v any) bool {
		key, o := k.(obsKey), v.(*observation)
		r := contract.Result{Contract: key.contract, ConsumerVersion: key.callerVersion, ProviderVersion: key.version,
			Phase: contract.PhaseDuring, Checked: int(o.checked.Load()), Failed: int(o.failed.Load())}
		r.OK = r.Checked > 0 && r.Failed == 0
		o.mu.Lock()
		r.Detail = o.detail
		o.mu.Unlock()
		out = append(out, r)
		return true
	})
	slices.SortFunc(out, func(a, b contract.Result) int {
		return strings.Compare(a.Contract+"\x00"+a.ConsumerVersion+"\x00"+a.ProviderVersion, b.Contract+"\x00"+b.ConsumerVersion+"\x00"+b.ProviderVersion)
	})
	return out
}

type obsKey struct{ contract, callerVersion, version string }

type observation struct {
	checked, failed atomic.Int64
	mu              sync.Mutex
	detail          string // the first failure's
}

// pairing is what the router notes about a request between services
// while it is served, to count it once the response is written.
type pairing struct {
	count  *pairCount
	checks []*contract.Contract // the contracts that match it, nil for none
	uri    string               // the request's, for a failure's detail; set with checks
	key    pairKey
}

// pair starts the accounting of a request that arrived through caller's
// listener and was routed to version; it tees the response body into w
// when a contract matches. The load generator's requests never get here.
func (rt *Router) pair(r *http.Request, caller, version string, w *statusWriter) pairing {
	_, cv, _ := strings.Cut(r.Header.Get(HeaderCaller), "/")
	p := pairing{key: pairKey{caller: caller, callerVersion: cv, version: version}}
	p.count = rt.pairCounter(p.key)
	for _, c := range *rt.contracts.Load() {
		if c.Consumer == caller && c.Request.Method == r.Method && c.MatchPath(r.URL.Path) {
			p.checks = append(p.checks, c)
		}
	}
	if p.checks != nil {
		p.uri = r.URL.RequestURI()
		w.tee = &tee{}
	}
	return p
}

// done counts the request's outcome under its pair and checks its answer
// against the matching contracts.
func (rt *Router) done(p pairing, w *statusWriter, aborted bool) {
	o := metrics.Outcome{Status: w.status, Err: w.err || aborted}
	if o.Status == 0 && !o.Err {
		o.Status = http.StatusOK
	}
	p.count.requests.Add(1)
	if o.Failed() {
		p.count.failed.Add(1)
	}
	if p.checks == nil || o.Err {
		return
	}
	for _, c := range p.checks {
		// A 5xx the contract does not expect is the provider failing, not
		// answering: its error rate is the judge's, not a contract verdict
		// (as contract.Check treats it).
		if o.Status >= 500 && c.Expect.Status < 500 {
			continue
		}
		var err error
		if w.tee.over {
			err = fmt.Errorf("answer larger than %d bytes", contract.MaxBody)
		} else {
			err = c.Validate(o.Status, w.tee.buf)
		}
		rt.observe(obsKey{contract: c.Name, callerVersion: p.key.callerVersion, version: p.key.version}, p.uri, c, err)
	}
}

// observe counts one checked answer of contract c to the request uri.
func (rt *Router) observe(k obsKey, uri string, c *contract.Contract, err error) {
	v, ok := rt.observed.Load(k)
	if !ok {
		v, _ = rt.observed.LoadOrStore(k, new(observation))
	}
	o := v.(*observation)
	o.checked.Add(1)
	if err == nil {
		return
	}
	o.failed.Add(1)
	o.mu.Lock()
	if o.detail == "" {
		o.detail = fmt.Sprintf("%s %s: %v", c.Request.Method, uri, err)
	}
	o.mu.Unlock()
}

// tee keeps a copy of a response body, up to contract.MaxBody.
type tee struct {
	buf  []byte
	over bool // the body was longer: buf holds only its start
}

func (t *tee) write(b []byte) {
	room := contract.MaxBody - len(t.buf)
	if len(b) > room {
		t.over = true
		b = b[:room]
	}
	t.buf = append(t.buf, b...)
}
