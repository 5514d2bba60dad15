package reports

import (
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	good, bad := rolledBackReport(), failedReport()
	c := Compare(good, bad, DefaultMaxDrop)
	joined := strings.Join(c.Regressions, "\n")
	for _, want := range []string{
		"score dropped 98 points (98 -> 0), more than --max-drop 5",
		"expectation outcome held and now fails",
		"expectation detect_within held and now fails",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("regressions %q lack %q", c.Regressions, want)
		}
	}
	if c := Compare(bad, good, DefaultMaxDrop); len(c.Regressions) != 0 {
		t.Errorf("an improvement is a regression: %q", c.Regressions)
	}
	if c := Compare(good, good, DefaultMaxDrop); len(c.Regressions) != 0 {
		t.Errorf("the same run twice: %q", c.Regressions)
	}
	// A drop within --max-drop is not a regression; past it, it is.
	lower := rolledBackReport()
	lower.Score.Total = good.Score.Total - 5
	if c := Compare(good, lower, 5); len(c.Regressions) != 0 {
		t.Errorf("a 5-point drop with --max-drop 5: %q", c.Regressions)
	}
	if c := Compare(good, lower, 4); len(c.Regressions) != 1 {
		t.Errorf("a 5-point drop with --max-drop 4: %q", c.Regressions)
	}
	var b strings.Builder
	if err := Compare(good, bad, DefaultMaxDrop).Render(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"writes lost or changed", "worse", "REGRESSION: score dropped"} {
		if !strings.Contains(out, want) {
			t.Errorf("rendering lacks %q:\n%s", want, out)
		}
	}
}
