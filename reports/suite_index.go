package reports

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"path"
	"strings"
)

// The suite index is one page a person opens after a nightly run: did the
// suite pass, what failed or regressed, how the scores moved against the
// baseline, which drills were slowest, and a link to every run's report.
// Like a report, it is written as Markdown (index.md) and as the same
// text in one self-contained HTML page (index.html).

// RenderSuiteMarkdown writes the suite index in Markdown; every run links
// to RUN_DIR/report (a path relative to the suite directory).
func RenderSuiteMarkdown(w io.Writer, s *Suite, report string) error {
	p := &printer{w: w}
	suiteIndex(p, s, report)
	return p.err
}

// RenderSuiteHTML writes the suite index as one self-contained HTML page:
// the Markdown index's text turned into HTML, as the report's page is.
func RenderSuiteHTML(w io.Writer, s *Suite, report string) error {
	var md bytes.Buffer
	if err := RenderSuiteMarkdown(&md, s, report); err != nil {
		return err
	}
	body, err := markdownHTML(md.Bytes())
	if err != nil {
		return err
	}
	return suitePage.Execute(w, struct {
		Title string
		Body  template.HTML
	}{"drill suite — " + suiteWord(s), body})
}

var suitePage = template.Must(template.New("suite").Parse(htmlHead + `<body>
{{.Body}}
</body>
</html>
`))

// suiteWord is the suite's verdict in one word.
func suiteWord(s *Suite) string {
	if s.Passed {
		return "PASS"
	}
	return "FAIL"
}

func suiteIndex(p *printer, s *Suite, report string) {
	p.linef("# drill suite: %s", suiteWord(s))
	p.linef("")
	var counts []string
	for _, v := range SuiteVerdicts {
		if n := s.Counts[v]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, v))
		}
	}
	p.linef("%d drills: %s.", len(s.Drills), strings.Join(counts, ", "))
	p.linef("")
	opts := []string{"started " + suiteStamp(s.StartedAt), "took " + secs(s.EndedAt.Sub(s.StartedAt).Seconds())}
	if s.Shard != "" {
		opts = append(opts, "shard "+s.Shard)
	}
	if len(s.Tags) > 0 {
		opts = append(opts, "tags "+strings.Join(s.Tags, ","))
	}
	opts = append(opts, fmt.Sprintf("parallel %d (%.1f of %d CPUs)", s.Parallel, s.Capacity, s.CPUs), fmt.Sprintf("retries %d", s.Retries))
	if s.Timeout != "" {
		opts = append(opts, "timeout "+s.Timeout+" a drill")
	}
	p.linef("%s", inline(strings.Join(opts, " · ")))
	if len(s.Args) > 0 {
		p.linef("")
		p.linef("Ran: `%s`", inlineCode(strings.Join(s.Args, " ")))
	}
	if s.Baseline != "" {
		p.linef("")
		p.linef("Baseline: `%s`. %s", inlineCode(s.Baseline), scoreTrend(s))
	}

	mdHeading(p, "Drills")
	var rows [][]string
	for _, d := range s.Drills {
		rows = append(rows, []string{verdictCell(d.Verdict), drillLink(d, report), strings.Join(d.Tags, ", "),
			scoreCell(d), baselineCell(d), fmt.Sprint(len(d.Attempts)), secs(d.Seconds()), d.Reason})
	}
	mdTable(p, []string{"verdict", "drill", "tags", "score", "vs baseline", "attempts", "time", "why"}, "llllrrrl", rows)

	if bad := s.notPassed(); len(bad) > 0 {
		mdHeading(p, "Worst drills")
		for _, d := range s.Worst(min(5, len(bad))) {
			if d.Verdict == VerdictPassed || d.Verdict == VerdictSkipped {
				break
			}
			p.linef("- **%s** %s: %s", d.Verdict, drillLink(d, report), inline(d.Reason))
			for _, prob := range d.Problems {
				p.linef("  - `%s`", inlineCode(prob))
			}
			if b := d.Baseline; b != nil {
				for _, reg := range b.Regressions {
					p.linef("  - regression: %s", inline(reg))
				}
			}
		}
	}
	if slow := s.Slowest(5); len(slow) > 0 {
		mdHeading(p, "Slowest drills")
		for _, d := range slow {
			p.linef("- %s %s (%d %s)", secs(d.Seconds()), drillLink(d, report), len(d.Attempts), plural(int64(len(d.Attempts)), "attempt", "attempts"))
		}
	}
	mdHeading(p, "Every attempt")
	rows = nil
	for _, d := range s.Drills {
		for i, a := range d.Attempts {
			why := strings.Join(append(append([]string{}, a.Failed...), a.Evidence...), "; ")
			if a.Error != "" {
				why = strings.TrimPrefix(why+"; "+a.Error, "; ")
			}
			rows = append(rows, []string{name(d), fmt.Sprint(i + 1), attemptWord(a), string(a.Outcome), fmt.Sprint(a.Score),
				secs(a.Seconds), runLink(a.RunDir, report), why})
		}
	}
	if len(rows) == 0 {
		p.linef("No drill ran.")
		return
	}
	mdTable(p, []string{"drill", "attempt", "result", "outcome", "score", "time", "report", "why"}, "lrllrrll", rows)
}

