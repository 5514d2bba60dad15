package promexport

import (
	"encoding/json"
	"maps"
	"math"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/drillhq/drill/harness/metrics"
)

// serve starts e on a free loopback port and stops it when the test ends.
func serve(t testing.TB, e *Exporter) string {
	t.Helper()
	url, stop, err := e.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return url
}

// scrape fetches url over HTTP as Prometheus would and parses the text
// format.
func scrape(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// find returns the metric of family name whose labels are exactly want.
func find(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	for _, m := range fams[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if maps.Equal(got, want) {
			return m
		}
	}
	return nil
}

// value returns the value of a counter or gauge, failing the test when
// the series is missing.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m := find(fams, name, labels)
	switch {
	case m == nil:
		t.Errorf("%s%v: no such series", name, labels)
		return math.NaN()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	t.Errorf("%s%v is neither a counter nor a gauge", name, labels)
	return math.NaN()
}

func checkValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	if got := value(t, fams, name, labels); got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// l builds a label set from name, value pairs.
func l(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// TestRequestsOverHTTP feeds outcomes through a real recorder with the
// tap installed and reads them back as Prometheus would.
func TestRequestsOverHTTP(t *testing.T) {
	e := New()
	url := serve(t, e)
	const sc = "orders-canary"
	d := e.Drill(sc)

	rec := metrics.NewRecorder("router:orders")
	rec.Tap(d.Tap("orders"))
	rec.Declare("flag=on")
	ms := time.Millisecond
	for _, o := range []metrics.Outcome{
		{Status: 200, Latency: 2 * ms}, {Status: 200, Latency: 3 * ms}, {Status: 200, Latency: 4 * ms},
		{Status: 404, Latency: ms},
		{Status: 500, Latency: 20 * ms},
		{Err: true, Latency: 2 * time.Second},               // no answer
		{Status: 200, Err: true, Latency: 30 * time.Second}, // reset mid-body; beyond the last bucket
	} {
		rec.Record("v1", o)
	}
	for _, o := range []metrics.Outcome{{Status: 503, Latency: 300 * ms}, {Status: 503, Latency: 400 * ms}, {Status: 200, Latency: 5 * ms}} {
		rec.Record("v2", o)
	}
	if rec.RecordDeclared("flag=off", metrics.Outcome{Status: 200}) {
		t.Fatal("the recorder took an undeclared flag variant")
	}
	rec.RecordDeclared("flag=on", metrics.Outcome{Status: 200, Latency: ms})

	f := scrape(t, url)
	req := func(version, code string) map[string]string {
		return l("scenario", sc, "service", "orders", "version", version, "code", code)
	}
	for _, c := range []struct {
		version, code string
		want          float64
	}{
		{"v1", "200", 3}, {"v1", "404", 1}, {"v1", "500", 1}, {"v1", "0", 2},
		{"v2", "503", 2}, {"v2", "200", 1},
		{"flag=on", "200", 1},
	} {
		checkValue(t, f, "drill_requests_total", req(c.version, c.code), c.want)
	}
	if m := find(f, "drill_requests_total", req("flag=off", "200")); m != nil {
		t.Errorf("a refused outcome was exported: %v", m)
	}
	if n := len(f["drill_requests_total"].GetMetric()); n != 7 {
		t.Errorf("drill_requests_total has %d series, want 7", n)
	}
	ver := func(version string) map[string]string {
		return l("scenario", sc, "service", "orders", "version", version)
	}
	checkValue(t, f, "drill_request_errors_total", ver("v1"), 3) // 500, no answer, reset
	checkValue(t, f, "drill_request_errors_total", ver("v2"), 2)
	// Created with the variant's first request, so its first error will
	// be an increase from 0.
	checkValue(t, f, "drill_request_errors_total", ver("flag=on"), 0)

	h := find(f, "drill_request_duration_seconds", ver("v1")).GetHistogram()
	if h.GetSampleCount() != 7 {
		t.Errorf("v1 latency count = %d, want 7", h.GetSampleCount())
	}
	if want := 32.03; math.Abs(h.GetSampleSum()-want) > 1e-9 {
		t.Errorf("v1 latency sum = %v s, want %v", h.GetSampleSum(), want)
	}
	cum := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		cum[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	// 1 ms, 2 ms, 3 ms, 4 ms, 20 ms, 2 s, 30 s.
	for le, want := range map[float64]uint64{.001: 1, .0025: 2, .005: 4, .025: 5, 2.5: 6, 10: 6} {
		if cum[le] != want {
			t.Errorf("v1 latency bucket le=%v = %d, want %d", le, cum[le], want)
		}
	}
	if got := find(f, "drill_request_duration_seconds", ver("v2")).GetHistogram().GetSampleCount(); got != 3 {
		t.Errorf("v2 latency count = %d, want 3", got)
	}
}

// TestDrillStateOverHTTP sets every gauge and counter of a drill's state,
// changes it, and reads it back over HTTP each time.
func TestDrillStateOverHTTP(t *testing.T) {
	e := New()
	url := serve(t, e)
	const sc = "orders-canary"
	d := e.Drill(sc)
	ver := func(version string) map[string]string {
		return l("scenario", sc, "service", "orders", "version", version)
	}
	d.Split("orders", "v1", 0.9)
	d.Split("orders", "v2", 0.1)
	d.Fault("slow-db", "latency", "orders.v2", true)
	d.Fault("reset", "abort", "orders", false)
	d.Phase("steady")
	d.Phase("rollout")
	d.Step(2)
	d.Operator("pause")
	d.Operator("pause")
	d.Operator("note")
	d.Verdict("orders", "pause")
	d.Verdict("orders", "rollback")

	f := scrape(t, url)
	checkValue(t, f, "drill_traffic_split_ratio", ver("v1"), 0.9)
	checkValue(t, f, "drill_traffic_split_ratio", ver("v2"), 0.1)
	checkValue(t, f, "drill_fault_active", l("scenario", sc, "fault", "slow-db", "kind", "latency", "target", "orders.v2"), 1)
	checkValue(t, f, "drill_fault_active", l("scenario", sc, "fault", "reset", "kind", "abort", "target", "orders"), 0)
	for _, p := range phases {
		want := 0.0
		if p == "rollout" {
			want = 1
		}
		checkValue(t, f, "drill_phase", l("scenario", sc, "phase", p), want)
	}
	checkValue(t, f, "drill_rollout_step", l("scenario", sc), 2)
	checkValue(t, f, "drill_operator_commands_total", l("scenario", sc, "command", "pause"), 2)
	checkValue(t, f, "drill_operator_commands_total", l("scenario", sc, "command", "note"), 1)
	for v, want := range map[string]float64{"continue": 0, "pause": 0, "rollback": 1} {
		checkValue(t, f, "drill_judge_verdict", l("scenario", sc, "service", "orders", "verdict", v), want)
	}

	// The rollout moves on, a fault lifts, and the rollback begins.
	d.Split("orders", "v1", 0.75)
	d.Split("orders", "v2", 0.25)
	d.Fault("slow-db", "latency", "orders.v2", false)
	d.Phase("rollback")
	d.Step(3)
	d.Operator("pause")
	f = scrape(t, url)
	checkValue(t, f, "drill_traffic_split_ratio", ver("v1"), 0.75)
	checkValue(t, f, "drill_traffic_split_ratio", ver("v2"), 0.25)
	checkValue(t, f, "drill_fault_active", l("scenario", sc, "fault", "slow-db", "kind", "latency", "target", "orders.v2"), 0)
	checkValue(t, f, "drill_phase", l("scenario", sc, "phase", "rollout"), 0)
	checkValue(t, f, "drill_phase", l("scenario", sc, "phase", "rollback"), 1)
	checkValue(t, f, "drill_rollout_step", l("scenario", sc), 3)
	checkValue(t, f, "drill_operator_commands_total", l("scenario", sc, "command", "pause"), 3)
}

func TestSplitClampedAsTheRouterClamps(t *testing.T) {
	e := New()
	url := serve(t, e)
	d := e.Drill("s")
	for _, c := range []struct {
		in, want float64
	}{{-0.5, 0}, {1.5, 1}, {math.NaN(), 0}, {0.3, 0.3}} {
		d.Split("svc", "v2", c.in)
		checkValue(t, scrape(t, url), "drill_traffic_split_ratio", l("scenario", "s", "service", "svc", "version", "v2"), c.want)
	}
}

func TestOneHotWithUnknownValues(t *testing.T) {
	e := New()
	url := serve(t, e)
	d := e.Drill("s")
	f := scrape(t, url)
	for _, p := range phases {
		checkValue(t, f, "drill_phase", l("scenario", "s", "phase", p), 0) // before the first Phase
	}
	d.Phase("warming") // not a phase the exporter knows: still one-hot
	d.Phase("steady")
	d.Verdict("orders", "hold")
	d.Verdict("orders", "continue")
	d.Verdict("pricing", "rollback")
	f = scrape(t, url)
	checkValue(t, f, "drill_phase", l("scenario", "s", "phase", "warming"), 0)
	checkValue(t, f, "drill_phase", l("scenario", "s", "phase", "steady"), 1)
	checkValue(t, f, "drill_judge_verdict", l("scenario", "s", "service", "orders", "verdict", "hold"), 0)
	checkValue(t, f, "drill_judge_verdict", l("scenario", "s", "service", "orders", "verdict", "continue"), 1)
	checkValue(t, f, "drill_judge_verdict", l("scenario", "s", "service", "pricing", "verdict", "rollback"), 1)
	checkValue(t, f, "drill_judge_verdict", l("scenario", "s", "service", "pricing", "verdict", "continue"), 0)
}

func TestDrillAgainStartsGaugesAfresh(t *testing.T) {
	e := New()
	url := serve(t, e)
	d := e.Drill("s")
	other := e.Drill("other")
	rec := metrics.NewRecorder("router:svc")
	rec.Tap(d.Tap("svc"))
	rec.Record("v2", metrics.Outcome{Status: 200})
	d.Split("svc", "v2", 0.5)
	d.Fault("f", "latency", "svc", true)
	d.Phase("done")
	d.Step(4)
	d.Verdict("svc", "rollback")
	other.Phase("rollout")

	d = e.Drill("s")
	rec.Tap(d.Tap("svc"))
	rec.Record("v2", metrics.Outcome{Status: 200})
	f := scrape(t, url)
	for name, labels := range map[string]map[string]string{
		"drill_traffic_split_ratio": l("scenario", "s", "service", "svc", "version", "v2"),
		"drill_fault_active":        l("scenario", "s", "fault", "f", "kind", "latency", "target", "svc"),
		"drill_judge_verdict":       l("scenario", "s", "service", "svc", "verdict", "rollback"),
	} {
		if m := find(f, name, labels); m != nil {
			t.Errorf("%s%v of the last run is still exported: %v", name, labels, m)
		}
	}
	checkValue(t, f, "drill_phase", l("scenario", "s", "phase", "done"), 0)
	checkValue(t, f, "drill_rollout_step", l("scenario", "s"), 0)
	checkValue(t, f, "drill_requests_total", l("scenario", "s", "service", "svc", "version", "v2", "code", "200"), 2)
	checkValue(t, f, "drill_phase", l("scenario", "other", "phase", "rollout"), 1) // another scenario's untouched
}

// TestConcurrentTrafficAndScrapes records from several goroutines while
// the drill's state changes and Prometheus scrapes (run with -race): the
// exported counts are the recorder's.
func TestConcurrentTrafficAndScrapes(t *testing.T) {
	e := New()
	url := serve(t, e)
	d := e.Drill("s")
	rec := metrics.NewRecorder("router:svc")
	rec.Tap(d.Tap("svc"))
	versions := []string{"v1", "v2", "v3"}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				rec.Record(versions[(i+g)%3], metrics.Outcome{Status: []int{200, 200, 503, 404, 0}[i%5], Err: i%5 == 4, Latency: time.Duration(i) * time.Microsecond})
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			d.Phase(phases[i%len(phases)])
			d.Split("svc", "v2", float64(i)/200)
			d.Verdict("svc", verdicts[i%3])
			d.Step(i)
			d.Operator("note")
		}
	})
	for range 5 {
		scrape(t, url)
	}
	wg.Wait()

	var want, wantFailed int64
	for _, w := range rec.Cut(time.Now()) {
		want += w.Requests
		wantFailed += w.Failed
	}
	f := scrape(t, url)
	var got, failed, observed float64
	for _, m := range f["drill_requests_total"].GetMetric() {
		got += m.GetCounter().GetValue()
	}
	for _, m := range f["drill_request_errors_total"].GetMetric() {
		failed += m.GetCounter().GetValue()
	}
	for _, m := range f["drill_request_duration_seconds"].GetMetric() {
		observed += float64(m.GetHistogram().GetSampleCount())
	}
	if got != float64(want) || failed != float64(wantFailed) || observed != float64(want) {
		t.Errorf("exported %v requests, %v failed, %v latencies; the recorder has %d, %d failed", got, failed, observed, want, wantFailed)
	}
	ones := 0
	for _, m := range f["drill_phase"].GetMetric() {
		if m.GetGauge().GetValue() == 1 {
			ones++
		}
	}
	if ones != 1 {
		t.Errorf("%d phases at 1, want 1", ones)
	}
}

func TestServeRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:0"} {
		t.Run(addr, func(t *testing.T) {
			url, stop, err := New().Serve(addr)
			if err == nil {
				_ = stop()
				t.Fatalf("Serve(%q) = %q, want an error", addr, url)
			}
			if !strings.Contains(err.Error(), "only on a loopback address (127.0.0.1, ::1 or localhost)") {
				t.Errorf("Serve(%q): %v, want it to say drill serves only on loopback", addr, err)
			}
		})
	}
	if _, _, err := New().Serve("127.0.0.1"); err == nil || !strings.Contains(err.Error(), "missing port") {
		t.Errorf("Serve without a port: %v, want missing port", err)
	}
}

func TestServeOnLoopbackNames(t *testing.T) {
	addrs := []string{"localhost:0", "127.0.0.1:0"}
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln.Close()
		addrs = append(addrs, "[::1]:0")
	} else {
		t.Logf("no IPv6 loopback here, [::1] not tried: %v", err)
	}
	for _, addr := range addrs {
		t.Run(addr, func(t *testing.T) {
			e := New()
			url, stop, err := e.Serve(addr)
			if err != nil {
				t.Fatalf("Serve(%q): %v", addr, err)
			}
			u, err := neturl.Parse(url)
			if err != nil || u.Scheme != "http" || u.Path != "/metrics" || u.Port() == "0" || !net.ParseIP(u.Hostname()).IsLoopback() {
				t.Errorf("url = %q, want http://LOOPBACK-IP:PORT/metrics", url)
			}
			e.Drill("s").Phase("steady")
			checkValue(t, scrape(t, url), "drill_phase", l("scenario", "s", "phase", "steady"), 1)
			resp, err := http.Get(strings.TrimSuffix(url, "/metrics") + "/other")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET /other = %s, want 404: only /metrics is served", resp.Status)
			}
			if err := stop(); err != nil {
				t.Fatalf("stop: %v", err)
			}
			if err := stop(); err != nil {
				t.Errorf("second stop: %v", err)
			}
			if _, err := http.Get(url); err == nil {
				t.Errorf("%s still answers after stop", url)
			}
		})
	}
}

