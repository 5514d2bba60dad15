package reports

import (
	"bytes"
	"fmt"
	"html"
	"html/template"
	"io"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/util"
)

func init() {
	RegisterFile("html", "report.html", "one self-contained page for a review: error rate, p99 and traffic weight over time with faults, steps and the decision marked, then the Markdown report's tables",
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

// htmlHead is the start of every page drill writes (a report, a suite
// index) up to <body>: one look, and nothing fetched from anywhere.
const htmlHead = `<!DOCTYPE html>
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
`

var htmlPage = template.Must(template.New("report").Parse(htmlHead + `<body>
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
