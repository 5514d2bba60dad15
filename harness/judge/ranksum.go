package judge

import (
	"cmp"
	"math"
	"slices"
	"sync"

	"gonum.org/v1/gonum/stat/distuv"
)

// mwTest is the outcome of a two-sided Mann-Whitney U test.
type mwTest struct {
	// U is the canary's statistic: the pairs (canary_i, baseline_j) with
	// canary_i > baseline_j, a tie counting one half. It runs from 0 to
	// n_canary·n_baseline, with n_canary·n_baseline/2 expected when the
	// sides do not differ.
	U float64
	// Z is the normal approximation's z (continuity-corrected, signed as
	// U − mean); 0 when the p-value is exact.
	Z float64
	// P is the two-sided p-value.
	P float64
	// PHigh and PLow are the one-sided p-values: of "the canary is
	// higher" (P(U ≥ u) under the null) and of "the canary is lower"
	// (P(U ≤ u)). P is twice the smaller one, at most 1. A judge that
	// only ever fails a canary for being higher tests with PHigh: its
	// false-positive rate is the chance of a false "higher", and a
	// two-sided test at the same level would spend half of it on "lower",
	// which fails nothing.
	PHigh, PLow float64
	// Exact says P comes from the exact distribution of U.
	Exact bool
}

// mwUTest tests whether x (the canary) and y (the baseline) come from
// the same distribution, against a shift either way. x and y need not be
// sorted.
//
// Without ties and with at most mwExactMax values a side, P is exact (see
// mwExactCounts). Otherwise it is the normal approximation with mid-ranks
// for ties, the tie-corrected variance
//
//	σ² = n₁n₂/12 · ((N+1) − Σ(t³−t)/(N(N−1)))
//
// (t the size of each group of tied values, N = n₁+n₂) and a continuity
// correction of ½ towards the mean. Ties are routine here, not an edge
// case: error rates of healthy intervals are mostly exactly 0, and latency
// quantiles come from a histogram with three significant figures. When
// every value is tied the variance is 0 and there is no evidence: P is 1.
func mwUTest(x, y []float64) mwTest {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return mwTest{P: 1, PHigh: 1, PLow: 1}
	}
	type obs struct {
		v      float64
		canary bool
	}
	all := make([]obs, 0, n1+n2)
	for _, v := range x {
		all = append(all, obs{v, true})
	}
	for _, v := range y {
		all = append(all, obs{v, false})
	}
	slices.SortFunc(all, func(a, b obs) int { return cmp.Compare(a.v, b.v) })
	// Mid-ranks: a group of t tied values at 1-based ranks i+1..i+t all
	// get their mean rank, i + (t+1)/2.
	var rankSum, tieSum float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		t := float64(j - i)
		mid := float64(i) + (t+1)/2
		for k := i; k < j; k++ {
			if all[k].canary {
				rankSum += mid
			}
		}
		tieSum += t*t*t - t
		i = j
	}
	f1, f2, n := float64(n1), float64(n2), float64(n1+n2)
	u := rankSum - f1*(f1+1)/2
	if tieSum == 0 && n1 <= mwExactMax && n2 <= mwExactMax {
		high, low := mwExactTails(n1, n2, int(math.Round(u)))
		return mwTest{U: u, P: math.Min(1, 2*math.Min(high, low)), PHigh: high, PLow: low, Exact: true}
	}
	mean := f1 * f2 / 2
	variance := f1 * f2 / 12 * ((n + 1) - tieSum/(n*(n-1)))
	if variance <= 0 {
		return mwTest{U: u, P: 1, PHigh: 1, PLow: 1}
	}
	sd := math.Sqrt(variance)
	// Each tail with the continuity correction of ½ towards the mean.
	high := distuv.UnitNormal.Survival((u - mean - 0.5) / sd)
	low := distuv.UnitNormal.CDF((u - mean + 0.5) / sd)
	d := math.Max(math.Abs(u-mean)-0.5, 0)
	z := d / sd
	p := math.Min(1, 2*distuv.UnitNormal.Survival(z))
	if u < mean {
		z = -z
	}
	return mwTest{U: u, Z: z, P: p, PHigh: high, PLow: low}
}

// mwExactTails is the exact one-sided p-values of U = u for samples of
// n1 and n2: P(U ≥ u) and P(U ≤ u).
func mwExactTails(n1, n2, u int) (high, low float64) {
	counts := mwExactCounts(n1, n2)
	var total float64
	for k, c := range counts {
		total += c
		if k <= u {
			low += c
		}
		if k >= u {
			high += c
		}
	}
	return high / total, low / total
}

// mwExactCounts returns, for k = 0..n1·n2, how many of the C(n1+n2, n1)
// equally likely orderings of n1 canary and n2 baseline values (no ties)
// give U = k.
//
// It is the classic recurrence on the largest value: it is either a canary
// value, which beats all n2 baseline values (U gains n2), or a baseline
// value, which beats none:
//
//	f(n1, n2, k) = f(n1−1, n2, k−n2) + f(n1, n2−1, k),  f(i, 0, 0) = f(0, j, 0) = 1.
//
// Counts stay below C(40, 20) ≈ 1.4e11 for mwExactMax = 20, exact in a
// float64. Results are cached: a judge asks for the same few sizes every
// interval, and the table costs O(n1²n2²). The returned slice is shared
// and must not be modified.
func mwExactCounts(n1, n2 int) []float64 {
	key := [2]int{n1, n2}
	if c, ok := mwExactCache.Load(key); ok {
		return c.([]float64)
	}
	c, _ := mwExactCache.LoadOrStore(key, mwExactTable(n1, n2))
	return c.([]float64)
}

// mwExactCache maps [2]int{n1, n2} to mwExactTable(n1, n2). At most
// (mwExactMax+1)² entries of at most 401 counts: about 1.4 MB at worst.
var mwExactCache sync.Map

// mwExactTable computes mwExactCounts.
func mwExactTable(n1, n2 int) []float64 {
	// f[i][j] is the count distribution for i canary and j baseline values.
	f := make([][][]float64, n1+1)
	for i := range f {
		f[i] = make([][]float64, n2+1)
		for j := range f[i] {
			d := make([]float64, i*j+1)
			if i == 0 || j == 0 {
				d[0] = 1
			} else {
				for k, c := range f[i-1][j] { // largest is canary: k+j
					d[k+j] += c
				}
				for k, c := range f[i][j-1] { // largest is baseline
					d[k] += c
				}
			}
			f[i][j] = d
		}
	}
	return f[n1][n2]
}

// mwHodgesLehmann estimates how far x (the canary) is shifted from y (the
// baseline): the median of all n₁n₂ differences x_i − y_j. It is the shift
// estimate that goes with the U test (robust to outliers, unlike a
// difference of means), and it is what the tolerance is compared with.
func mwHodgesLehmann(x, y []float64) float64 {
	if len(x) == 0 || len(y) == 0 {
		return 0
	}
	d := make([]float64, 0, len(x)*len(y))
	for _, a := range x {
		for _, b := range y {
			d = append(d, a-b)
		}
	}
	slices.Sort(d)
	return mwMedian(d)
}

// mwMedian is the median of sorted, non-empty values, the two middle ones
// averaged for an even count. gonum's stat.Quantile(0.5, …) is not used:
// its Empirical kind returns the lower middle value and its LinInterp kind
// interpolates on the empirical CDF, and neither is the median the
// Hodges-Lehmann estimator is defined with (for 1,2,3,4 both give 2, not
// 2.5), which would bias every even-sized estimate downwards.
func mwMedian(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