func TestNilDrillDoesNothing(t *testing.T) {
	var d *Drill
	if tap := d.Tap("svc"); tap != nil {
		t.Error("a nil *Drill's Tap is not nil")
	}
	rec := metrics.NewRecorder("router:svc")
	rec.Tap(d.Tap("svc"))
	rec.Record("v1", metrics.Outcome{Status: 200})
	d.Split("svc", "v2", 0.5)
	d.Fault("f", "latency", "svc", true)
	d.Phase("rollout")
	d.Step(1)
	d.Operator("pause")
	d.Verdict("svc", "continue")
}

// The dashboard's PromQL, lexed just enough to name the metrics and labels
// it uses.
var (
	stringLit   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	matchers    = regexp.MustCompile(`\{[^}]*\}`)
	matcherName = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	ranges      = regexp.MustCompile(`\[[^\]]*\]`)
	grouping    = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	identifier  = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	labelValues = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)
	promqlWords = []string{"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without", "on", "ignoring", "group_left", "group_right"}
)

// promqlRefs returns the metric names and the label names expr uses.
func promqlRefs(expr string) (names, labels []string) {
	expr = stringLit.ReplaceAllString(expr, `""`)
	for _, m := range matchers.FindAllString(expr, -1) {
		for _, mm := range matcherName.FindAllStringSubmatch(m, -1) {
			labels = append(labels, mm[1])
		}
	}
	expr = matchers.ReplaceAllString(expr, " ")
	expr = ranges.ReplaceAllString(expr, " ")
	for _, g := range grouping.FindAllStringSubmatch(expr, -1) {
		for _, name := range strings.Split(g[1], ",") {
			if name = strings.TrimSpace(name); name != "" {
				labels = append(labels, name)
			}
		}
	}
	expr = grouping.ReplaceAllString(expr, " ")
	for _, at := range identifier.FindAllStringIndex(expr, -1) {
		word := expr[at[0]:at[1]]
		if at[0] > 0 && strings.ContainsRune("0123456789.$", rune(expr[at[0]-1])) {
			continue // a number's exponent, a duration's unit, a Grafana variable
		}
		if strings.HasPrefix(strings.TrimLeft(expr[at[1]:], " \t\n"), "(") {
			continue // a function's or an aggregation's name
		}
		if !slices.Contains(promqlWords, strings.ToLower(word)) {
			names = append(names, word)
		}
	}
	return names, labels
}

