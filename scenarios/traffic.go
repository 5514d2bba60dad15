package scenarios

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/judge"
)

// span is one stretch of the rollout (a phase, in one stage) and the
// canary requests the judge can expect in each of its analysis intervals.
type span struct {
	where       string  // "step 1", "preview", "stage staging, step 1"
	perInterval float64 // expected canary requests an interval
	how         string  // how perInterval was reckoned, for the message
	raise       string  // what sends the canary more: "a higher load rate or step weight"
}

// liveRate is the load's rate in one environment the rollout runs in.
type liveRate struct {
	stage     string // "" without stages
	perSecond float64
	text      string // as the message shows it: "200/s", "400/s (the ramp's peak)"
}

// rates is the load's rate in every environment the rollout runs in: each
// stage's (its own rate, or the load's), or the load's alone. A ramp
// counts at its peak: the rate a step meets on a ramp depends on how long
// the build, the steady state and any approval took, which the file does
// not say, and the peak never warns of a shortage the ramp would not
// have at its best.
func rates(s *Scenario) []liveRate {
	load := liveRate{perSecond: s.Load.Rate.PerSecond(), text: s.Load.Rate.String()}
	if r := s.Load.Ramp; r != nil {
		peak := r.From
		if r.To.PerSecond() > peak.PerSecond() {
			peak = r.To
		}
		load = liveRate{perSecond: peak.PerSecond(), text: peak.String() + " (the ramp's peak)"}
	}
	if len(s.Stages) == 0 {
		return []liveRate{load}
	}
	var out []liveRate
	for _, st := range s.Stages {
		r := load
		if st.Rate.Freq > 0 {
			r = liveRate{perSecond: st.Rate.PerSecond(), text: st.Rate.String()}
		}
		r.stage = st.Name
		out = append(out, r)
	}
	return out
}

// canarySpans is every judged phase of the rollout in every environment,
// with the canary's expected requests an interval: the live rate times the
// phase's weight, plus any preview rate, times the interval. Approval
// gates are left out (their traffic is the step's before them), and so
// is a phase that sends the canary nothing.
func canarySpans(s *Scenario) []span {
	phases, err := s.Rollout.Phases()
	if err != nil {
		return nil
	}
	iv := s.Rollout.Analysis.Interval
	var out []span
	for _, r := range rates(s) {
		for _, ph := range phases {
			per := (r.perSecond*ph.Weight + ph.PreviewRate) * iv.Seconds()
			if ph.Approval || per <= 0 {
				continue
			}
			var parts []string
			if ph.Weight > 0 {
				parts = append(parts, r.text+" × "+percentString(ph.Weight))
			}
			if ph.PreviewRate > 0 {
				parts = append(parts, "preview "+strconv.FormatFloat(ph.PreviewRate, 'g', 4, 64)+"/s")
			}
			how := strings.Join(parts, " + ")
			if len(parts) > 1 {
				how = "(" + how + ")"
			}
			where := ph.Name
			if r.stage != "" {
				where = "stage " + r.stage + ", " + ph.Name
			}
			raise := "a higher load rate or step weight"
			if ph.Weight == 0 {
				raise = "a higher preview rate"
			}
			out = append(out, span{where: where, perInterval: per, how: how + " × " + iv.String(), raise: raise})
		}
	}
	return out
}

