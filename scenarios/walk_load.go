package scenarios

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

func (w *walk) load(o *object) LoadSpec {
	l := LoadSpec{Timeout: DefaultTimeout, Pos: w.pos(o.at)}
	o.require(loadFields.required...)
	if o.str("target", &l.Target) {
		w.refService(o.get("target"), "target", l.Target)
	}
	switch {
	case o.has("rate") && o.has("ramp"):
		w.add(o.key("ramp"), "", "set rate or ramp, not both")
	case !o.has("rate") && !o.has("ramp") && o.present && o.ok:
		w.add(o.at, "e.g. rate: 200/s, or ramp: {from: 50/s, to: 400/s, over: 30s}",
			"missing required field \"rate\" (or \"ramp\") in load")
	}
	if o.rate("rate", &l.Rate) && l.Rate.Freq <= 0 {
		w.add(o.get("rate"), "", "rate: must be positive, got %s", l.Rate)
	}
	if o.has("ramp") {
		l.Ramp = w.ramp(o.child("ramp", rampFields.known...))
	}
	if o.duration("timeout", &l.Timeout) && l.Timeout <= 0 {
		w.add(o.get("timeout"), "", "timeout: must be positive")
	}

	items := o.list("requests")
	if n := o.get("requests"); n != nil && len(items) == 0 && (isNull(n) || n.Kind == yaml.SequenceNode) {
		w.add(o.key("requests"), "", "load.requests: at least one request is required")
	}
	type text struct {
		n     *yaml.Node
		field string
	}
	var texts []text
	names := map[string]*yaml.Node{}
	for i, n := range items {
		r := &Request{Method: DefaultMethod, Weight: DefaultWeight, Pos: w.pos(n)}
		ro := w.object(nil, n, fmt.Sprintf("load.requests[%d]", i), requestFields.known...)
		ro.require(requestFields.required...)
		if ro.str("name", &r.Name) && w.printable(ro.get("name"), "request name", r.Name, "") {
			if first, dup := names[r.Name]; dup {
				w.add(ro.get("name"), "", "duplicate request name %q (first at line %d)", r.Name, first.Line)
			} else {
				names[r.Name] = ro.get("name")
			}
		}
		if ro.str("method", &r.Method) && !slices.Contains(methods, r.Method) {
			w.add(ro.get("method"), didYouMean(r.Method, methods), "unknown method %q (known: %s)", r.Method, strings.Join(methods, ", "))
		}
		if ro.str("path", &r.Path) {
			if !strings.HasPrefix(r.Path, "/") {
				w.add(ro.get("path"), "the load goes to the target's router; give only the path, e.g. /orders",
					"path: %q must start with /", r.Path)
			}
			texts = append(texts, text{ro.get("path"), "path"})
		}
		if n := ro.get("body"); n != nil && n.Kind == yaml.MappingNode {
			w.add(n, "quote the body as a string: body: '{\"sku\":\"SKU-${seq}\"}'", "body: expected a string, got a mapping")
		} else if ro.str("body", &r.Body) {
			texts = append(texts, text{ro.get("body"), "body"})
		}
		for _, h := range ro.strMap("headers", &r.Headers) {
			texts = append(texts, text{h.v, "header " + h.k.Value})
		}
		if ro.int("weight", &r.Weight) && r.Weight < 1 {
			w.add(ro.get("weight"), "weights are relative shares of the load mix, e.g. 3 and 1",
				"weight: must be at least 1, got %d", r.Weight)
		}
		if ro.has("ledger") {
			lo := ro.child("ledger", requestLedgerFields.known...)
			lo.require(requestLedgerFields.required...)
			r.Ledger = &LedgerKey{}
			lo.str("key", &r.Ledger.Key)
			w.haveLedger = true
		}
		l.Requests = append(l.Requests, r)
	}
	for _, t := range texts {
		w.checkRequestPlaceholders(t.n, t.field, t.n.Value, w.haveLedger)
	}
	return l
}

