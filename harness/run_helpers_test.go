package harness

import (
	"path/filepath"
	"testing"

	"github.com/drillhq/drill/harness/journal"
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
