package ledger

import "unicode/utf8"

// decodeFast reads a line the way Writer writes it (json.Marshal of
// an Entry: an object of "k", "c", "s" and "t") without reflection
// and without a map per entry: a million-line ledger spent most of its
// check in encoding/json. It gives up (ok false) on anything else: escape
// sequences, invalid UTF-8, other fields or value kinds. encoding/json
// then decodes the line, so the result never depends on which path ran.
func (b *batcher) decodeFast(line []byte) (key, status string, ok bool) {
	row := b.n * len(b.cols)
	if b.want != nil {
		clear(b.sent[row : row+len(b.cols)])
	}
	s := jsonLine{b: line}
	if !s.next('{') {
		return "", "", false
	}
	if s.next('}') {
		return "", "", s.end()
	}
	for {
		name, ok := s.str()
		if !ok || !s.next(':') {
			return "", "", false
		}
		switch string(name) {
		case "k", "s":
			v, ok := s.str()
			if !ok {
				return "", "", false
			}
			if name[0] == 'k' {
				key = string(v)
			} else {
				status = string(v)
			}
		case "t":
			if !s.integer() {
				return "", "", false
			}
		case "c":
			if !b.columnsFast(&s, row) {
				return "", "", false
			}
		default:
			return "", "", false
		}
		if s.next(',') {
			continue
		}
		if !s.next('}') {
			return "", "", false
		}
		return key, status, s.end()
	}
}

// columnsFast reads the "c" object into row's columns.
func (b *batcher) columnsFast(s *jsonLine, row int) bool {
	if s.literal("null") {
		if b.want != nil {
			clear(b.sent[row : row+len(b.cols)]) // as encoding/json drops the map
		}
		return true
	}
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	for {
		name, ok := s.str()
		if !ok || !s.next(':') {
			return false
		}
		v, ok := s.str()
		if !ok {
			return false
		}
		if b.want != nil {
			for j, c := range b.cols {
				if c == string(name) {
					b.want[row+j], b.sent[row+j] = string(v), true
				}
			}
		}
		if s.next(',') {
			continue
		}
		return s.next('}')
	}
}

// jsonLine scans the plain subset of JSON decodeFast accepts.
type jsonLine struct {
	b []byte
	i int
}

func (s *jsonLine) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\r' || s.b[s.i] == '\n') {
		s.i++
	}
}

// next consumes c (after white space) if it comes next.
func (s *jsonLine) next(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *jsonLine) literal(lit string) bool {
	s.space()
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// end reports whether only white space is left.
func (s *jsonLine) end() bool {
	s.space()
	return s.i == len(s.b)
}

// str reads a string without escapes; its bytes alias the line.
func (s *jsonLine) str() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	start, ascii := s.i, true
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, ascii || utf8.Valid(v)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// integer reads an optionally negative run of digits (the "t" field).
func (s *jsonLine) integer() bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start && (s.i == start+1 || s.b[start] != '0')
}