func TestPromqlRefs(t *testing.T) {
	names, labels := promqlRefs(`histogram_quantile(0.99, sum by (le, service) (rate(drill_x_bucket{scenario=~"$scenario", a!="b"}[1m]))) / on(service) group_left foo_total > bool 1e3 offset 5m`)
	if want := []string{"drill_x_bucket", "foo_total"}; !slices.Equal(names, want) {
		t.Errorf("names = %v, want %v", names, want)
	}
	if want := []string{"scenario", "a", "le", "service", "service"}; !slices.Equal(labels, want) {
		t.Errorf("labels = %v, want %v", labels, want)
	}
}

// exported returns the metric names a scrape of an exporter that saw
// every kind of call holds (a histogram's as its _bucket, _sum and _count
// series), each with its label names.
func exported(t *testing.T) map[string][]string {
	e := New()
	url := serve(t, e)
	d := e.Drill("s")
	d.Tap("svc")("v1", metrics.Outcome{Status: 500})
	d.Split("svc", "v1", 1)
	d.Fault("f", "latency", "svc", true)
	d.Phase("steady")
	d.Step(1)
	d.Operator("pause")
	d.Verdict("svc", "continue")
	out := map[string][]string{}
	for name, fam := range scrape(t, url) {
		var labels []string
		for _, lp := range fam.GetMetric()[0].GetLabel() {
			labels = append(labels, lp.GetName())
		}
		if fam.GetType() == dto.MetricType_HISTOGRAM {
			out[name+"_bucket"] = append(slices.Clone(labels), "le")
			out[name+"_sum"] = labels
			out[name+"_count"] = labels
			continue
		}
		out[name] = labels
	}
	if len(out) != 11 {
		t.Fatalf("the exporter serves %d metric names, want 11 (9 metrics, a histogram's 3 series): %v", len(out), slices.Sorted(maps.Keys(out)))
	}
	return out
}