func (w *walk) ramp(o *object) *Ramp {
	r := &Ramp{}
	o.require(rampFields.required...)
	o.rate("from", &r.From)
	if o.rate("to", &r.To) && r.To.Freq <= 0 {
		w.add(o.get("to"), "", "to: must be positive, got %s", r.To)
	}
	if o.duration("over", &r.Over) && r.Over <= 0 {
		w.add(o.get("over"), "", "over: must be positive")
	}
	return r
}

func (w *walk) steadyState(o *object) SteadyState {
	ss := SteadyState{Pos: w.pos(o.at), Attempts: DefaultSteadyStateAttempts, Warmup: DefaultWarmup}
	o.require(steadyStateFields.required...)
	if o.duration("duration", &ss.Duration) && ss.Duration <= 0 {
		w.add(o.get("duration"), "", "duration: must be positive")
	}
	o.duration("warmup", &ss.Warmup) // 0s: none
	if o.int("attempts", &ss.Attempts) && ss.Attempts < 1 {
		w.add(o.get("attempts"), "1 measures the hypothesis once and gives up at the first miss", "attempts: must be at least 1, got %d", ss.Attempts)
	} else if ss.Attempts > MaxSteadyStateAttempts {
		// The run's length is attempts × duration: bounded, it cannot
		// overflow.
		w.add(o.get("attempts"), "a system that misses this many measurements is not in a steady state",
			"attempts: at most %d, got %d", MaxSteadyStateAttempts, ss.Attempts)
	}
	for i, n := range o.list("slo") {
		slo := &SLO{Pos: w.pos(n)}
		so := w.object(nil, n, fmt.Sprintf("steady_state.slo[%d]", i), sloFields.known...)
		so.require(sloFields.required...)
		known := false
		if so.str("metric", &slo.Metric) {
			known = w.metric(so.get("metric"), slo.Metric, false)
		}
		if known && so.has("max") {
			if v := w.threshold(so.get("max"), "max", slo.Metric); v != nil {
				slo.Max = *v
			}
		}
		ss.SLO = append(ss.SLO, slo)
	}
	return ss
}

// metric checks a metric name and reports whether its unit is known (it
// is supported, or planned and refused). analysis says whether the metric
// is an analysis check (instance metrics are supported there) rather than
// a steady-state SLO.
func (w *walk) metric(n *yaml.Node, m string, analysis bool) bool {
	supported := supportedMetrics
	if analysis {
		supported = append(slices.Clip(supportedMetrics), instanceMetrics...)
	}
	switch {
	case slices.Contains(supported, m):
		return true
	case slices.Contains(instanceMetrics, m):
		w.add(n, "", "metric %q is not supported yet in steady_state.slo (supported: %s; it is supported in rollout.analysis.metrics)", m, strings.Join(supported, ", "))
		return true
	case strings.HasPrefix(m, InvariantPrefix):
		name := strings.TrimPrefix(m, InvariantPrefix)
		if name == "" {
			w.add(n, "write invariant:NAME, naming one of verify.data.invariants", "metric %q names no invariant", m)
			return false
		}
		if !analysis {
			w.add(n, "invariants are checked at every analysis interval (rollout.analysis.metrics) and at the end (verify.data.invariants)",
				"metric %q is not supported in steady_state.slo", m)
			return false
		}
		w.invariantRefs = append(w.invariantRefs, invariantRef{name, n})
		return true
	}
	known := append(slices.Clip(supportedMetrics), instanceMetrics...)
	w.add(n, didYouMean(m, known), "unknown metric %q (known: %s, invariant:NAME)", m, strings.Join(known, ", "))
	return false
}

// threshold reads a bound on metric, converting it to the metric's
// canonical unit.
func (w *walk) threshold(n *yaml.Node, name, metric string) *Value {
	unit := MetricUnit(metric)
	if !w.scalar(n, name, "a threshold") {
		return nil
	}
	v, err := parseThreshold(unit, n.Value)
	if err != nil {
		w.addErr(n, name, err)
		return nil
	}
	if v < 0 && unit != UnitNumber {
		w.add(n, "", "%s: must not be negative, got %s", name, n.Value)
		return nil
	}
	if metric == MetricErrorRate && v > 1 {
		w.add(n, "", "%s: an error rate cannot exceed 100%%, got %s", name, n.Value)
		return nil
	}
	return &Value{V: v, Raw: n.Value}
}
