package suite

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/drillhq/drill/reports"
)

// LoadBaseline reads every report.json under dir — an earlier suite's
// directory, the artifacts of all its CI shards downloaded side by side,
// or a plain runs directory — and keeps each scenario's newest report by
// its start time. A report that cannot be read is an error: comparing
// against half a baseline would pass drills it never checked.
func LoadBaseline(dir string) (map[string]*reports.Report, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("--baseline: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("--baseline %s: not a directory (give an earlier suite's directory)", dir)
	}
	out := map[string]*reports.Report{}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != "report.json" {
			return nil
		}
		r, err := reports.Read(path)
		if err != nil {
			return err
		}
		if prev := out[r.Scenario]; prev == nil || r.StartedAt.After(prev.StartedAt) {
			// Where the report is now, not where it was written: a
			// baseline is often moved (downloaded CI artifacts).
			r.RunDir = filepath.Dir(path)
			out[r.Scenario] = r
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("--baseline: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--baseline %s: no report.json under it", dir)
	}
	return out, nil
}
