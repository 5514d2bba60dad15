package scenarios

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/strategy"
)

// Approval gates.
const ApprovalManual = "manual"

func (w *walk) rollout(o *object) Rollout {
	r := Rollout{Strategy: DefaultStrategy, OnFailure: DefaultOnFailure, Pos: w.pos(o.at)}
	o.str("strategy", &r.Strategy)
	kind, kerr := strategy.Lookup(r.Strategy)
	if o.has("strategy") {
		// The strategies are asked, not listed: each registers itself.
		w.choice(o.get("strategy"), "strategy", r.Strategy, strategy.Names(), nil)
	}
	isRelease := o.has("release")
	switch {
	case isRelease:
		w.release(o, &r, kind)
	case kind.NoSteps:
		o.require("service", "to")
	default:
		o.require("service", "to", "steps")
	}
	if isRelease && !kind.NoSteps {
		o.require("steps")
	}
	var svc *Service
	if !isRelease && o.str("service", &r.Service) {
		svc = w.refService(o.get("service"), "service", r.Service)
		if svc != nil && kind.Previews && w.loadTarget != "" && w.loadTarget != r.Service {
			w.add(o.get("service"), fmt.Sprintf("release %s with load.target: %s, or use another strategy", w.loadTarget, r.Service),
				"service: strategy %s previews the new version with the load's own requests, which are written for %s, not %s", r.Strategy, w.loadTarget, r.Service)
		}
	}
	r.StrategyParams = w.strategySettings(o, r.Strategy)
	if !isRelease {
		o.str("to", &r.To)
		r.Release = []*Move{{Service: r.Service, To: r.To, Pos: r.Pos}}
	}
	switch {
	case kerr != nil, isRelease:
	case kind.Moves == strategy.MovesVariant:
		r.Flag, _ = r.StrategyParams.(string)
		w.rolloutVariant(o, &r)
	case o.has("to") && svc != nil && len(svc.Versions) > 0:
		if w.refVersion(o.get("to"), "to", svc, r.To) != nil && r.To == svc.Baseline {
			w.add(o.get("to"), "roll out another version, or set the service's baseline",
				"to: %q is the baseline version of %q already", r.To, svc.Name)
		}
	}
	if kind.NoSteps && o.has("steps") {
		w.add(o.key("steps"), fmt.Sprintf("leave steps out: %s's phases come from its own settings (%s)", r.Strategy, kind.Field),
			"steps: strategy %s moves all traffic at once and takes no steps", r.Strategy)
	}
	steps := o.list("steps")
	if n := o.get("steps"); !kind.NoSteps && n != nil && len(steps) == 0 && (isNull(n) || n.Kind == yaml.SequenceNode) {
		w.add(o.key("steps"), "e.g. steps: [{weight: 10%, hold: 15s}, {weight: 100%, hold: 10s}]",
			"rollout.steps: at least one step is required")
	}
	last := 0.0
	for i, n := range steps {
		r.Steps = append(r.Steps, w.step(n, i, &last))
	}
	r.Analysis = w.analysis(o.child("analysis", analysisFields.known...))
	if w.minSamplesAt == nil {
		w.minSamplesAt = o.at
	}
	if o.str("on_failure", &r.OnFailure) {
		w.choice(o.get("on_failure"), "on_failure policy", r.OnFailure, failurePolicies, nil)
	}
	return r
}

// release walks `release:`, the services one rollout moves together in
// the listed order. It sets Service and To to the first entry, so that
// what reads one rollout service (the steady state's reference, the plan)
// reads the release's first.
func (w *walk) release(o *object, r *Rollout, kind strategy.Kind) {
	for _, k := range []string{"service", "to"} {
		if o.has(k) {
			w.add(o.key(k), "list every service under release: {service, to} entries, or drop release:",
				"%s: a rollout moves either release: or service/to, not both", k)
		}
	}
	if kind.Moves == strategy.MovesVariant || kind.Previews {
		w.add(o.key("release"), "use strategy: canary for a release of several services",
			"release: strategy %s moves one service; a release of several services needs a strategy that moves versions without a preview", r.Strategy)
	}
	items := o.list("release")
	if len(items) == 0 {
		w.add(o.get("release"), "e.g. release: [{service: pricing, to: v2}, {service: orders, to: v2}]", "release: at least one service is required")
	}
	seen := map[string]bool{}
	for i, n := range items {
		m := &Move{Pos: w.pos(n)}
		mo := w.object(nil, n, fmt.Sprintf("rollout.release[%d]", i), releaseFields.known...)
		mo.require(releaseFields.required...)
		var svc *Service
		if mo.str("service", &m.Service) {
			svc = w.refService(mo.get("service"), "service", m.Service)
			if seen[m.Service] {
				w.add(mo.get("service"), "list each service once", "service: %s is already in this release", m.Service)
			}
			seen[m.Service] = true
		}
		if mo.str("to", &m.To) && svc != nil {
			if w.refVersion(mo.get("to"), "to", svc, m.To) != nil && m.To == svc.Baseline {
				w.add(mo.get("to"), "roll out another version, or set the service's baseline",
					"to: %q is the baseline version of %q already", m.To, svc.Name)
			}
		}
		r.Release = append(r.Release, m)
	}
	if len(r.Release) > 0 {
		r.Service, r.To = r.Release[0].Service, r.Release[0].To
	}
}

