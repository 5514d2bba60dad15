package dbcheck

import "strings"

// sqlToken is one token of SQL text, by byte offsets, with the number of
// parentheses around it (a parenthesis has the depth outside it).
type sqlToken struct{ start, end, depth int }

// text is the token as written.
func (t sqlToken) text(s string) string { return s[t.start:t.end] }

// sqlTokens splits SQL text into words, quoted strings and identifiers
// ('…', "…", `…`, […]) and single punctuation characters, skipping spaces
// and comments, so that parentheses and keywords inside quotes or comments
// are not mistaken for structure.
func sqlTokens(s string) []sqlToken {
	var toks []sqlToken
	depth := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case strings.ContainsRune(" \t\n\r\f\v", rune(c)):
			i++
			continue
		case strings.HasPrefix(s[i:], "--"):
			if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(s)
			}
			continue
		case strings.HasPrefix(s[i:], "/*"):
			if j := strings.Index(s[i+2:], "*/"); j >= 0 {
				i += j + 4
			} else {
				i = len(s)
			}
			continue
		}
		start := i
		switch {
		case strings.ContainsRune(`'"`+"`[", rune(c)):
			quote := c
			if c == '[' {
				quote = ']'
			}
			for i++; i < len(s); i++ {
				if s[i] == quote {
					if quote != ']' && i+1 < len(s) && s[i+1] == quote {
						i++ // a doubled quote is one quote character
						continue
					}
					i++
					break
				}
			}
		case isWordByte(c):
			for i < len(s) && isWordByte(s[i]) {
				i++
			}
		default:
			i++
		}
		if c == ')' {
			depth--
		}
		toks = append(toks, sqlToken{start, i, depth})
		if c == '(' {
			depth++
		}
	}
	return toks
}

// isWordByte reports whether c can be part of a keyword, identifier or
// number (bytes of non-ASCII letters included).
func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// squeeze rewrites the tokens of s as written, one space wherever the text
// had spaces or comments: formatting then does not count, while quoted text
// is kept exactly.
func squeeze(s string, toks []sqlToken) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 && t.start > toks[i-1].end {
			b.WriteByte(' ')
		}
		b.WriteString(t.text(s))
	}
	return b.String()
}
