package reports

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Stage is one environment the release was promoted through (the
// scenario's stages:), in order. The report's other fields are those of
// the last stage that ran, where the release stopped; each stage's own
// figures are here.
type Stage struct {
	Name    string  `json:"name"`
	Outcome Outcome `json:"outcome"`
	// Score is the stage's own drill score (see Formula).
	Score     int       `json:"score"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at"`
	// RatePerSecond is the stage's load rate.
	RatePerSecond float64   `json:"rate_per_s"`
	Decision      *Decision `json:"decision"`
	// DetectionSeconds and RecoverySeconds as for the whole drill; null
	// when not applicable.
	DetectionSeconds *float64 `json:"detection_seconds"`
	RecoverySeconds  *float64 `json:"recovery_seconds"`
	Requests         Requests `json:"requests"`
	Ledger           Ledger   `json:"ledger"`
	// Released are the artifacts of the versions this stage rolled out,
	// with their digests: a later stage rolls out exactly these.
	Released []Artifact `json:"released"`
	// Rollback is the stage's rollback steps; empty when it promoted.
	Rollback []Step `json:"rollback"`
	// Left is what was left running in this stage when the drill ended:
	// "promoted" (the new versions serve), "rolled back", or "not reached".
	Left string `json:"left"`
}

// mdStages is a section per stage: how the release ended there, what it
// left running, and the builds it rolled out, by digest, so a reader sees
// that every stage ran the same build.
func mdStages(p *printer, r *Report) {
	if len(r.Stages) == 0 {
		return
	}
	mdHeading(p, "Stages")
	p.linef("Each stage is its own copy of the environment, run in order; a stage starts only after the one before it promoted, with exactly the builds that passed there. The sections above are the last stage's that ran.")
	for i, s := range r.Stages {
		p.linef("")
		p.linef("### Stage %d: %s", i+1, inline(s.Name))
		p.linef("")
		if s.Left == "not reached" {
			p.linef("Not reached: the release stopped before this stage.")
			continue
		}
		p.linef("%s at %s/s; left %s; score %d.", inline(string(s.Outcome)), strconv.FormatFloat(s.RatePerSecond, 'f', -1, 64), s.Left, s.Score)
		if s.Decision != nil {
			p.linef("")
			p.linef("Decision %s: %s", inline(s.Decision.Verdict), inline(s.Decision.Reason))
		}
		rows := [][]string{
			{"requests", fmt.Sprintf("%d total, %d failed", s.Requests.Total, s.Requests.Failed)},
			{"ledger", fmt.Sprintf("%d acknowledged, %d lost, %d changed", s.Ledger.Acknowledged, s.Ledger.Lost, s.Ledger.Changed)},
		}
		if s.DetectionSeconds != nil {
			rows = append(rows, []string{"detection", secs(*s.DetectionSeconds)})
		}
		if s.RecoverySeconds != nil {
			rows = append(rows, []string{"recovery", secs(*s.RecoverySeconds)})
		}
		for _, a := range s.Released {
			rows = append(rows, []string{"released " + a.Service + " " + a.Version, inline(a.Digest)})
		}
		for _, st := range s.Rollback {
			rows = append(rows, []string{"rollback " + st.Label(), okFail(st.OK) + ": " + st.Detail})
		}
		p.linef("")
		mdTable(p, []string{"measure", "value"}, "ll", rows)
	}
}

// tableStages is the terminal's stage table: one row per stage.
func tableStages(p *printer, r *Report) {
	if len(r.Stages) == 0 {
		return
	}
	p.section("Stages (the sections above are the last stage's that ran)")
	p.table([]string{"stage", "outcome", "left", "rate", "score", "released"}, nil, func(add func(...string)) {
		for _, s := range r.Stages {
			var rel []string
			for _, a := range s.Released {
				d := a.Digest
				if len(d) > 19 {
					d = d[:19] // sha256: and 12 hex digits, as docker shows an ID
				}
				rel = append(rel, a.Service+" "+a.Version+" "+d)
			}
			add(s.Name, string(s.Outcome), s.Left, strconv.FormatFloat(s.RatePerSecond, 'f', -1, 64)+"/s", strconv.Itoa(s.Score), strings.Join(rel, ", "))
		}
	})
}
