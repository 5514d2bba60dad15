package reports

import (
	"fmt"
	"time"
)

// at formats t as an offset from the start of the run, which reads more
// easily than wall-clock times when comparing events.
func (r *Report) at(t time.Time) string {
	switch {
	case t.IsZero():
		return "-"
	case r.StartedAt.IsZero():
		return t.UTC().Format("15:04:05.000")
	}
	d, sign := t.Sub(r.StartedAt).Seconds(), "+"
	if d < 0 {
		d, sign = -d, "-"
	}
	return sign + secs(d)
}

func (r *Report) atPtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return r.at(*t)
}

func effective(f Fault) string {
	e := "unknown"
	if f.Effective != nil {
		e = yesNo(*f.Effective)
	}
	if f.Measured != "" {
		e += ": " + f.Measured
	}
	return e
}

func okFail(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAIL"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// requestsSummary is the load's counts in one line, for every renderer.
func requestsSummary(q Requests) string {
	s := fmt.Sprintf("%d total, %d failed", q.Total, q.Failed)
	if q.Total > 0 {
		s += fmt.Sprintf(" (%s), %d excess (%s)", percent(float64(q.Failed)/float64(q.Total)),
			q.ExcessFailed, percent(float64(q.ExcessFailed)/float64(q.Total)))
	} else {
		s += fmt.Sprintf(", %d excess", q.ExcessFailed)
	}
	return s + "; baseline failure rate " + percent(q.BaselineFailureRate)
}

// excludedSummary says which requests the blast radius left out and why,
// or "" when it counted every request.
func excludedSummary(q Requests) string {
	if q.ExcludedTotal == 0 {
		return ""
	}
	return fmt.Sprintf("over %d sent after T0; %d before (%d failed) left out: %s",
		q.ExposedTotal, q.ExcludedTotal, q.ExcludedFailed, q.ExcludedReason)
}

// ledgerSummary is the ledger's counts in one line, for every renderer.
func ledgerSummary(l Ledger) string {
	if !l.Checked {
		return "not checked"
	}
	return fmt.Sprintf("%d acknowledged, %d lost, %d changed, %d duplicated, %d indeterminate",
		l.Acknowledged, l.Lost, l.Changed, l.Duplicated, l.Indeterminate)
}

// schemaSummary says whether the schema was restored and at which
// version; notRestored and code are the renderer's markup for the failure
// and for the version.
func schemaSummary(d Data, notRestored string, code func(string) string) string {
	s := "not checked"
	if d.SchemaRestored != nil {
		s = "restored"
		if !*d.SchemaRestored {
			s = notRestored
		}
	}
	if d.SchemaVersion != "" {
		s += ", at version " + code(d.SchemaVersion)
	}
	return s
}
