package reports

import (
	"math"
	"sort"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/journal"
	"gonum.org/v1/plot/plotter"
)

// chartModel is what the charts are drawn from, read off the report once.
type chartModel struct {
	start      time.Time
	end        float64 // seconds from start
	source     string
	baseline   string // baseline version label, "" when unknown
	canary     string
	labels     []string
	points     map[string][]SeriesPoint
	faults     []Fault
	steps      []stepMark
	decision   *Decision
	decisionAt float64
	exposure   float64 // NaN when there was none
	weights    plotter.XYs
}

type stepMark struct {
	at     float64
	name   string
	weight float64 // NaN for an approval gate
}

// newChartModel reads what the charts need; nil when there is no series.
func newChartModel(r *Report) *chartModel {
	m := &chartModel{start: r.StartedAt, exposure: math.NaN(), decision: r.Decision}
	if m.start.IsZero() && len(r.Timeline) > 0 {
		e := r.Timeline[0]
		m.start = e.T.Add(-time.Duration(e.ElapsedSeconds * float64(time.Second)))
	}
	service := ""
	for _, e := range r.Timeline {
		if e.Event == journal.RolloutStart {
			service, m.baseline, m.canary = fieldString(e, "service"), fieldString(e, "from"), fieldString(e, "to")
			if f := fieldString(e, "flag"); f != "" {
				// A flag release is charted variant against variant: the
				// router records each request under "flag=variant".
				m.baseline, m.canary = f+"="+m.baseline, f+"="+m.canary
			}
			break
		}
	}
	m.source = pickSource(r.Series, service)
	if m.source == "" {
		return nil
	}
	m.points = r.Series[m.source]
	// Without a rollout.start (a report of an older drill, a hand-made
	// one) the labels may still say which side is which.
	if _, ok := m.points["baseline"]; ok && m.baseline == "" {
		m.baseline = "baseline"
	}
	if _, ok := m.points["canary"]; ok && m.canary == "" {
		m.canary = "canary"
	}
	m.labels = sortedKeys(m.points)
	// The baseline first, the canary second, so that they get the first
	// two colours whatever their names sort as.
	sort.SliceStable(m.labels, func(i, j int) bool { return m.rank(m.labels[i]) < m.rank(m.labels[j]) })
	m.end = m.t(r.EndedAt)
	for _, pts := range m.points {
		for _, pt := range pts {
			m.end = max(m.end, m.t(pt.Start))
		}
	}
	if m.end <= 0 {
		m.end = 1
	}
	m.faults = r.Faults
	if r.ExposureAt != nil {
		m.exposure = m.t(*r.ExposureAt)
	}
	if r.Decision != nil && !r.Decision.At.IsZero() {
		m.decisionAt = m.t(r.Decision.At)
	}
	weight := 0.0
	m.weights = plotter.XYs{{X: 0, Y: 0}}
	setWeight := func(at, w float64) {
		m.weights = append(m.weights, plotter.XY{X: at, Y: weight * 100}, plotter.XY{X: at, Y: w * 100})
		weight = w
	}
	for _, e := range r.Timeline {
		at := e.ElapsedSeconds
		switch e.Event {
		case journal.StepStart:
			w, ok := e.Fields["weight"].(float64)
			name := "step " + value(e.Fields["step"])
			if !ok {
				m.steps = append(m.steps, stepMark{at: at, name: name, weight: math.NaN()})
				continue
			}
			m.steps = append(m.steps, stepMark{at: at, name: name, weight: w})
			setWeight(at, w)
		case "promote":
			setWeight(at, 1)
		case journal.RollbackStep:
			if fieldString(e, "step") == "route-to-baseline" {
				setWeight(at, 0)
			}
		}
	}
	m.weights = append(m.weights, plotter.XY{X: m.end, Y: weight * 100})
	return m
}

// pickSource is the series the charts show: the rollout service's router,
// which sees each version's traffic apart; else the first router; else the
// client's view; else any source of request windows (CPU and memory are
// not requests).
func pickSource(series map[string]map[string][]SeriesPoint, service string) string {
	if _, ok := series["router:"+service]; ok && service != "" {
		return "router:" + service
	}
	for _, s := range sortedKeys(series) {
		if strings.HasPrefix(s, "router:") {
			return s
		}
	}
	if _, ok := series["client"]; ok {
		return "client"
	}
	for _, s := range sortedKeys(series) {
		if !strings.HasPrefix(s, "resources:") {
			return s
		}
	}
	return ""
}

func fieldString(e Event, key string) string {
	if s, ok := e.Fields[key].(string); ok {
		return s
	}
	return ""
}

func (m *chartModel) t(at time.Time) float64 {
	if at.IsZero() {
		return 0
	}
	return at.Sub(m.start).Seconds()
}

func (m *chartModel) rank(label string) int {
	switch label {
	case m.baseline:
		return 0
	case m.canary:
		return 1
	}
	return 2
}

func (m *chartModel) versionName(label string) string {
	switch {
	case label == m.baseline && label != "baseline":
		return label + " (baseline)"
	case label == m.canary && label != "canary":
		return label + " (canary)"
	}
	return label
}

// nearestWindow returns the requests of the window of pts that starts
// closest to at, within half a second (the windows of two versions are cut
// together, so they start within microseconds of each other).
func nearestWindow(pts []SeriesPoint, at time.Time) int64 {
	best, bestD := int64(0), 500*time.Millisecond
	for _, pt := range pts {
		d := pt.Start.Sub(at)
		if d < 0 {
			d = -d
		}
		if d <= bestD {
			best, bestD = pt.Requests, d
		}
	}
	return best
}
