package judge

import (
	"math"
	"slices"
	"testing"
)

func TestMannWhitneyExactCounts(t *testing.T) {
	// 3 against 3: the C(6,3) = 20 orderings of c/b, by U = number of
	// (c, b) pairs with c after b. By hand (counting orderings):
	// U=0: bbbccc; U=1: bbcbcc; U=2: bcbbcc, bbccbc; U=3..6: 3 each;
	// then symmetric: 2, 1, 1.
	want := []float64{1, 1, 2, 3, 3, 3, 3, 2, 1, 1}
	if got := mwExactCounts(3, 3); !slices.Equal(got, want) {
		t.Errorf("mwExactCounts(3,3) = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		n1, n2 int
		total  float64
	}{
		{5, 5, 252},            // C(10,5)
		{2, 7, 36},             // C(9,2)
		{20, 20, 137846528820}, // C(40,20), still exact in a float64
	} {
		counts := mwExactCounts(tc.n1, tc.n2)
		var sum float64
		for k, c := range counts {
			sum += c
			if c != counts[len(counts)-1-k] {
				t.Errorf("(%d,%d): counts not symmetric at %d", tc.n1, tc.n2, k)
			}
		}
		if sum != tc.total || len(counts) != tc.n1*tc.n2+1 {
			t.Errorf("(%d,%d): %d counts summing to %g, want %d summing to %g", tc.n1, tc.n2, len(counts), sum, tc.n1*tc.n2+1, tc.total)
		}
	}
}

func TestMannWhitneyUStatistic(t *testing.T) {
	tests := []struct {
		name    string
		x, y    []float64 // canary, baseline
		u, z, p float64
		exact   bool
		hl      float64
	}{
		{
			// Complete separation. Every one of the 5·5 pairs has c > b:
			// U = 25. Exactly one of the C(10,5) = 252 orderings gives
			// U = 25, so P(U ≥ 25) = 1/252 and the two-sided p = 2/252 =
			// 0.0079365. The differences are 5 + (a − b) for a, b in 1..5,
			// symmetric about 5: HL = 5.
			name: "no ties, separated", x: []float64{6, 7, 8, 9, 10}, y: []float64{1, 2, 3, 4, 5},
			u: 25, p: 2.0 / 252, exact: true, hl: 5,
		},
		{
			// c = 2,4,6 against b = 1,3,5: 2 beats 1; 4 beats 1,3; 6 beats
			// 1,3,5: U = 1+2+3 = 6. From the 3-by-3 counts
			// [1 1 2 3 3 3 3 2 1 1]: P(U ≥ 6) = (3+2+1+1)/20 = 7/20,
			// P(U ≤ 6) = 16/20, p = 2·7/20 = 0.7. The nine differences
			// 1,−1,−3, 3,1,−1, 5,3,1 sort to −3 −1 −1 1 [1] 1 3 3 5: HL = 1.
			name: "no ties, interleaved", x: []float64{6, 2, 4}, y: []float64{5, 1, 3},
			u: 6, p: 0.7, exact: true, hl: 1,
		},
		{
			// c = 1,2,2,3 against b = 2,3,3,4. Pooled and ranked:
			//   1c:1 | 2c 2c 2b: ranks 2,3,4 → 3 | 3c 3b 3b: 5,6,7 → 6 | 4b: 8
			// R_c = 1+3+3+6 = 13, U = 13 − 4·5/2 = 3 (by pairs: 1 → 0;
			// each 2 ties one b → ½ + ½; 3 beats the 2, ties two 3s → 2).
			// mean = 4·4/2 = 8. Two tie groups of 3: Σ(t³−t) = 2·24 = 48,
			// N(N−1) = 56. σ² = 16/12·(9 − 48/56) = 10.857143, σ = 3.295018.
			// z = −(|3−8| − ½)/σ = −4.5/3.295018 = −1.365698,
			// p = 2·(1 − Φ(1.365698)) = 0.172034.
			// Differences: c=1: −1 −2 −2 −3; each c=2: 0 −1 −1 −2; c=3:
			// 1 0 0 −1. Sorted: −3, −2×4, −1×6, 0×4, 1; the 8th and 9th
			// are −1: HL = −1.
			name: "ties, normal approximation", x: []float64{1, 2, 2, 3}, y: []float64{2, 3, 3, 4},
			u: 3, z: -1.365698, p: 0.172034, hl: -1,
		},
		{
			// Every value tied: Σ(t³−t) = 10³−10 = 990, N(N−1) = 90, so
			// σ² = 25/12·(11 − 11) = 0. No evidence either way: p = 1.
			// U = R_c − 15 = 5·5.5 − 15 = 12.5, the mean. HL = 0.
			name: "all tied", x: []float64{5, 5, 5, 5, 5}, y: []float64{5, 5, 5, 5, 5},
			u: 12.5, p: 1, hl: 0,
		},
		{
			// 21 a side is past mwExactMax: normal even without ties.
			// x = 1..21, y = 1.5..21.5: x_i > y_j iff i ≥ j+1, so
			// U = Σ(i−1) = 210; mean = 441/2 = 220.5; no ties:
			// σ² = 441/12·43 = 1580.25, σ = 39.752358; z = −(10.5 − ½)/σ =
			// −0.251557, p = 0.801383. Every difference is i − j − ½, and
			// i − j is symmetric about 0: HL = −½.
			name: "large, normal approximation", x: mwSeq(1, 21, 0), y: mwSeq(1, 21, 0.5),
			u: 210, z: -0.251557, p: 0.801383, hl: -0.5,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mwUTest(tc.x, tc.y)
			if got.U != tc.u || got.Exact != tc.exact || !mwNear(got.Z, tc.z, 1e-6) || !mwNear(got.P, tc.p, 1e-6) {
				t.Errorf("mannWhitneyU = %+v, want U=%g z=%g p=%g exact=%v", got, tc.u, tc.z, tc.p, tc.exact)
			}
			// The two-sided p is twice the smaller one-sided one, and
			// the tails overlap at u itself, so they add up to at least 1.
			if !mwNear(got.P, math.Min(1, 2*math.Min(got.PHigh, got.PLow)), 1e-12) || got.PHigh+got.PLow < 1-1e-12 {
				t.Errorf("one-sided p %g (high) and %g (low) do not fit two-sided %g", got.PHigh, got.PLow, got.P)
			}
			if (tc.u > float64(len(tc.x)*len(tc.y))/2) != (got.PHigh < got.PLow) && tc.p < 1 {
				t.Errorf("U = %g: the smaller tail is the wrong one: high %g, low %g", tc.u, got.PHigh, got.PLow)
			}
			if hl := mwHodgesLehmann(tc.x, tc.y); hl != tc.hl {
				t.Errorf("hodgesLehmann = %g, want %g", hl, tc.hl)
			}
			// Swapping the sides mirrors U and z and keeps p.
			sw := mwUTest(tc.y, tc.x)
			n := float64(len(tc.x) * len(tc.y))
			if sw.U != n-got.U || !mwNear(sw.Z, -got.Z, 1e-12) || !mwNear(sw.P, got.P, 1e-12) ||
				!mwNear(sw.PHigh, got.PLow, 1e-12) || !mwNear(sw.PLow, got.PHigh, 1e-12) {
				t.Errorf("swapped: %+v, want U=%g z=%g p=%g, the tails exchanged", sw, n-got.U, -got.Z, got.P)
			}
		})
	}
}

