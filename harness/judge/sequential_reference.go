package judge

import (
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// The sequential judge's modes, as its evidence names them.
const (
	// modeLive compares the canary with the live baseline of the same
	// interval (Interval.LiveBaseline).
	modeLive = "live"
	// modeReference compares the canary with the steady-state Reference:
	// at a canary's 100% step and in a blue-green's post_switch, where no
	// baseline traffic is left.
	modeReference = "reference"
)

// modeOf is the mode an interval is judged in.
func modeOf(iv Interval) string {
	if iv.LiveBaseline {
		return modeLive
	}
	return modeReference
}

// refDeltaShare is the share of a test's α spent on the reference's own
// sampling error (δ below). The bound it buys grows only like the Beta
// tail in 1/δ: for 10 errors in 10 000 reference requests the 99.95%
// bound is 2.5× the measured rate and the 99.75% one 2.3×, so a tenth of
// α costs about 10% in the rate tested against and ln(1/0.9) ≈ 0.1 nats
// of evidence, where a half would cost 0.7 nats for those 10%.
const refDeltaShare = 0.1

// seqRef is the reference mode of one metric's sequential test: an
// anytime-valid one-sample test of the canary's events (failures, or
// requests slower than the tolerance, exactly as the live test counts
// them) against the rate of the same events in the steady-state
// Reference.
//
// The reference is finite (10 s at 1000 requests/s holds about ten
// failures at 0.1%), so its measured rate is itself a noisy estimate: a
// test against it as if it were the truth (a plug-in) rolls back a
// healthy canary whenever the steady state happened to be lucky — with
// five failures instead of ten the canary looks twice as bad, and a 20 s
// hold at 1000 requests/s proves it. Two ways hold α with that error
// accounted for: a beta-binomial (or Bayes) mixture over the reference
// rate, which is exact only on average over a prior, or a test against an
// upper confidence bound of the rate. This is the second, because it
// holds for every true rate, not on average over one we would have to
// guess:
//
//   - p0 is the Clopper–Pearson upper bound of the reference's event rate
//     at confidence 1−δ: the 1−δ quantile of Beta(e+1, n−e) for e events
//     in n requests. For failures (binomial) P(p > p0) ≤ δ. For latency
//     the threshold is the reference's own quantile, so e is fixed by
//     construction; but the probability that a fresh request exceeds the
//     upper edge of the histogram bucket holding the reference's
//     (n−e)-th order statistic is at most that of exceeding the order
//     statistic itself, which is Beta(e+1, n−e) distributed for any
//     continuous latency: the same bound holds.
//   - Given the reference, the canary's events are tested against p0 by
//     the mixture, over seqRatios, of the likelihood ratios of "the
//     canary's odds of an event are ρ times p0's" (θ = ρp0/(ρp0+1−p0)):
//     each interval multiplies component ρ by (θ/p0)^e ((1−θ)/(1−p0))^(n−e).
//     For any true rate p ≤ p0 each factor has conditional expectation at
//     most 1 (the ratio increases with e), so the mixture is a
//     nonnegative supermartingale and Ville's inequality bounds the chance
//     it ever reaches 1/(α−δ) by α−δ. Together: P(false rollback) ≤
//     δ + (α−δ) = α, under continuous monitoring, for every baseline rate.
//   - The α: the live test (sequential_spending.go) spends its α over
//     the rollout; at the first interval without a live baseline, what it
//     has spent is frozen (it may spend no more) and the rest, α_r = α −
//     spent, is this mode's, δ its share refDeltaShare of it. Together:
//     P(false rollback) ≤ spent + δ + (α_r − δ) = α, for a rollout judged
//     only in reference mode (spent = 0) and for one with a live phase
//     first alike. The live phase's counts are not carried over: they
//     were tested against the live baseline, which the reference mode
//     does not see.
type seqRef struct {
	// started is set at the mode's first interval, when liveSpent (the
	// live test's α spent, frozen from then on) and alpha (α − liveSpent,
	// this mode's) are fixed.
	started   bool
	liveSpent float64
	alpha     float64
	n, e      int64     // the reference's requests and events
	bound     float64   // p0: the upper confidence bound of e/n at 1−delta
	delta     float64   // the α spent on the reference's sampling error
	logM      []float64 // per alternative, the log likelihood ratio so far
	evC, nC   int64     // canary events and requests counted in this mode
	intervals int       // intervals counted in this mode
}

// clopperPearsonUpper is the exact one-sided upper confidence bound, at
// confidence 1−delta, of a binomial rate with k successes in n trials.
func clopperPearsonUpper(k, n int64, delta float64) float64 {
	if k >= n {
		return 1
	}
	return distuv.Beta{Alpha: float64(k + 1), Beta: float64(n - k)}.Quantile(1 - delta)
}

// setReference fixes the rate tested against from the reference's
// counts. The Reference is fixed before the rollout, so this happens once;
// were it to change, the evidence gathered stands (each factor was valid
// given the reference it was computed with).
func (r *seqRef) setReference(t *seqTest, n, e int64) {
	if !r.started {
		r.started = true
		r.liveSpent = t.live.spent
		r.alpha = t.alpha - r.liveSpent
	}
	r.n, r.e = n, e
	r.delta = refDeltaShare * r.alpha
	r.bound = clopperPearsonUpper(e, n, r.delta)
	if r.logM == nil {
		r.logM = make([]float64, len(seqRatios))
	}
}

// observe counts one interval without a live baseline against the
// reference.
func (r *seqRef) observe(t *seqTest, iv Interval, canaryAt, referenceAt time.Duration) (bool, string) {
	n := iv.Reference.Requests
	if n == 0 {
		return false, "no live baseline and no steady-state reference to compare with"
	}
	if e := t.events(iv.Reference, referenceAt); r.logM == nil || n != r.n || e != r.e {
		r.setReference(t, n, e)
	}
	nc := iv.Canary.Requests
	if nc == 0 {
		return false, "the canary has no requests"
	}
	ec := t.events(iv.Canary, canaryAt)
	r.nC, r.evC, r.intervals = r.nC+nc, r.evC+ec, r.intervals+1
	p0 := r.bound
	if p0 >= 1 {
		// Every reference request was an event: no canary can be worse.
		return true, ""
	}
	for k, rho := range seqRatios {
		theta := rho * p0 / (rho*p0 + 1 - p0)
		r.logM[k] += float64(ec)*math.Log(theta/p0) + float64(nc-ec)*math.Log((1-theta)/(1-p0))
	}
	return true, ""
}

// logE returns the log of this mode's e-value and its likeliest
// alternative.
func (r *seqRef) logE() (float64, float64) { return mixture(r.logM) }

// level is the level this mode's rejection is at: its α less δ.
func (r *seqRef) level() float64 { return r.alpha - r.delta }

func (r *seqRef) rejects(t *seqTest) (string, bool) {
	own, rho := r.logE()
	a := r.level()
	if own < math.Log(1/a) {
		return "", false
	}
	return fmt.Sprintf("%s: e-value %.3g >= 1/(alpha-delta) %.0f in reference mode (canary %d events in %d requests, %.3f%%, against the steady-state reference's %d in %d, %.3f%%, at most %.3f%% at %.2f%% confidence; likeliest %gx that bound)",
		t.metric, math.Exp(own), 1/a, r.evC, r.nC, 100*rate(r.evC, r.nC), r.e, r.n, 100*rate(r.e, r.n), 100*r.bound, 100*(1-r.delta), rho), true
}

func (r *seqRef) evidence(t *seqTest) map[string]any {
	if r.logM == nil {
		return map[string]any{"mode": modeReference, "reference_requests": int64(0)}
	}
	own, rho := r.logE()
	a := r.level()
	return map[string]any{
		"mode":                 modeReference,
		"statistic":            "one-sample mixture likelihood ratio against the reference rate's upper confidence bound (e-value)",
		"reference_requests":   r.n,
		"reference_events":     r.e,
		"reference_rate":       rate(r.e, r.n),
		"reference_rate_bound": r.bound,
		"confidence":           1 - r.delta,
		"delta":                r.delta,
		"canary_requests":      r.nC,
		"canary_events":        r.evC,
		"canary_rate":          rate(r.evC, r.nC),
		"intervals":            r.intervals,
		// exp overflows past 709 nats (a crashing canary at high
		// traffic); JSON has no +Inf, so the value is capped and the
		// log kept exact.
		"e_value":          math.Min(math.Exp(own), math.MaxFloat64),
		"log_e_value":      own,
		"bound":            1 / a,
		"alpha":            a,
		"live_alpha_spent": r.liveSpent,
		"likeliest_ratio":  rho,
	}
}

// rate is k/n, 0 for no n.
func rate(k, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(k) / float64(n)
}
