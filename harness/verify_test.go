package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/scenarios"
)

func TestRecoveryChecks(t *testing.T) {
	tests := []struct {
		name string
		base metrics.Window
		want map[string]float64 // metric -> limit
	}{
		{"empty baseline sets no limit", win(0, 0, 0), map[string]float64{}},
		// 10 ms p99: the +25 ms allowance is larger than ×1.5.
		{"fast baseline gets the absolute allowance", win(100, 2, 10*time.Millisecond),
			map[string]float64{scenarios.MetricErrorRate: 0.03, scenarios.MetricLatencyP99: 0.035}},
		// 100 ms p99: ×1.5 is larger than +25 ms.
		{"slow baseline gets the ratio", win(100, 0, 100*time.Millisecond),
			map[string]float64{scenarios.MetricErrorRate: 0.01, scenarios.MetricLatencyP99: 0.150}},
		// At 50 ms both give 75 ms.
		{"the two meet at 50ms", win(100, 0, 50*time.Millisecond),
			map[string]float64{scenarios.MetricErrorRate: 0.01, scenarios.MetricLatencyP99: 0.075}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]float64{}
			for _, l := range recoveryChecks(tt.base) {
				got[l.metric] = l.limit
			}
			if len(got) != len(tt.want) {
				t.Fatalf("limits %v, want %v", got, tt.want)
			}
			for m, want := range tt.want {
				// Histogram precision: 3 significant figures.
				if g, ok := got[m]; !ok || g < want-1e-9 || g > want*1.002+1e-9 {
					t.Errorf("%s limit = %v, want %v", m, g, want)
				}
			}
		})
	}
}

func TestCheckSLOs(t *testing.T) {
	slos := []*scenarios.SLO{
		{Metric: scenarios.MetricErrorRate, Max: scenarios.Value{V: 0.01, Raw: "1%"}},
		{Metric: scenarios.MetricLatencyP99, Max: scenarios.Value{V: 0.250, Raw: "250ms"}},
	}
	loose := []*scenarios.SLO{{Metric: scenarios.MetricErrorRate, Max: scenarios.Value{V: 0.05, Raw: "5%"}}}
	base := win(100, 0, 10*time.Millisecond) // limits: 1% errors, 35 ms p99
	tests := []struct {
		name       string
		slos       []*scenarios.SLO
		w          metrics.Window
		base       *metrics.Window
		want       bool
		wantDetail []string
	}{
		{"no requests is never healthy", slos, win(0, 0, 0), nil, false, []string{"no requests completed"}},
		{"within the SLOs", slos, win(100, 1, 20*time.Millisecond), nil, true,
			[]string{"error_rate 1.00% <= 1%", "latency_p99 20.0ms <= 250ms"}},
		{"error rate over", slos, win(100, 2, 20*time.Millisecond), nil, false, []string{"error_rate 2.00% > 1%"}},
		{"latency over", slos, win(100, 0, 300*time.Millisecond), nil, false, []string{"latency_p99 300."}},
		{"no SLOs, some requests", nil, win(1, 1, time.Second), nil, true, nil},
		{"no data for a metric", []*scenarios.SLO{{Metric: scenarios.MetricThroughput, Max: scenarios.Value{V: 1e9, Raw: "1e9/s"}}},
			metrics.Window{Requests: 5}, nil, false, []string{"throughput: no data"}},
		{"within the SLOs and back at baseline", slos, win(100, 0, 30*time.Millisecond), &base, true, nil},
		{"within the SLOs but not back at baseline", slos, win(100, 0, 100*time.Millisecond), &base, false,
			[]string{"latency_p99 100.0ms above baseline limit 35.0ms"}},
		{"errors within the SLO but above the baseline allowance", loose, win(1000, 20, time.Millisecond), &base, false,
			[]string{"error_rate 2.00% <= 5%", "error_rate 2.00% above baseline limit 1.00%"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, detail := checkSLOs(tt.slos, tt.w, tt.base)
			if ok != tt.want {
				t.Errorf("checkSLOs = %v (%s), want %v", ok, detail, tt.want)
			}
			for _, d := range tt.wantDetail {
				if !strings.Contains(detail, d) {
					t.Errorf("detail %q lacks %q", detail, d)
				}
			}
		})
	}
}
