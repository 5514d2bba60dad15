package reports

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/journal"
)

// phase is a stretch of the run the metrics are averaged over.
type phase struct {
	name  string
	start time.Time
}

// phases splits the run at each step.start and at the rollback decision,
// as the timeline records them. It returns the name of the stretch before
// the first split and the splits in time order.
func phases(r *Report) (string, []phase) {
	var splits []phase
	steps := 0
	decided := false
	for _, e := range r.Timeline {
		switch e.Event {
		case journal.StepStart:
			steps++
			name := "step " + strconv.Itoa(steps)
			if s, ok := e.Fields["step"]; ok && !isEmpty(s) {
				name = "step " + value(s)
			}
			splits = append(splits, phase{name, e.T})
		case journal.DecisionRollback:
			if !decided {
				decided = true
				splits = append(splits, phase{"after rollback decision", e.T})
			}
		}
	}
	if !decided && r.Decision != nil && r.Decision.Verdict == "rollback" && !r.Decision.At.IsZero() {
		splits = append(splits, phase{"after rollback decision", r.Decision.At})
	}
	sort.SliceStable(splits, func(i, j int) bool { return splits[i].start.Before(splits[j].start) })
	switch {
	case len(splits) == 0:
		return "whole run", nil
	case steps == 0:
		return "before rollback decision", splits
	}
	return "steady state", splits
}

type agg struct {
	windows          int
	requests, failed int64
	rateSum, p99Sum  float64
}

func (a agg) errorRate() float64 {
	if a.requests > 0 {
		return float64(a.failed) / float64(a.requests)
	}
	return a.rateSum / float64(a.windows)
}

func mdMetrics(p *printer, r *Report) {
	mdHeading(p, "Requests and per-version metrics")
	p.linef("Requests: %s.", requestsSummary(r.Requests))
	if ex := excludedSummary(r.Requests); ex != "" {
		p.linef("Blast radius: %s.", ex)
	}
	first, splits := phases(r)
	var rows [][]string
	for _, src := range sortedKeys(r.Series) {
		if strings.HasPrefix(src, "resources:") {
			continue // CPU and memory, not requests
		}
		for _, label := range sortedKeys(r.Series[src]) {
			byPhase := map[string]*agg{}
			for _, pt := range r.Series[src][label] {
				name := first
				for _, s := range splits {
					if !pt.Start.Before(s.start) {
						name = s.name
					}
				}
				a := byPhase[name]
				if a == nil {
					a = &agg{}
					byPhase[name] = a
				}
				a.windows++
				a.requests += pt.Requests
				a.failed += pt.Failed
				a.rateSum += pt.ErrorRate
				a.p99Sum += pt.P99Ms
			}
			order := []string{first}
			for _, s := range splits {
				order = append(order, s.name)
			}
			done := map[string]bool{}
			for _, name := range order {
				a := byPhase[name]
				if a == nil || done[name] {
					continue
				}
				done[name] = true
				rows = append(rows, []string{src, label, name, strconv.Itoa(a.windows), strconv.FormatInt(a.requests, 10),
					percent(a.errorRate()), strconv.FormatFloat(a.p99Sum/float64(a.windows), 'f', 1, 64)})
			}
		}
	}
	if len(rows) == 0 {
		p.linef("")
		p.linef("No window metrics were recorded.")
		return
	}
	p.linef("")
	mdTable(p, []string{"source", "version", "phase", "windows", "requests", "error rate", "p99 ms (mean)"}, "lllrrrr", rows)
}
