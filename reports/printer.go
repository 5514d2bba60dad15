package reports

import (
	"fmt"
	"io"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"github.com/olekukonko/tablewriter/tw"
)

// printer writes lines and tables, keeping the first error so that the
// renderer reads top to bottom without an error check per line.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) linef(format string, args ...any) {
	if p.err != nil {
		return
	}
	_, p.err = fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *printer) section(title string) {
	p.linef("")
	p.linef("%s", title)
}

// table renders one tablewriter table. Columns get widths from fitWidths,
// and cells wrap at word boundaries within them, so that long details stay
// within TableWidth.
func (p *printer) table(header []string, align []tw.Align, rows func(add func(...string))) {
	if p.err != nil {
		return
	}
	var cells [][]string
	rows(func(row ...string) { cells = append(cells, row) })
	widths := tw.NewMapper[int, int]()
	for i, w := range fitWidths(header, cells, TableWidth) {
		widths[i] = w + 2 // a space of padding on each side
	}
	opts := []tablewriter.Option{
		// Headers such as p99_ms must print as written, not as "P 99 MS".
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNormal),
		tablewriter.WithColumnWidths(widths),
	}
	if align != nil {
		opts = append(opts, tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}))
	} else {
		opts = append(opts, tablewriter.WithRowAlignment(tw.AlignLeft))
	}
	t := tablewriter.NewTable(p.w, opts...)
	t.Header(toAny(header)...)
	for _, row := range cells {
		if p.err = t.Append(toAny(row)...); p.err != nil {
			return
		}
	}
	p.err = t.Render()
}

// minColumn is the narrowest fitWidths makes a column: narrower, words
// would break mid-way.
const minColumn = 12

// fitWidths returns the content width of each column: its widest cell, with
// the widest columns narrowed in turn until the table, borders and padding
// included, fits in total. tablewriter's own MaxWidth splits the width
// evenly between columns, which squeezes the detail column while short
// columns waste space.
func fitWidths(header []string, rows [][]string, total int) []int {
	w := make([]int, len(header))
	for i, h := range header {
		w[i] = twwidth.Width(h)
	}
	for _, row := range rows {
		for i, c := range row {
			if i < len(w) {
				w[i] = max(w[i], twwidth.Width(c))
			}
		}
	}
	budget := total - (3*len(w) + 1) // "│ " before each column, " │" after the last
	sum := 0
	for _, v := range w {
		sum += v
	}
	for sum > budget {
		widest := 0
		for i := range w {
			if w[i] > w[widest] {
				widest = i
			}
		}
		if w[widest] <= minColumn {
			break // cannot fit without breaking words; let it overflow
		}
		w[widest]--
		sum--
	}
	return w
}

func toAny(s []string) []any {
	a := make([]any, len(s))
	for i, v := range s {
		a[i] = v
	}
	return a
}
