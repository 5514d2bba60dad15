package judge

import (
	"math"
)

// spendHalf is the canary requests by which the live test may have spent
// half its α: the spending function is α·n/(n + spendHalf) for n canary
// requests so far. More α early than a linear schedule over a horizon
// would give (a third of it by 250 canary requests) catches a crashing
// canary within its first few failures; the rest is kept for the small
// differences that take thousands of requests to show, and none of it
// runs out, since a rollout has no fixed length. Measured on the bench
// (make bench-judge), halves of 250, 500 and 1000 requests move the p95
// detection times of its cases by under a second; 500 is the middle.
const spendHalf = 500

// condSpend is the live mode of one metric's sequential test: an exact
// conditional test of the canary's events (failures, or requests slower
// than the tolerance) against the live baseline's, with its α spent over
// the rollout by a spending function, as group-sequential designs spend
// theirs (Lan–DeMets), but looking at every interval.
//
// Given the number of events in an interval, e, among its N requests of
// which the canary served m, the canary's share of those events is
// hypergeometric (m draws from N holding e events) when every request is
// equally likely to be an event; when the canary's requests are less
// likely to be one, its share is stochastically smaller (Fisher's
// noncentral hypergeometric with odds ratio below 1). The intervals'
// totals and traffic are what the test conditions on: it needs neither
// the event rate nor that it stays put, so a fault that both sides share
// (a slow database) changes the totals and nothing else.
//
// Conditioned on them, the null distribution of the canary's cumulative
// count C is computed exactly, interval by interval, as the distribution
// of the paths that have not yet crossed the boundary (mass below it).
// At each interval the boundary is the smallest count whose tail mass,
// added to the α already spent, stays within the spending function's
// allowance for the canary requests so far; a canary at or past it is
// rolled back. The chance of ever crossing is the sum of the tail masses
// spent, at most α, for every path of totals — so for every baseline
// rate, under continuous monitoring. Unlike a likelihood-ratio e-process
// against Ville's bound (this judge's test until issue 18), no α is lost
// to overshoot or to averaging over alternatives: the bench's A/A rate
// sits near α instead of a fifth of it, and detection is faster.
type condSpend struct {
	alpha float64
	// mass[i] is the null probability that C = lo+i and the test has not
	// rejected; mass below lo has been dropped (spent, see compact).
	mass  []float64
	lo    int64
	spent float64 // α spent: crossing mass so far, plus mass dropped
	// boundary is the count at which the last interval would have
	// rejected; tail the null probability of a count at least the
	// observed one there (not having crossed before).
	boundary int64
	tail     float64
}

func newCondSpend(alpha float64) *condSpend {
	return &condSpend{alpha: alpha, mass: []float64{1}}
}

// allowance is the α the test may have spent after n canary requests.
func (s *condSpend) allowance(n int64) float64 {
	return s.alpha * float64(n) / float64(n+spendHalf)
}

// observe adds an interval whose N requests held e events, m of the
// requests the canary's, after which the canary's cumulative count is c
// and its cumulative requests nC; it reports whether the test rejects.
// A budget below the allowance (the test's share once the rollout has left
// live mode) caps the spending.
func (s *condSpend) observe(N, e, m, c, nC int64, budget float64) bool {
	if e > 0 {
		s.mass = convolveHypergeometric(s.mass, N, e, m)
	}
	s.compact()
	allowed := min(s.allowance(nC), budget)
	// The boundary: the smallest count whose tail, with what is spent,
	// stays within the allowance.
	tail, b := 0.0, s.lo+int64(len(s.mass))
	for i := len(s.mass) - 1; i >= 0; i-- {
		if s.spent+tail+s.mass[i] > allowed {
			break
		}
		tail += s.mass[i]
		b = s.lo + int64(i)
	}
	s.boundary = b
	s.tail = 0
	for i := max(c-s.lo, 0); i < int64(len(s.mass)); i++ {
		s.tail += s.mass[i]
	}
	if c >= b {
		s.spent += tail
		return true
	}
	// The paths at or past the boundary would have been rolled back: they
	// leave the null distribution, their mass spent.
	s.spent += tail
	s.mass = s.mass[:b-s.lo]
	return false
}

// dropMass is the null mass below which the lowest counts are dropped to
// keep the vector short on a long rollout; what is dropped is counted as
// spent, so the test only grows more cautious.
const dropMass = 1e-15

// compact drops negligible mass from both ends of the distribution.
func (s *condSpend) compact() {
	i := 0
	for i < len(s.mass)-1 && s.mass[i] < dropMass {
		s.spent += s.mass[i]
		i++
	}
	s.mass, s.lo = s.mass[i:], s.lo+int64(i)
	j := len(s.mass)
	for j > 1 && s.mass[j-1] < dropMass {
		s.spent += s.mass[j-1]
		j--
	}
	s.mass = s.mass[:j]
}

// convolveHypergeometric returns the distribution of C + X for C
// distributed as mass and X, independent of it, hypergeometric: the
// events among m draws from N requests holding e events.
func convolveHypergeometric(mass []float64, N, e, m int64) []float64 {
	h := hypergeometric(N, e, m)
	out := make([]float64, len(mass)+len(h)-1)
	for i, p := range mass {
		if p == 0 {
			continue
		}
		for j, q := range h {
			out[i+j] += p * q
		}
	}
	return out
}

// hypergeometric is the pmf of the number of event requests among m drawn
// from N of which e are events, from 0 to min(e, m); entries before the
// support's start (max(0, m+e−N)) are zero.
func hypergeometric(N, e, m int64) []float64 {
	hi := min(e, m)
	lo := max(0, m+e-N)
	pmf := make([]float64, hi+1)
	lnC := func(n, k int64) float64 {
		a, _ := math.Lgamma(float64(n + 1))
		b, _ := math.Lgamma(float64(k + 1))
		c, _ := math.Lgamma(float64(n - k + 1))
		return a - b - c
	}
	den := lnC(N, m)
	for k := lo; k <= hi; k++ {
		pmf[k] = math.Exp(lnC(e, k) + lnC(N-e, m-k) - den)
	}
	return pmf
}
