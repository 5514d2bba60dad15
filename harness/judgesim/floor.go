package judgesim

import (
	"math"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// NeymanPearsonPower is the power of the most powerful test of size alpha
// of "the canary's failures are Poisson(mu0)" against "Poisson(mu1)"
// (mu1 > mu0): reject when the count is at least k, and with probability
// gamma when it is k−1, k and gamma chosen so that the size is exactly
// alpha. By the Neyman–Pearson lemma no test of size alpha that sees the
// count, or anything else about the same requests, has more power.
func NeymanPearsonPower(mu0, mu1, alpha float64) float64 {
	if alpha <= 0 || mu1 <= mu0 {
		return alpha
	}
	if mu0 <= 0 {
		// A single failure proves the alternative; with none, reject
		// with probability alpha, the size the null allows.
		return 1 - (1-alpha)*math.Exp(-mu1)
	}
	null := distuv.Poisson{Lambda: mu0}
	alt := distuv.Poisson{Lambda: mu1}
	// tail(k) = P(C >= k).
	tail := func(p distuv.Poisson, k float64) float64 {
		if k <= 0 {
			return 1
		}
		return 1 - p.CDF(k-1)
	}
	k := 0.0
	for tail(null, k) > alpha {
		k++
	}
	if k == 0 {
		return 1
	}
	gamma := (alpha - tail(null, k)) / null.Prob(k-1)
	return tail(alt, k) + gamma*alt.Prob(k-1)
}

// DetectionFloor is the shortest time after the canary's start, on the
// traffic's interval grid and up to limit, at which any judge whose
// false-rollback rate is at most alpha could have rolled back a canary
// failing with probability p1 in a share q of runs: no judge's q-quantile
// detection time can be shorter. Whatever a sequential judge does, "rolled
// back by t" is a test at time t whose size is at most its false-rollback
// rate, so its power is at most NeymanPearsonPower, here told the
// baseline's error rate (which a judge must estimate) and p1 (which a
// judge does not know). Canary failures by t are Poisson with mean canary
// requests/s × t × p. ok is false when even limit is too short.
func DetectionFloor(tr Traffic, p1, alpha, q float64, limit time.Duration) (floor time.Duration, ok bool) {
	return countFloor(tr, tr.BaselineErrorRate, p1, alpha, q, limit)
}

// countFloor is the first time on the interval grid, up to limit, at
// which the most powerful test of "the canary's events are Poisson at
// rate p0 per request" against "at p1" has power q at size alpha.
func countFloor(tr Traffic, p0, p1, alpha, q float64, limit time.Duration) (time.Duration, bool) {
	rate := tr.TotalRPS * tr.CanaryWeight
	for t := tr.Interval; t <= limit; t += tr.Interval {
		n := rate * t.Seconds()
		if NeymanPearsonPower(n*p0, n*p1, alpha) >= q {
			return t, true
		}
	}
	return 0, false
}

// LatencyDetectionFloor is DetectionFloor for a latency check: a canary
// whose every latency is factor times the baseline's (lognormal, as the
// traffic model draws them), judged on the baseline's quantile qq with
// the tolerance maxRatio (and the sequential judge's 10 ms noise floor:
// the canary's quantile may be max(ratio·b, b + 10 ms) for the baseline's
// b). It also returns the share of the canary's requests above that
// tolerance, p1 (the share at the boundary of the null is 1−qq).
//
// Why a count: the null is composite — every canary whose qq-quantile is
// within the tolerance — and the floor is the power against its least
// favourable member. Take the bad canary's distribution F and scale its
// density above the tolerance t down to a total of 1−qq, and below t up
// to qq: that G is in the null (its qq-quantile is exactly t), and the
// likelihood ratio dF/dG takes one value above t and one below, so the
// most powerful test of G against F sees only how many requests were
// above t: Bernoulli(1−qq) against Bernoulli(p1) per request. Any test
// of the check, whatever it looks at (whole histograms, ranks, other
// quantiles), has at most that power, and it is also told the baseline's
// quantile exactly, which a judge must estimate.
func LatencyDetectionFloor(tr Traffic, factor, qq, maxRatio, alpha, q float64, limit time.Duration) (floor time.Duration, p1 float64, ok bool) {
	n := distuv.UnitNormal
	sigma := tr.LatencySigma
	b := tr.LatencyMedian.Seconds() * math.Exp(sigma*n.Quantile(qq))
	tol := math.Max(maxRatio*b, b+0.010)
	p1 = 1 - n.CDF(math.Log(tol/(factor*tr.LatencyMedian.Seconds()))/sigma)
	floor, ok = countFloor(tr, 1-qq, p1, alpha, q, limit)
	return floor, p1, ok
}