// rolloutVariant checks a flag rollout: `flag:` names a flag of the
// scenario and `to:` one of its variants other than its default.
func (w *walk) rolloutVariant(o *object, r *Rollout) {
	if !o.has(r.Strategy) && !o.has("flag") {
		w.add(o.at, "e.g. flag: new-pricing", "rollout: strategy %s needs flag: (the flag it moves)", r.Strategy)
		return
	}
	f := w.flags[r.Flag]
	if f == nil {
		var keys []string
		for k := range w.flags {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		w.add(o.get("flag"), didYouMean(r.Flag, keys), "flag: unknown flag %q (flags: %s)", r.Flag, orNone(keys))
		return
	}
	if !o.has("to") {
		return
	}
	variants := slices.Sorted(maps.Keys(f.Variants))
	switch {
	case f.Variants[r.To] == nil && !slices.Contains(variants, r.To):
		w.add(o.get("to"), didYouMean(r.To, variants), "to: %q is not a variant of flag %s (variants: %s)", r.To, r.Flag, orNone(variants))
	case r.To == f.DefaultVariant:
		w.add(o.get("to"), "roll out another variant", "to: %q is the default variant of flag %s already", r.To, r.Flag)
	}
}

// strategySettings hands the strategy its own rollout field (blue-green's
// blue_green), and refuses another strategy's settings: they would be
// silently ignored.
func (w *walk) strategySettings(o *object, name string) any {
	var kind strategy.Kind
	if k, err := strategy.Lookup(name); err == nil {
		kind = k
	}
	for field, owner := range strategy.Fields() {
		if field != kind.Field && o.has(field) {
			w.add(o.key(field), fmt.Sprintf("set strategy: %s, or leave %s out", owner, field),
				"%s: settings of strategy %s, not %s", field, owner, name)
		}
	}
	if kind.Field == "" || kind.Parse == nil {
		return nil
	}
	n := o.get(kind.Field)
	at := n
	if at == nil {
		at = o.get("strategy")
	}
	v, _ := w.decodeOwned(n, at, "rollout."+kind.Field, kind.Parse)
	return v
}

// step walks one rollout step; last is the highest weight so far.
func (w *walk) step(n *yaml.Node, i int, last *float64) *Step {
	st := &Step{Pos: w.pos(n)}
	o := w.object(nil, n, fmt.Sprintf("rollout.steps[%d]", i), stepFields.known...)
	hasWeight, hasApproval := o.has("weight"), o.has("approval")
	switch {
	case hasWeight && hasApproval:
		w.add(o.key("approval"), "split it into two steps", "a step has a weight or an approval, not both")
	case !hasWeight && !hasApproval && o.present && o.ok:
		w.add(o.at, "e.g. {weight: 10%, hold: 15s} or {approval: manual}", "a step needs a weight or an approval")
	}
	if o.percent("weight", &st.Weight) {
		switch {
		case st.Weight <= 0 || st.Weight > 1:
			w.add(o.get("weight"), "", "weight: %s is outside (0%%, 100%%]", o.get("weight").Value)
		case st.Weight <= *last:
			w.add(o.get("weight"), "step weights must strictly increase",
				"weight: %s does not increase on the previous step's %s", o.get("weight").Value, percentString(*last))
		default:
			*last = st.Weight
		}
	}
	if o.duration("hold", &st.Hold) && hasApproval && !hasWeight {
		w.add(o.key("hold"), "an approval step waits for the operator", "hold only applies to a weight step")
	}
	if o.str("approval", &st.Approval) && !slices.Contains(approvals, st.Approval) {
		w.add(o.get("approval"), didYouMean(st.Approval, approvals),
			"unknown approval %q (known: manual)", st.Approval)
	}
	w.gateTimeout(o, fmt.Sprintf("rollout.steps[%d]", i), hasApproval, &st.Timeout, &st.OnTimeout)
	return st
}

func percentString(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.4f", f*100), "0"), ".") + "%"
}

func (w *walk) analysis(o *object) Analysis {
	a := Analysis{
		Interval:          DefaultInterval,
		Judge:             DefaultJudge,
		FalsePositiveRate: DefaultFalsePositiveRate,
		Failures:          DefaultFailures,
		MinSamples:        DefaultMinSamples,
		OnNoData:          DefaultOnNoData,
	}
	if o.duration("interval", &a.Interval) && a.Interval <= 0 {
		w.add(o.get("interval"), "", "interval: must be positive")
	}
	if o.str("judge", &a.Judge) {
		// The judges are asked, not listed: each registers itself.
		w.choice(o.get("judge"), "judge", a.Judge, judge.Names(), nil)
	}
	if o.percent("false_positive_rate", &a.FalsePositiveRate) && (a.FalsePositiveRate <= 0 || a.FalsePositiveRate >= 1) {
		w.add(o.get("false_positive_rate"), "", "false_positive_rate: must be between 0%% and 100%%, exclusive")
	}
	if o.int("failures", &a.Failures) && a.Failures < 1 {
		w.add(o.get("failures"), "", "failures: must be at least 1, got %d", a.Failures)
	}
	if o.int("min_samples", &a.MinSamples) && a.MinSamples < 1 {
		w.add(o.get("min_samples"), "", "min_samples: must be at least 1, got %d", a.MinSamples)
	}
	w.minSamplesAt = cmp.Or(o.get("min_samples"), o.at)
	a.PassScore, a.MarginalScore = DefaultPassScore, DefaultMarginalScore
	o.number("pass_score", &a.PassScore)
	o.number("marginal_score", &a.MarginalScore)
	for i, n := range o.list("metrics") {
		a.Metrics = append(a.Metrics, w.check(n, fmt.Sprintf("rollout.analysis.metrics[%d]", i), a.Judge))
	}
	if o.str("on_no_data", &a.OnNoData) {
		w.choice(o.get("on_no_data"), "on_no_data policy", a.OnNoData, noDataPolicies, nil)
	}
	// The fields only one judge reads (mann-whitney's score bands) are
	// that judge's to validate; each problem is reported at the first of
	// its fields the scenario wrote.
	for _, pr := range judge.Validate(a.Judge, a) {
		at := o.at
		for _, f := range pr.Fields {
			if n := o.get(f); n != nil {
				at = n
				break
			}
		}
		w.add(at, pr.Hint, "%s", pr.Msg)
	}
	return a
}

func (w *walk) check(n *yaml.Node, where, judgeName string) *Check {
	c := &Check{Weight: DefaultWeight}
	o := w.object(nil, n, where, checkFields.known...)
	o.require(checkFields.required...)
	if o.number("weight", &c.Weight) && c.Weight <= 0 {
		w.add(o.get("weight"), "a metric's share of the mann-whitney score; leave the metric out instead of weighting it 0",
			"weight: must be positive, got %g", c.Weight)
	}
	o.boolean("critical", &c.Critical)
	known := false
	if o.str("metric", &c.Metric) {
		known = w.metric(o.get("metric"), c.Metric, true)
		if w.checkAt == nil {
			w.checkAt = map[*Check]*yaml.Node{}
		}
		w.checkAt[c] = o.get("metric")
	}
	// A judge may test a metric on its own terms (the sequential judge:
	// errors, and latency through the share of slow requests): then the
	// check needs no bound.
	unbounded := judge.Unbounded(judgeName, c.Metric)
	if !o.has("max") && !o.has("max_increase") && !o.has("max_ratio") && o.present && o.ok && !unbounded {
		w.add(o.at, "set max, max_increase or max_ratio", "a metric check needs a bound")
	}
	if known && strings.HasPrefix(c.Metric, InvariantPrefix) {
		// An invariant is a query over the whole database, not a
		// per-version measurement: there is no baseline side to compare.
		for _, f := range []string{"max_increase", "max_ratio"} {
			if o.has(f) {
				w.add(o.key(f), "use max: an invariant's value is database-wide, not per version",
					"%s: an invariant metric takes an absolute bound only", f)
			}
		}
		if o.has("max") {
			c.Max = w.threshold(o.get("max"), "max", c.Metric)
		}
		return c
	}
	if known {
		if o.has("max") {
			c.Max = w.threshold(o.get("max"), "max", c.Metric)
		}
		if o.has("max_increase") {
			c.MaxIncrease = w.threshold(o.get("max_increase"), "max_increase", c.Metric)
		}
	}
	// A bound the judge does not read runs, and does nothing: say so.
	if known {
		fields, why := judge.Unread(judgeName, c.Metric)
		for _, f := range fields {
			if o.has(f) {
				w.warn(o.key(f), "drop "+f+", or use judge: threshold for a bound per interval",
					"%s: not read by judge %s: %s", f, judgeName, why)
			}
		}
	}
	if n := o.get("max_ratio"); n != nil {
		if w.scalar(n, "max_ratio", "a number like 1.5") {
			if v, err := parseNumber(n.Value); err != nil {
				w.add(n, "a ratio of canary to baseline, e.g. 1.5", "max_ratio: expected a number, got %s", describe(n))
			} else if v <= 0 {
				w.add(n, "", "max_ratio: must be positive, got %s", n.Value)
			} else {
				c.MaxRatio = &Value{V: v, Raw: n.Value}
			}
		}
	}
	return c
}