// dashboard is the part of a Grafana dashboard JSON model the test reads.
type dashboard struct {
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int     `json:"id"`
	Title      string  `json:"title"`
	Type       string  `json:"type"`
	Panels     []panel `json:"panels"` // a collapsed row's
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// TestGrafanaDashboardUsesExportedMetrics keeps docs/grafana in step with
// the exporter: renaming a metric or a label without the dashboard fails
// here.
func TestGrafanaDashboardUsesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("../../docs/grafana/drill-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var db dashboard
	if err := json.Unmarshal(raw, &db); err != nil {
		t.Fatalf("drill-dashboard.json: %v", err)
	}
	if db.SchemaVersion < 36 {
		t.Errorf("schemaVersion = %d: a model this old predates the datasource-by-uid references the panels use", db.SchemaVersion)
	}
	known := exported(t)

	check := func(where, expr string) {
		names, labels := promqlRefs(expr)
		if len(names) == 0 {
			t.Errorf("%s: %q uses no metric", where, expr)
		}
		usable := map[string]bool{}
		for _, n := range names {
			ls, ok := known[n]
			if !ok {
				t.Errorf("%s: %q uses %s, which the exporter does not serve (it serves %v)", where, expr, n, slices.Sorted(maps.Keys(known)))
			}
			for _, l := range ls {
				usable[l] = true
			}
		}
		for _, l := range labels {
			if !usable[l] {
				t.Errorf("%s: %q uses label %q, which none of %v has", where, expr, l, names)
			}
		}
	}

	qs := queries(t, db)
	if len(qs) == 0 {
		t.Fatal("the dashboard has no queries")
	}
	for where, expr := range qs {
		check(where, expr)
	}
}

// queries returns the dashboard's PromQL by where it is, a label_values
// variable's as a selector of its metric and label, and checks the
// dashboard's shape on the way: the two variables, unique panel ids,
// every panel on ${DS_PROMETHEUS} and with a query.
func queries(t *testing.T, db dashboard) map[string]string {
	t.Helper()
	out := map[string]string{}
	vars := map[string]string{}
	for _, v := range db.Templating.List {
		vars[v.Name] = v.Type
		if v.Type != "query" {
			continue
		}
		var q string
		if json.Unmarshal(v.Query, &q) != nil { // Grafana writes a string or {query: …}
			var obj struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				t.Fatalf("variable %s: query is neither a string nor an object: %s", v.Name, v.Query)
			}
			q = obj.Query
		}
		m := labelValues.FindStringSubmatch(strings.TrimSpace(q))
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(METRIC, LABEL)", v.Name, q)
			continue
		}
		out["variable "+v.Name] = m[1] + `{` + m[2] + `=""}`
	}
	if vars["DS_PROMETHEUS"] != "datasource" || vars["scenario"] != "query" {
		t.Errorf("variables = %v, want a datasource variable DS_PROMETHEUS and a query variable scenario", vars)
	}

	ids := map[int]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" {
				t.Errorf("panel %q: datasource %+v, want uid ${DS_PROMETHEUS}", p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for i, tg := range p.Targets {
				out["panel "+strconv.Quote(p.Title)+" query "+strconv.Itoa(i)] = tg.Expr
			}
		}
	}
	walk(db.Panels)
	return out
}

