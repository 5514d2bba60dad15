package metrics

// Metric names a judge or SLO can use. Invariant metrics are
// "invariant:<name>".
const (
	ErrorRate       = "error_rate"
	LatencyP50      = "latency_p50"
	LatencyP90      = "latency_p90"
	LatencyP95      = "latency_p95"
	LatencyP99      = "latency_p99"
	Throughput      = "throughput"
	CPU             = "cpu"
	RSS             = "rss"
	InvariantPrefix = "invariant:"
)

// Unit is the canonical unit a metric's values are expressed in. All
// thresholds are converted to it by the scenario loader so judges compare plain floats.
type Unit int

// Canonical units.
const (
	UnitNumber    Unit = iota // a plain count (invariants)
	UnitFraction              // 1% == 0.01 (error_rate, cpu)
	UnitSeconds               // latencies
	UnitPerSecond             // throughput
	UnitBytes                 // rss
)

// UnitOf returns the canonical unit of a metric name.
func UnitOf(metric string) Unit {
	switch metric {
	case ErrorRate, CPU:
		return UnitFraction
	case LatencyP50, LatencyP90, LatencyP95, LatencyP99:
		return UnitSeconds
	case Throughput:
		return UnitPerSecond
	case RSS:
		return UnitBytes
	}
	return UnitNumber
}

// Value is a threshold in its metric's canonical unit, with the text it
// was written as (for reports).
type Value struct {
	V   float64
	Raw string
}
