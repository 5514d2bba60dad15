package reports

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

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