// trafficWarnings warns where the scenario's traffic cannot feed its
// analysis: an interval with fewer canary requests than min_samples is no
// data to every judge, and a judge may need more for a check to mean
// anything (judge.Needs: the threshold judge's latency quantiles). Only
// a rollout of the load's target is looked at: a dependency's traffic
// depends on how often its callers call it, which the file does not say.
func (w *walk) trafficWarnings(s *Scenario) {
	ro := &s.Rollout
	if !slices.ContainsFunc(ro.Moves(), func(m *Move) bool { return m.Service == s.Load.Target }) {
		return
	}
	spans := canarySpans(s)
	a := &ro.Analysis
	if short := shortOf(spans, float64(a.MinSamples)); len(short) > 0 {
		least := short[0]
		var lower string
		if n := int(least.perInterval); n >= 1 {
			lower = fmt.Sprintf("min_samples: %d", n)
		}
		w.warn(w.minSamplesAt, moreTraffic(a.Interval, least, a.MinSamples, lower),
			"%s, fewer than min_samples %d: such intervals are no data (on_no_data: %s)",
			about(short), a.MinSamples, a.OnNoData)
	}
	for _, c := range a.Metrics {
		need, why := judge.Needs(a.Judge, c.Metric)
		short := shortOf(spans, float64(need))
		if need == 0 || len(short) == 0 || w.checkAt[c] == nil {
			continue
		}
		w.warn(w.checkAt[c], moreTraffic(a.Interval, short[0], need, lowerQuantile(a.Judge, c.Metric, short[0].perInterval),
			"judge: sequential (it counts slow requests, however few)"),
			"%s under judge %s: %s, fewer than the %d it needs: %s", c.Metric, a.Judge, about(short), need, why)
	}
}

// quantiles are the latency quantile metrics, highest first.
var quantiles = []string{MetricLatencyP99, MetricLatencyP95, MetricLatencyP90, MetricLatencyP50}

// lowerQuantile proposes the highest quantile below metric's that the
// judge can compute from per requests an interval ("latency_p90 (needs
// 10)"); "" when there is none.
func lowerQuantile(judgeName, metric string, per float64) string {
	i := slices.Index(quantiles, metric)
	if i < 0 {
		return ""
	}
	for _, m := range quantiles[i+1:] {
		switch n, _ := judge.Needs(judgeName, m); {
		case n == 0:
			return m
		case float64(n) <= per:
			return fmt.Sprintf("%s (needs %d)", m, n)
		}
	}
	return ""
}

// shortOf is the spans with fewer than need requests an interval, the
// fewest first (in rollout order among equals).
func shortOf(spans []span, need float64) []span {
	var out []span
	for _, sp := range spans {
		if sp.perInterval < need {
			out = append(out, sp)
		}
	}
	slices.SortStableFunc(out, func(a, b span) int { return cmpFloat(a.perInterval, b.perInterval) })
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// about says how many requests an interval the fewest of the short spans
// expects, where and how it was reckoned, and which other spans are
// short: "about 20 canary requests an interval at step 1 (200/s × 10% ×
// 1s; step 2 is short too)".
func about(short []span) string {
	least := short[0]
	s := "about " + strconv.FormatFloat(least.perInterval, 'g', 3, 64) + " canary requests an interval at " + least.where + " (" + least.how
	if len(short) > 1 {
		var names []string
		for _, sp := range short[1:] {
			names = append(names, sp.where)
		}
		list, verb := names[0], " is"
		if len(names) > 1 {
			list, verb = strings.Join(names[:len(names)-1], ", ")+" and "+names[len(names)-1], " are"
		}
		s += "; " + list + verb + " short too"
	}
	return s + ")"
}

// maxSuggestedInterval bounds the interval a hint proposes: beyond it an
// interval is no remedy (a judgement a minute), and the hint says to send
// the canary more traffic instead.
const maxSuggestedInterval = time.Minute

// moreTraffic is the hint for a span short of need requests an interval:
// the interval that would hold them (in whole seconds), more canary
// traffic, then the remedies particular to the warning.
func moreTraffic(interval time.Duration, least span, need int, others ...string) string {
	var fixes []string
	longer := time.Duration(math.Ceil(interval.Seconds()*float64(need)/least.perInterval)) * time.Second
	if longer > interval && longer <= maxSuggestedInterval {
		fixes = append(fixes, "interval: "+longer.String())
	}
	fixes = append(fixes, least.raise)
	for _, o := range others {
		if o != "" {
			fixes = append(fixes, o)
		}
	}
	return "use " + orList(fixes)
}
