package judgesim

import (
	"math"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// SharedFaultPower is the most any test can detect, at one look, of a
// canary whose events (failures, or requests above a latency threshold)
// have mean muC by then against the baseline's muB, when the test must
// also hold its size alpha against every fault the two versions share:
// the most powerful test that conditions on the total events, averaged
// over that total. share is the canary's share of the requests, so under
// the null (both versions equally likely to have an event, at any rate,
// changing as it likes) a canary's share of the events is share too.
//
// Why conditioning bounds every such judge. Requests arrive as Poisson
// processes and each is an event with its version's probability, so the
// two counts are independent Poisson; under the null family — one event
// rate for both versions, any rate, per interval — the per-interval total
// events are a complete sufficient statistic. A test whose rollback
// chance never falls below alpha for a worse canary (unbiased: a judge
// that rolled back worse canaries less often than equal ones would be
// perverse) has a power continuous in the rates, so it is similar on the
// null's boundary, and by completeness it has Neyman structure: given the
// totals, its size is alpha (Lehmann & Romano, Testing Statistical
// Hypotheses, 4.3). Given the totals, the canary's events are binomial
// with probability share under the null and
// pi1 = muC/(muC+muB) under the alternative, and their likelihood ratio
// grows with the canary's count, so the most powerful conditional test
// rejects from the top of Binomial(E, share), randomized at the edge.
// A sequential judge's "rolled back by t" is one such test at t, with the
// α it spent by then; so its power at t is at most this, with all its α.
//
// The model's judge sees each version's events per interval; the request
// counts, whose law does not depend on the rates, are left out of it (the
// sequential judge conditions on them as well).
func SharedFaultPower(muB, muC, share, alpha float64) float64 {
	if alpha <= 0 || muC <= 0 {
		return alpha
	}
	pi1 := muC / (muC + muB)
	if pi1 <= share {
		return alpha
	}
	total := distuv.Poisson{Lambda: muB + muC}
	mean := muB + muC
	hi := int(math.Ceil(mean + 12*math.Sqrt(mean) + 25))
	power := 0.0
	for e := 0; e <= hi; e++ {
		power += total.Prob(float64(e)) * binomialNPPower(e, share, pi1, alpha)
	}
	return power
}

// binomialNPPower is the power against Binomial(n, p1) of the most
// powerful size-alpha test of Binomial(n, p0), p1 > p0: reject the counts
// from n down while their null mass fits in alpha, and the next one with
// the probability that makes the size exactly alpha.
func binomialNPPower(n int, p0, p1, alpha float64) float64 {
	if n == 0 {
		return alpha // no events: nothing tells the versions apart
	}
	null := distuv.Binomial{N: float64(n), P: p0}
	alt := distuv.Binomial{N: float64(n), P: p1}
	left, power := alpha, 0.0
	for k := n; k >= 0; k-- {
		f0, f1 := null.Prob(float64(k)), alt.Prob(float64(k))
		if f0 > left {
			return power + f1*left/f0
		}
		left -= f0
		power += f1
	}
	return power
}

// SharedFaultFloor is DetectionFloor for a judge that must not roll back
// a canary for a fault it shares with the baseline: the first time on the
// traffic's interval grid, up to limit, at which SharedFaultPower reaches
// q for a canary whose requests are events with probability p1 beside a
// baseline's p0. For an error check p0 is the baseline's error rate; for
// a latency check the share of the baseline's requests above its quantile
// (1 − qq), against the share of the canary's above the tolerance (p1 of
// LatencyDetectionFloor). It lies above DetectionFloor: that test was told
// the baseline's rate, this one may not trust it.
func SharedFaultFloor(tr Traffic, p0, p1, alpha, q float64, limit time.Duration) (time.Duration, bool) {
	base, canary := tr.TotalRPS*(1-tr.CanaryWeight), tr.TotalRPS*tr.CanaryWeight
	for t := tr.Interval; t <= limit; t += tr.Interval {
		s := t.Seconds()
		if SharedFaultPower(base*s*p0, canary*s*p1, tr.CanaryWeight, alpha) >= q {
			return t, true
		}
	}
	return 0, false
}

// SharedFaultAlpha is the least false-positive rate at which a judge that
// ignores shared faults could detect, at time t, a share q of canaries
// whose requests are events with probability p1 beside the baseline's p0:
// the size at which SharedFaultPower first reaches q (found by bisection,
// to within 1e-7; power grows with the size). ok is false when even
// alpha = 1 is not enough.
func SharedFaultAlpha(tr Traffic, p0, p1 float64, t time.Duration, q float64) (alpha float64, ok bool) {
	s := t.Seconds()
	muB, muC := tr.TotalRPS*(1-tr.CanaryWeight)*s*p0, tr.TotalRPS*tr.CanaryWeight*s*p1
	power := func(a float64) float64 { return SharedFaultPower(muB, muC, tr.CanaryWeight, a) }
	if power(1) < q {
		return 0, false
	}
	lo, hi := 0.0, 1.0
	for hi-lo > 1e-7 {
		mid := (lo + hi) / 2
		if power(mid) >= q {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, true
}
