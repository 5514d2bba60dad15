package reports

import (
	"bytes"
	"fmt"
	"html"
	"html/template"
	"image/color"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/journal"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/util"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

func init() {
	Register("html", "one self-contained page for a review: error rate, p99 and traffic weight over time with faults, steps and the decision marked, then the Markdown report's tables",
		RendererFunc(renderHTML))
}

// renderHTML writes the report as one HTML file that needs nothing but
// itself: no script, no stylesheet or font to fetch, the charts inline SVG.
// Its text is the Markdown report's (mdSections) turned into HTML by
// goldmark, so the two formats cannot say different things; the charts go
// after the verdict and the decision, which is what a reviewer looks at
// first.
func renderHTML(w io.Writer, r *Report) error {
	var lead, rest bytes.Buffer
	p := &printer{w: &lead}
	for i, section := range mdSections {
		if i == mdLead {
			p.w = &rest
		}
		section(p, r)
	}
	if p.err != nil {
		return p.err
	}
	leadHTML, err := markdownHTML(lead.Bytes())
	if err != nil {
		return err
	}
	restHTML, err := markdownHTML(rest.Bytes())
	if err != nil {
		return err
	}
	charts, err := reportCharts(r)
	if err != nil {
		return err
	}
	title := r.Scenario
	if title == "" {
		title = "unnamed scenario"
	}
	return htmlPage.Execute(w, htmlData{
		Title:  title + " — drill report",
		Lead:   leadHTML,
		Charts: charts,
		Rest:   restHTML,
	})
}

type htmlData struct {
	Title      string
	Lead, Rest template.HTML
	Charts     []chart
}

// chart is one figure of the HTML report.
type chart struct {
	ID      string
	Title   string
	SVG     template.HTML
	Caption string
}

var htmlPage = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="drill">
<title>{{.Title}}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; color: #1d1d1f; max-width: 1100px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .6em 0; font-size: .92em; }
th, td { border: 1px solid #d0d0d0; padding: .25em .55em; vertical-align: top; }
th { background: #f3f3f3; } tr:nth-child(even) td { background: #fafafa; }
code, pre { font: .9em ui-monospace, monospace; background: #f5f5f5; }
pre { padding: .6em; overflow-x: auto; }
figure.chart { margin: 1em 0; } figure.chart svg { max-width: 100%; height: auto; }
figcaption { font-size: .88em; color: #555; }
</style>
</head>
<body>
{{.Lead}}
<h2 id="charts">Charts</h2>
{{range .Charts}}<figure class="chart" id="{{.ID}}">
{{.SVG}}
<figcaption>{{.Title}}: {{.Caption}}</figcaption>
</figure>
{{else}}<p>No window metrics were recorded, so there is nothing to chart.</p>
{{end}}
{{.Rest}}
</body>
</html>
`))

// markdownHTML turns the Markdown report into HTML with goldmark (tables
// extension). Goldmark escapes text and drops dangerous links; raw HTML,
// which a scenario's name or description could smuggle in, is written
// escaped, as text, by rawHTMLAsText.
func markdownHTML(md []byte) (template.HTML, error) {
	var buf bytes.Buffer
	gm := goldmark.New(
		goldmark.WithExtensions(extension.Table),
		goldmark.WithRendererOptions(renderer.WithNodeRenderers(util.Prioritized(rawHTMLAsText{}, 100))),
	)
	if err := gm.Convert(md, &buf); err != nil {
		return "", fmt.Errorf("html: %w", err)
	}
	return template.HTML(buf.String()), nil // goldmark's output, raw HTML escaped
}

// rawHTMLAsText renders raw HTML found in the Markdown as escaped text, so
// that a `<script>` in a scenario's description shows as what it is. The
// one tag let through is <br>, which the Markdown renderer itself writes
// for a line break inside a table cell.
type rawHTMLAsText struct{}

func (rawHTMLAsText) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindRawHTML, func(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		raw := n.(*ast.RawHTML)
		var text strings.Builder
		for i := 0; i < raw.Segments.Len(); i++ {
			seg := raw.Segments.At(i)
			text.Write(seg.Value(src))
		}
		if t := strings.ToLower(text.String()); t == "<br>" || t == "<br/>" || t == "<br />" {
			_, err := w.WriteString("<br>")
			return ast.WalkContinue, err
		}
		_, err := w.WriteString(html.EscapeString(text.String()))
		return ast.WalkContinue, err
	})
	reg.Register(ast.KindHTMLBlock, func(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		b := n.(*ast.HTMLBlock)
		var text strings.Builder
		for i := 0; i < b.Lines().Len(); i++ {
			line := b.Lines().At(i)
			text.Write(line.Value(src))
		}
		if b.HasClosure() {
			text.Write(b.ClosureLine.Value(src))
		}
		_, err := w.WriteString("<p>" + html.EscapeString(strings.TrimSpace(text.String())) + "</p>\n")
		return ast.WalkSkipChildren, err
	})
}

// Chart colours: the baseline blue, the canary orange (the same two as
// most canary dashboards), other labels after them.
var (
	versionColors = []color.Color{
		color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff},
		color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff},
		color.RGBA{0x8c, 0x56, 0x4b, 0xff}, color.RGBA{0x7f, 0x7f, 0x7f, 0xff},
	}
	faultFill    = color.NRGBA{0xd6, 0x27, 0x28, 0x30} // translucent: the lines show through
	stepColor    = color.RGBA{0x60, 0x60, 0x60, 0xff}
	rollbackRed  = color.RGBA{0xd6, 0x27, 0x28, 0xff}
	promoteGreen = color.RGBA{0x2c, 0xa0, 0x2c, 0xff}
	exposureInk  = color.RGBA{0x00, 0x00, 0x00, 0xff}
)

// Chart size: wide and short, like a dashboard panel.
const (
	chartWidth  = 9 * vg.Inch
	chartHeight = 3.2 * vg.Inch
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

// reportCharts draws the three charts of the HTML report: error rate and
// p99 per version, and the canary's traffic weight, over the run's time in
// seconds (the timeline's t), with fault windows shaded and the steps, T0
// and the decision marked. It returns none when no window was recorded.
func reportCharts(r *Report) ([]chart, error) {
	m := newChartModel(r)
	if m == nil {
		return nil, nil
	}
	// A window without requests has no error rate (a stopped canary's
	// windows after the rollback), not a rate of 0.
	percentOf := func(pt SeriesPoint) (float64, bool) { return pt.ErrorRate * 100, pt.Requests > 0 }
	p99 := func(pt SeriesPoint) (float64, bool) { return pt.P99Ms, pt.Requests > 0 }
	specs := []struct {
		id, title, y, caption string
		plot                  func() (*plot.Plot, error)
	}{
		{"chart-error-rate", "Error rate per version", "error rate (%)",
			"failed requests as a share of each version's requests per window, at the " + m.source + " router",
			func() (*plot.Plot, error) { return m.versionPlot("error rate (%)", percentOf) }},
		{"chart-p99", "p99 latency per version", "p99 (ms)",
			"99th percentile of each version's latency per window, at the " + m.source + " router",
			func() (*plot.Plot, error) { return m.versionPlot("p99 (ms)", p99) }},
		{"chart-weight", "Canary traffic weight", "canary share (%)",
			"the weight the rollout set (line) and the canary's measured share of the requests per window (points)",
			m.weightPlot},
	}
	var out []chart
	for _, s := range specs {
		p, err := s.plot()
		if err != nil {
			return nil, fmt.Errorf("html chart %s: %w", s.id, err)
		}
		p.Title.Text = s.title
		svg, err := plotSVG(p)
		if err != nil {
			return nil, fmt.Errorf("html chart %s: %w", s.id, err)
		}
		out = append(out, chart{ID: s.id, Title: s.title, SVG: svg, Caption: s.caption + "; shaded: fault windows; grey dashes: steps; T0: exposure"})
	}
	return out, nil
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

// versionPlot draws one line per version of the value y reads off each
// window (ok false skips the window), with the marks.
func (m *chartModel) versionPlot(ylabel string, y func(SeriesPoint) (float64, bool)) (*plot.Plot, error) {
	p := m.newPlot(ylabel)
	m.addFaults(p)
	for i, label := range m.labels {
		var xys plotter.XYs
		for _, pt := range m.points[label] {
			if v, ok := y(pt); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
				xys = append(xys, plotter.XY{X: m.t(pt.Start), Y: v})
			}
		}
		if len(xys) == 0 {
			continue
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		line.Color = versionColors[min(i, len(versionColors)-1)]
		line.Width = vg.Points(1.6)
		p.Add(line)
		p.Legend.Add(m.versionName(label), line)
	}
	m.addMarks(p)
	headroom(p)
	return p, nil
}

// headroom leaves the top of the plot to the legend: the data's range is
// stretched by legendShare, and an all-zero series (no failures) still
// gets an axis from 0 to 1 rather than one around zero.
func headroom(p *plot.Plot) {
	if p.Y.Max <= p.Y.Min {
		p.Y.Max = p.Y.Min + 1
	}
	p.Y.Max = p.Y.Min + (p.Y.Max-p.Y.Min)/(1-legendShare)
}

// legendShare is the fraction of a chart's height kept free for the
// legend.
const legendShare = 0.45

func (m *chartModel) versionName(label string) string {
	switch {
	case label == m.baseline && label != "baseline":
		return label + " (baseline)"
	case label == m.canary && label != "canary":
		return label + " (canary)"
	}
	return label
}

// weightPlot draws the weight the rollout set and the canary's measured
// share of each window's requests.
func (m *chartModel) weightPlot() (*plot.Plot, error) {
	p := m.newPlot("canary share (%)")
	p.Y.Max = 100 / (1 - legendShare)
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: 25}, {Value: 50, Label: "50"}, {Value: 75}, {Value: 100, Label: "100"}})
	m.addFaults(p)
	set, err := plotter.NewLine(m.weights)
	if err != nil {
		return nil, err
	}
	set.Color = versionColors[1]
	set.Width = vg.Points(1.6)
	p.Add(set)
	p.Legend.Add("weight set", set)
	if m.canary != "" {
		var share plotter.XYs
		base := m.points[m.baseline]
		for _, pt := range m.points[m.canary] {
			other := nearestWindow(base, pt.Start)
			if total := pt.Requests + other; total > 0 {
				share = append(share, plotter.XY{X: m.t(pt.Start), Y: 100 * float64(pt.Requests) / float64(total)})
			}
		}
		if len(share) > 0 {
			sc, err := plotter.NewScatter(share)
			if err != nil {
				return nil, err
			}
			sc.Color = versionColors[1]
			sc.Radius = vg.Points(2)
			p.Add(sc)
			p.Legend.Add("measured share", sc)
		}
	}
	m.addMarks(p)
	return p, nil
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

func (m *chartModel) newPlot(ylabel string) *plot.Plot {
	p := plot.New()
	p.X.Label.Text = "seconds since the run started"
	p.Y.Label.Text = ylabel
	p.X.Min, p.X.Max = 0, m.end*1.03 // room for the last tick label
	p.X.Tick.Marker = plainTicks{}
	p.Y.Min = 0
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Legend.Padding = vg.Points(1)
	p.Add(plotter.NewGrid())
	return p
}

func (m *chartModel) addFaults(p *plot.Plot) {
	for i, f := range m.faults {
		if f.AppliedAt == nil {
			continue
		}
		to := m.end
		if f.RevertedAt != nil {
			to = m.t(*f.RevertedAt)
		}
		s := span{x0: m.t(*f.AppliedAt), x1: to, fill: faultFill}
		p.Add(s)
		if !seenFault(m.faults[:i], f) {
			p.Legend.Add("fault: "+f.Name+" ("+f.Kind+")", s)
		}
	}
}

// seenFault says whether a fault of f's name is in before: a fault applied
// twice gets one legend entry.
func seenFault(before []Fault, f Fault) bool {
	for _, b := range before {
		if b.Name == f.Name {
			return true
		}
	}
	return false
}

func (m *chartModel) addMarks(p *plot.Plot) {
	stepStyle := draw.LineStyle{Color: stepColor, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(3), vg.Points(3)}}
	for i, s := range m.steps {
		l := vline{x: s.at, style: stepStyle}
		p.Add(l)
		if i == 0 {
			p.Legend.Add("step start", l)
		}
	}
	if !math.IsNaN(m.exposure) {
		l := vline{x: m.exposure, style: draw.LineStyle{Color: exposureInk, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(1), vg.Points(2)}}}
		p.Add(l)
		p.Legend.Add("T0 exposure", l)
	}
	if d := m.decision; d != nil && !d.At.IsZero() {
		c, name := color.Color(rollbackRed), "rollback decision"
		if d.Verdict != "rollback" {
			c, name = promoteGreen, d.Verdict+" decision"
		}
		l := vline{x: m.decisionAt, style: draw.LineStyle{Color: c, Width: vg.Points(2)}}
		p.Add(l)
		p.Legend.Add(name, l)
	}
}

// plainTicks are gonum's default ticks labelled as plain numbers: "25",
// not "25.00", which the default writes when the axis ends off the grid.
type plainTicks struct{}

// Ticks implements plot.Ticker.
func (plainTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ticks {
		if ticks[i].Label != "" {
			// Rounded first: a tick at 3 × 0.1 is 0.30000000000000004.
			ticks[i].Label = strconv.FormatFloat(math.Round(ticks[i].Value*1e6)/1e6, 'f', -1, 64)
		}
	}
	return ticks
}

// span shades the stretch [x0, x1] of the x axis over the plot's height.
type span struct {
	x0, x1 float64
	fill   color.Color
}

// Plot implements plot.Plotter.
func (s span) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x0, x1 := trX(math.Max(s.x0, p.X.Min)), trX(math.Min(s.x1, p.X.Max))
	if x1 <= x0 {
		return
	}
	c.FillPolygon(s.fill, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
}

// Thumbnail implements plot.Thumbnailer, for the legend.
func (s span) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(s.fill, []vg.Point{c.Min, {X: c.Max.X, Y: c.Min.Y}, c.Max, {X: c.Min.X, Y: c.Max.Y}})
}

// vline marks an instant with a vertical line over the plot's height.
type vline struct {
	x     float64
	style draw.LineStyle
}

// Plot implements plot.Plotter.
func (l vline) Plot(c draw.Canvas, p *plot.Plot) {
	if l.x < p.X.Min || l.x > p.X.Max {
		return
	}
	trX, _ := p.Transforms(&c)
	x := trX(l.x)
	c.StrokeLine2(l.style, x, c.Min.Y, x, c.Max.Y)
}

// Thumbnail implements plot.Thumbnailer, for the legend.
func (l vline) Thumbnail(c *draw.Canvas) {
	y := (c.Min.Y + c.Max.Y) / 2
	c.StrokeLine2(l.style, c.Min.X, y, c.Max.X, y)
}

// plotSVG draws p as an SVG element to inline in HTML: vgsvg's document
// without its XML declaration. vgsvg escapes the text it draws (legend
// entries carry fault names from the scenario).
func plotSVG(p *plot.Plot) (template.HTML, error) {
	c := vgsvg.New(chartWidth, chartHeight)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", err
	}
	s := buf.String()
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	return template.HTML(s), nil // drawn by vgsvg, text escaped
}