// notPassed are the drills whose verdict fails the suite.
func (s *Suite) notPassed() []SuiteDrill {
	var out []SuiteDrill
	for _, d := range s.Drills {
		if d.Verdict != VerdictPassed && d.Verdict != VerdictSkipped {
			out = append(out, d)
		}
	}
	return out
}

// scoreTrend sums up the scores against the baseline's.
func scoreTrend(s *Suite) string {
	var n, now, then, regressed int
	for _, d := range s.Drills {
		a := d.Final()
		if d.Baseline == nil || a == nil {
			continue
		}
		n++
		now += a.Score
		then += d.Baseline.Score
		if len(d.Baseline.Regressions) > 0 {
			regressed++
		}
	}
	if n == 0 {
		return "No drill of this suite ran in the baseline."
	}
	return fmt.Sprintf("Over the %d drills both ran: mean score %.1f against %.1f (%+.1f); %d regressed.",
		n, float64(now)/float64(n), float64(then)/float64(n), float64(now-then)/float64(n), regressed)
}

func name(d SuiteDrill) string {
	if d.Scenario != "" {
		return d.Scenario
	}
	return d.File
}

func verdictCell(v string) string {
	if v == VerdictPassed {
		return v
	}
	return "**" + v + "**"
}

// drillLink links the drill's name to its last attempt's report.
func drillLink(d SuiteDrill, report string) string {
	a := d.Final()
	if a == nil || a.RunDir == "" {
		return "`" + inlineCode(name(d)) + "`"
	}
	return fmt.Sprintf("[%s](%s)", mdLinkText(name(d)), mdLinkTarget(path.Join(a.RunDir, report)))
}

func runLink(runDir, report string) string {
	if runDir == "" {
		return ""
	}
	return fmt.Sprintf("[%s](%s)", mdLinkText(path.Base(runDir)), mdLinkTarget(path.Join(runDir, report)))
}

// mdLinkText escapes what would end a link's text.
func mdLinkText(s string) string {
	return strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`).Replace(inline(s))
}

// mdLinkTarget writes a relative path as a link destination: <…> keeps
// spaces and parentheses in it; what would end it is escaped.
func mdLinkTarget(s string) string {
	return "<" + strings.NewReplacer("<", "%3C", ">", "%3E", "\n", "").Replace(s) + ">"
}

func scoreCell(d SuiteDrill) string {
	a := d.Final()
	if a == nil {
		return ""
	}
	if a.Grade == "" {
		return fmt.Sprint(a.Score)
	}
	return fmt.Sprintf("%d (%s)", a.Score, a.Grade)
}

func baselineCell(d SuiteDrill) string {
	b := d.Baseline
	if b == nil {
		return ""
	}
	return fmt.Sprintf("%d → %+d", b.Score, b.Delta)
}
