package harness

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/reports"
)

// runEvents reads a finished run's journal.jsonl back.
func runEvents(t *testing.T, rep *reports.Report) []journal.Event {
	t.Helper()
	events, err := journal.Read(filepath.Join(rep.RunDir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// winT0 is when win cuts its windows.
var winT0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// win records n requests with latency lat, the first failed of them
// answered 500 and the rest 200, and cuts them into a real window.
func win(n, failed int, lat time.Duration) metrics.Window {
	r := metrics.NewRecorder("router")
	r.Declare("v")
	for i := range n {
		status := 200
		if i < failed {
			status = 500
		}
		r.Record("v", metrics.Outcome{Status: status, Latency: lat})
	}
	return r.Cut(winT0)[0]
}
