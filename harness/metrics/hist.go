package metrics

import (
	"iter"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// The histogram geometry every window shares, so that any two windows merge
// bucket for bucket. Values are microseconds: 1 µs is finer than a loopback
// round trip, and 60 s is beyond any request timeout a drill sets.
const (
	histUnit    = time.Microsecond
	histLowest  = 1
	histHighest = int64(60 * time.Second / histUnit)
	// Three significant figures bound the error of a quantile to 0.1%, at
	// about 17k dense counters (139 KiB) per label while a window is open.
	histSigFigs = 3
)

// Hist is the latency histogram of a closed window: an HDR histogram
// (1 µs..60 s, 3 significant figures) that stores only its non-zero
// buckets, so its size depends on how many distinct latencies were seen
// (a few thousand buckets at most), never on how many requests.
//
// A Hist is immutable once built and safe for concurrent reads. The nil
// *Hist is valid and empty.
type Hist struct {
	p *hdrhistogram.PackedHistogram
}

// NewHist returns a histogram holding latencies. The recorder builds its
// own; NewHist serves judges and tests that need a window with known
// latencies. Latencies are clamped to the 0..60 s range.
func NewHist(latencies ...time.Duration) *Hist {
	h := newDense()
	for _, d := range latencies {
		record(h, d)
	}
	return pack(h)
}

func newDense() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, histSigFigs)
}

func newPacked() *hdrhistogram.PackedHistogram {
	return hdrhistogram.NewPacked(histLowest, histHighest, histSigFigs)
}

// toUnit converts a latency to histogram units. Out-of-range latencies are
// clamped rather than dropped: a request that took longer than 60 s still
// counts, and still lands in the top bucket where every percentile sees it.
func toUnit(d time.Duration) int64 {
	v := int64(d / histUnit)
	switch {
	case v < 0:
		return 0
	case v > histHighest:
		return histHighest
	}
	return v
}

// record adds one latency to a dense histogram; toUnit keeps it in range,
// so RecordValue cannot fail.
func record(h *hdrhistogram.Histogram, d time.Duration) {
	_ = h.RecordValue(toUnit(d))
}

// pack copies the non-zero buckets of a dense histogram into a new Hist.
func pack(h *hdrhistogram.Histogram) *Hist {
	p := newPacked()
	p.MergeFrom(h)
	return &Hist{p: p}
}

// Count returns the number of latencies recorded.
func (h *Hist) Count() int64 {
	if h == nil || h.p == nil {
		return 0
	}
	return h.p.TotalCount()
}

// Quantile returns the latency at quantile q (0..1, e.g. 0.99): the
// highest value equivalent, at 3 significant figures, to the recorded
// latency of rank round(q·n) (the lowest for q = 0, the minimum). It
// returns 0 when the histogram is empty.
func (h *Hist) Quantile(q float64) time.Duration {
	if h.Count() == 0 {
		return 0
	}
	return time.Duration(h.p.ValueAtPercentile(q*100)) * histUnit
}

// Max returns the largest latency recorded, to histogram precision, or 0
// when the histogram is empty.
func (h *Hist) Max() time.Duration {
	if h.Count() == 0 {
		return 0
	}
	return time.Duration(h.p.Max()) * histUnit
}

// Mean returns the mean latency, to histogram precision, or 0 when the
// histogram is empty.
func (h *Hist) Mean() time.Duration {
	if h.Count() == 0 {
		return 0
	}
	return time.Duration(h.p.Mean() * float64(histUnit))
}

// Buckets returns the non-zero buckets in ascending order, each as the
// lowest latency of the bucket and its count, for charts and for tests.
func (h *Hist) Buckets() iter.Seq2[time.Duration, int64] {
	return func(yield func(time.Duration, int64) bool) {
		if h == nil || h.p == nil {
			return
		}
		h.p.ForEachBucket(func(v, n int64) bool {
			return yield(time.Duration(v)*histUnit, n)
		})
	}
}

// CountAbove returns how many latencies lie in buckets entirely above d:
// the requests slower than d, to histogram precision.
func (h *Hist) CountAbove(d time.Duration) int64 {
	var n int64
	for v, c := range h.Buckets() {
		if v > d {
			n += c
		}
	}
	return n
}

// Len returns the number of non-zero buckets, which is what the memory of
// a Hist grows with.
func (h *Hist) Len() int {
	if h == nil || h.p == nil {
		return 0
	}
	return int(h.p.Populated())
}

// mergeHists adds the counts of hs into one new histogram; nil entries are
// empty. The geometry is shared, so the result is exactly the histogram the
// union of the recorded latencies would have produced.
func mergeHists(hs ...*Hist) *Hist {
	p := newPacked()
	for _, h := range hs {
		if h != nil && h.p != nil {
			p.Merge(h.p)
		}
	}
	return &Hist{p: p}
}
