package metrics

import (
	"time"
)

// Metric names a Window can compute, as scenarios spell them.
const (
	MetricErrorRate  = "error_rate"
	MetricLatencyP50 = "latency_p50"
	MetricLatencyP90 = "latency_p90"
	MetricLatencyP95 = "latency_p95"
	MetricLatencyP99 = "latency_p99"
	MetricThroughput = "throughput"
)

// MetricNames returns the metric names Window.Value knows, so that a
// scenario validator can tell an unknown metric from a window one.
func MetricNames() []string {
	return []string{
		MetricErrorRate,
		MetricLatencyP50, MetricLatencyP90, MetricLatencyP95, MetricLatencyP99,
		MetricThroughput,
	}
}

// Window is what one label (a version, say) of one source saw over
// [Start, End).
type Window struct {
	// Source names what recorded the window (a service's router), Label
	// what the outcomes were recorded under (a version).
	Source, Label string
	// Start is the previous Cut's end; End is this Cut's.
	Start, End time.Time
	// Requests counts every outcome recorded; Failed those that failed
	// (see Outcome.Failed).
	Requests, Failed int64
	// Status counts answers per HTTP status; 0 counts requests that got no
	// answer (transport errors, resets, timeouts). It may be nil.
	Status map[int]int64
	// Hist holds the latency of every request, failed ones included. It
	// may be nil, which reads as empty.
	Hist *Hist
}

// ErrorRate returns Failed/Requests, or 0 for a window without requests.
func (w Window) ErrorRate() float64 {
	if w.Requests == 0 {
		return 0
	}
	return float64(w.Failed) / float64(w.Requests)
}

// Throughput returns requests per second over End-Start, or 0 when the
// window has no duration.
func (w Window) Throughput() float64 {
	d := w.End.Sub(w.Start)
	if d <= 0 {
		return 0
	}
	return float64(w.Requests) / d.Seconds()
}

// Quantile returns the latency at quantile q (0..1), or 0 for a window
// without requests.
func (w Window) Quantile(q float64) time.Duration {
	return w.Hist.Quantile(q)
}

// Value returns a metric by its scenario name: error_rate as a fraction,
// latency_p50|p90|p95|p99 in seconds, throughput per second. ok is false
// for an unknown name, for error rate and latency of a window without
// requests (there is nothing to judge, which is not the same as 0), and
// for throughput of a window without duration.
func (w Window) Value(metric string) (v float64, ok bool) {
	var q float64
	switch metric {
	case MetricErrorRate:
		return w.ErrorRate(), w.Requests > 0
	case MetricThroughput:
		return w.Throughput(), w.End.After(w.Start)
	case MetricLatencyP50:
		q = 0.50
	case MetricLatencyP90:
		q = 0.90
	case MetricLatencyP95:
		q = 0.95
	case MetricLatencyP99:
		q = 0.99
	default:
		return 0, false
	}
	if w.Requests == 0 {
		return 0, false
	}
	return w.Quantile(q).Seconds(), true
}

// Merge aggregates windows into one over their whole span: counts are
// summed and histograms merged, so percentiles of the result are those of
// every request in the span, to histogram precision (not an average of
// per-window percentiles). It is meant for windows of one label; Source
// and Label are kept where all windows agree and left empty otherwise.
// Merge of no windows is an empty window.
func Merge(ws ...Window) Window {
	if len(ws) == 0 {
		return Window{Hist: mergeHists()}
	}
	m := Window{Source: ws[0].Source, Label: ws[0].Label, Start: ws[0].Start, End: ws[0].End}
	hs := make([]*Hist, 0, len(ws))
	for _, w := range ws {
		if w.Source != m.Source {
			m.Source = ""
		}
		if w.Label != m.Label {
			m.Label = ""
		}
		if w.Start.Before(m.Start) {
			m.Start = w.Start
		}
		if w.End.After(m.End) {
			m.End = w.End
		}
		m.Requests += w.Requests
		m.Failed += w.Failed
		for st, n := range w.Status {
			if m.Status == nil {
				m.Status = map[int]int64{}
			}
			m.Status[st] += n
		}
		hs = append(hs, w.Hist)
	}
	m.Hist = mergeHists(hs...)
	return m
}

// Summary is a window reduced to the numbers a report keeps in its series;
// latencies are in milliseconds.
type Summary struct {
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Source     string    `json:"source"`
	Label      string    `json:"label"`
	Requests   int64     `json:"requests"`
	Failed     int64     `json:"failed"`
	ErrorRate  float64   `json:"error_rate"` // a fraction, not a percentage
	Throughput float64   `json:"throughput"` // requests per second
	P50        float64   `json:"p50_ms"`
	P90        float64   `json:"p90_ms"`
	P95        float64   `json:"p95_ms"`
	P99        float64   `json:"p99_ms"`
	Max        float64   `json:"max_ms"`
}

// Summary reduces the window to its Summary. A window without requests
// has zero rates and latencies.
func (w Window) Summary() Summary {
	return Summary{
		Start:      w.Start,
		End:        w.End,
		Source:     w.Source,
		Label:      w.Label,
		Requests:   w.Requests,
		Failed:     w.Failed,
		ErrorRate:  w.ErrorRate(),
		Throughput: w.Throughput(),
		P50:        ms(w.Quantile(0.50)),
		P90:        ms(w.Quantile(0.90)),
		P95:        ms(w.Quantile(0.95)),
		P99:        ms(w.Quantile(0.99)),
		Max:        ms(w.Hist.Max()),
	}
}

func ms(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}
