package reports

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// hostileReport carries markup and a script link in every string a
// scenario author controls that the HTML report shows.
func hostileReport() *Report {
	r := abortedReport()
	r.Scenario = `<script>alert("name")</script>`
	r.Description = "<img src=x onerror=alert(1)> and [a link](javascript:alert(2)) & more\n\n<div>block</div>"
	r.Faults[0].Name = `<b onclick="alert(3)">db</b>`
	r.Faults[0].Measured = `</td><script>alert(4)</script>`
	r.Error = `<iframe src="http://example.com/">`
	r.Timeline = append(r.Timeline, Event{T: at(22), ElapsedSeconds: 22, Event: "fault.effect",
		Fields: map[string]any{"fault": r.Faults[0].Name, "measured": r.Faults[0].Measured}})
	Evaluate(r)
	return r
}

// TestHTMLEscapesScenarioStrings parses the page of a hostile report and
// checks that none of its markup became an element or an attribute, and
// that the strings are still there, as text.
func TestHTMLEscapesScenarioStrings(t *testing.T) {
	page := render(t, "html", hostileReport())
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for n := range doc.Descendants() {
		switch n.Type {
		case html.ElementNode:
			switch n.Data {
			case "script", "img", "iframe", "b", "div":
				t.Errorf("a <%s> element made it into the page", n.Data)
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") || strings.Contains(strings.ToLower(a.Val), "javascript:") {
					t.Errorf("<%s %s=%q> made it into the page", n.Data, a.Key, a.Val)
				}
			}
		case html.TextNode:
			text.WriteString(n.Data)
		}
	}
	for _, s := range []string{`<script>alert("name")</script>`, "<img src=x onerror=alert(1)>", `<b onclick="alert(3)">db</b>`, `<iframe src="http://example.com/">`} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("the page's text lost %q", s)
		}
	}
}

// fetches lists what in a parsed page would make a browser fetch
// something: an element that loads a resource, an attribute naming one
// (other than a link to click), a stylesheet's url() or @import.
func fetches(t *testing.T, page string) []string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch n.Data {
		case "script", "link", "iframe", "img", "object", "embed":
			out = append(out, "<"+n.Data+">")
		case "style":
			if css := n.FirstChild; css != nil && (strings.Contains(css.Data, "url(") || strings.Contains(css.Data, "@import")) {
				out = append(out, "style with url() or @import")
			}
		}
		for _, a := range n.Attr {
			switch strings.ToLower(a.Key) {
			case "src", "srcset", "action", "poster", "data", "href":
				// A link is followed when clicked, not fetched: a
				// runbook link in a description may stay.
				if n.Data != "a" && !strings.HasPrefix(a.Val, "#") {
					out = append(out, n.Data+" "+a.Key+"="+a.Val)
				}
			}
		}
	}
	return out
}

// TestHTMLIsSelfContained checks that no golden report's page refers to
// anything outside itself, and that each page with window metrics holds
// its three charts.
func TestHTMLIsSelfContained(t *testing.T) {
	for _, g := range append(goldenReports(), goldenReport{"hostile", hostileReport()}) {
		t.Run(g.name, func(t *testing.T) {
			page := render(t, "html", g.report)
			if f := fetches(t, page); len(f) > 0 {
				t.Errorf("the page refers to something outside itself: %q", f)
			}
			want := 3
			if len(g.report.Series) == 0 {
				want = 0
			}
			if n := strings.Count(page, "<svg"); n != want {
				t.Errorf("%d charts, want %d", n, want)
			}
			if want == 0 && !strings.Contains(page, "nothing to chart") {
				t.Error("a page without charts does not say why")
			}
		})
	}
}

// TestHTMLChartsMarkTheRun checks what the charts of the aborted drill
// show: both versions, the fault, the step, T0; and no decision, since
// none was taken.
func TestHTMLChartsMarkTheRun(t *testing.T) {
	charts, err := reportCharts(abortedReport())
	if err != nil {
		t.Fatal(err)
	}
	if len(charts) != 3 {
		t.Fatalf("%d charts, want 3", len(charts))
	}
	for _, c := range charts[:2] {
		for _, want := range []string{"v1 (baseline)", "v2 (canary)", "fault: db-latency (latency)", "step start", "T0 exposure"} {
			if !strings.Contains(string(c.SVG), want) {
				t.Errorf("%s: no %q in the legend", c.ID, want)
			}
		}
		if strings.Contains(string(c.SVG), "decision") {
			t.Errorf("%s marks a decision that was never taken", c.ID)
		}
	}
	rb, err := reportCharts(rolledBackReport())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rb[0].SVG), "rollback decision") {
		t.Error("the rolled-back drill's chart does not mark the rollback decision")
	}
	m := newChartModel(promotedReport())
	var ws []float64
	for _, xy := range m.weights {
		ws = append(ws, xy.Y)
	}
	if got := ws[len(ws)-1]; got != 100 {
		t.Errorf("promoted drill's weight ends at %v%%, want 100%% (weights %v)", got, ws)
	}
	m = newChartModel(abortedReport())
	if got := m.weights[len(m.weights)-1].Y; got != 0 {
		t.Errorf("aborted drill's weight ends at %v%%, want 0%% after route-to-baseline", got)
	}
}