// BenchmarkTap measures the tap alone, once every (version, code) pair is
// cached, as it runs on the routers' request goroutines; withLabelValues
// is what each request would cost looking its series up instead.
func BenchmarkTap(b *testing.B) {
	labels := []string{"baseline", "canary"}
	outcome := func(i int) metrics.Outcome {
		return metrics.Outcome{Status: 200 + 300*(i%50/49), Latency: time.Duration(i&1023) * 37 * time.Microsecond}
	}
	b.Run("cached", func(b *testing.B) {
		tap := New().Drill("s").Tap("svc")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				tap(labels[i&1], outcome(i))
			}
		})
	})
	b.Run("withLabelValues", func(b *testing.B) {
		e := New()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				o := outcome(i)
				e.requests.WithLabelValues("s", "svc", labels[i&1], strconv.Itoa(o.Status)).Inc()
				if o.Failed() {
					e.errs.WithLabelValues("s", "svc", labels[i&1]).Inc()
				}
				e.duration.WithLabelValues("s", "svc", labels[i&1]).Observe(o.Latency.Seconds())
			}
		})
	})
	b.Run("recorder+tap", func(b *testing.B) {
		rec := metrics.NewRecorder("router:svc")
		rec.Tap(New().Drill("s").Tap("svc"))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				rec.Record(labels[i&1], outcome(i))
			}
		})
	})
}
