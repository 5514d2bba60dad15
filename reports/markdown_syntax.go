package reports

import "strings"

// mdTable writes a GitHub-flavoured Markdown table. align has one letter
// per column: l or r.
func mdTable(p *printer, header []string, align string, rows [][]string) {
	line := func(cells []string) {
		esc := make([]string, len(header))
		for i := range header {
			if i < len(cells) {
				esc[i] = cell(cells[i])
			}
		}
		p.linef("| %s |", strings.Join(esc, " | "))
	}
	line(header)
	sep := make([]string, len(header))
	for i := range header {
		sep[i] = "---"
		if i < len(align) && align[i] == 'r' {
			sep[i] = "--:"
		}
	}
	p.linef("|%s|", strings.Join(sep, "|"))
	for _, row := range rows {
		line(row)
	}
}

// cell escapes s for a Markdown table cell: a backslash or a pipe would
// end the cell or escape its delimiter, a newline would end the row.
func cell(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.TrimSpace(s)
	return strings.ReplaceAll(s, "\n", "<br>")
}

// inline makes s fit on one line of prose or a heading.
func inline(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func inlineCode(s string) string { return strings.ReplaceAll(inline(s), "`", "'") }

// codeBlock writes lines in a fenced block whose fence is longer than any
// run of backticks inside.
func codeBlock(p *printer, lines []string) {
	longest := 0
	for _, l := range lines {
		run := 0
		for _, c := range l {
			if c == '`' {
				run++
				longest = max(longest, run)
			} else {
				run = 0
			}
		}
	}
	fence := strings.Repeat("`", max(3, longest+1))
	p.linef("%s", fence)
	for _, l := range lines {
		p.linef("%s", strings.TrimRight(l, "\r"))
	}
	p.linef("%s", fence)
}