// mwSeq returns from+off, from+1+off, …, n values.
func mwSeq(from float64, n int, off float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = from + float64(i) + off
	}
	return out
}

func TestMannWhitneyOneSided(t *testing.T) {
	// Complete separation, 5 against 5, no ties: exactly one of the
	// C(10,5) = 252 orderings has U = 25, so P(U ≥ 25) = 1/252, and every
	// ordering has U ≤ 25.
	got := mwUTest([]float64{6, 7, 8, 9, 10}, []float64{1, 2, 3, 4, 5})
	if !got.Exact || !mwNear(got.PHigh, 1.0/252, 1e-12) || got.PLow != 1 {
		t.Errorf("exact: %+v, want PHigh 1/252, PLow 1", got)
	}
	// With ties, normal: c = 1,2,2,3 against b = 2,3,3,4 (U = 3, mean 8,
	// σ = 3.295018, see TestMannWhitneyUStatistic): PLow = Φ((3 − 8 + ½)/σ)
	// = Φ(−1.365698) = 0.086017, PHigh = 1 − Φ((3 − 8 − ½)/σ) =
	// 1 − Φ(−1.669187) = 0.952460.
	got = mwUTest([]float64{1, 2, 2, 3}, []float64{2, 3, 3, 4})
	if got.Exact || !mwNear(got.PLow, 0.086017, 1e-6) || !mwNear(got.PHigh, 0.952460, 1e-6) {
		t.Errorf("normal: %+v, want PLow 0.086017, PHigh 0.952460", got)
	}
}

func TestMannWhitneyMedianAveragesTheMiddle(t *testing.T) {
	// x = 1, 2 against y = 0: differences 1 and 2, median 1.5 (a lower
	// median would say 1).
	if hl := mwHodgesLehmann([]float64{1, 2}, []float64{0}); hl != 1.5 {
		t.Errorf("HL = %g, want 1.5", hl)
	}
	if m := mwMedian([]float64{1, 2, 3, 4}); m != 2.5 {
		t.Errorf("median = %g, want 2.5", m)
	}
}
