package router

import (
	"bytes"
)

// This file parses HTTP/1.1 message heads in place, in the bytes a
// bufio.Reader holds, for the fast path (fast.go). It understands only the
// common, unambiguous forms; anything else makes the parse fail, and the
// caller then leaves the message to net/http, which knows every corner of
// the protocol. Nothing here allocates.

// maxConnTokens bounds the Connection header tokens the fast path keeps;
// a request naming more goes to net/http.
const maxConnTokens = 8

// headStatus is the outcome of scanning for a message head.
type headStatus int

const (
	headMore     headStatus = iota // no blank line yet: read more
	headComplete                   // a head the fast path handles
	headRefused                    // valid or not, not for the fast path
)

// reqHead is what the fast path needs of a request head. Its slices point
// into the reader's buffer and are valid until the next read from it.
type reqHead struct {
	n              int // bytes of the head, blank line included
	method, target []byte
	host           []byte
	contentLength  int64 // 0 when absent
	closeConn      bool  // the client sent Connection: close
	teTrailers     bool  // the client accepts trailers (TE: trailers)
	requestID      []byte
	caller         []byte // the X-Drill-Caller header's value
	connTokens     [maxConnTokens][]byte
	nconn          int
}

// headLine returns the line of buf starting at p, without its CRLF, and
// the offset after it; ok is false when buf holds no complete line there,
// bare is true for a line ended by a lone LF.
func headLine(buf []byte, p int) (line []byte, next int, ok, bare bool) {
	i := bytes.IndexByte(buf[p:], '\n')
	if i < 0 {
		return nil, 0, false, false
	}
	line = buf[p : p+i]
	next = p + i + 1
	if len(line) == 0 || line[len(line)-1] != '\r' {
		return line, next, true, true
	}
	return line[:len(line)-1], next, true, false
}

// nextHeader reads the header line of buf at p: its name and value, and
// the offset after it. end is set at the blank line that ends the head;
// st is headMore when buf holds no whole line there, headRefused for a
// line the fast path does not take (a bare LF, no colon), headComplete
// otherwise.
func nextHeader(buf []byte, p int) (name, value []byte, next int, end bool, st headStatus) {
	line, next, ok, bare := headLine(buf, p)
	switch {
	case !ok:
		return nil, nil, 0, false, headMore
	case bare:
		return nil, nil, 0, false, headRefused
	case len(line) == 0:
		return nil, nil, next, true, headComplete
	}
	if name, value, ok = splitHeader(line); !ok {
		return nil, nil, 0, false, headRefused
	}
	return name, value, next, false, headComplete
}

// parseRequestHead scans buf, the bytes buffered from the client, for a
// request head the fast path can forward: HTTP/1.1, an origin-form target
// of plain characters, well-formed header lines, one Host, a body of at
// most maxBody bytes given by Content-Length (no Transfer-Encoding), no
// Expect and no Upgrade. headMore means buf ends before the head does.
func parseRequestHead(buf []byte, h *reqHead, maxBody int64) headStatus {
	line, p, ok, bare := headLine(buf, 0)
	if !ok {
		return headMore
	}
	if bare {
		return headRefused
	}
	// Request line: METHOD SP target SP HTTP/1.1.
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return headRefused
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 || string(rest[sp2+1:]) != "HTTP/1.1" {
		return headRefused
	}
	h.method, h.target = line[:sp1], rest[:sp2]
	if !validToken(h.method) || string(h.method) == "CONNECT" || !validTarget(h.target) {
		return headRefused
	}
	*h = reqHead{method: h.method, target: h.target}
	hosts := 0
	haveLength := false
	for {
		name, value, next, end, st := nextHeader(buf, p)
		if st != headComplete {
			return st
		}
		p = next
		if end {
			break
		}
		switch {
		case equalFold(name, "host"):
			hosts++
			if !validHost(value) {
				return headRefused
			}
			h.host = value
		case equalFold(name, "content-length"):
			n, ok := parseLength(value)
			if !ok || (haveLength && n != h.contentLength) {
				return headRefused
			}
			h.contentLength, haveLength = n, true
		case equalFold(name, "transfer-encoding"), equalFold(name, "expect"), equalFold(name, "upgrade"):
			return headRefused
		case equalFold(name, "connection"):
			if !addConnTokens(value, &h.connTokens, &h.nconn) {
				return headRefused
			}
		case equalFold(name, "te"):
			if hasToken(value, "trailers") {
				h.teTrailers = true
			}
		case equalFold(name, HeaderRequestID):
			if h.requestID == nil {
				h.requestID = value
			}
		case equalFold(name, HeaderCaller):
			if h.caller == nil {
				h.caller = value
			}
		}
	}
	if hosts != 1 || h.contentLength > maxBody {
		return headRefused
	}
	for _, t := range h.connTokens[:h.nconn] {
		switch {
		case equalFold(t, "close"):
			h.closeConn = true
		case equalFold(t, "upgrade"):
			return headRefused
		}
	}
	h.n = p
	return headComplete
}

// addConnTokens notes the tokens of a Connection header value in toks,
// n of them so far; false when there are more than the fast path keeps.
func addConnTokens(v []byte, toks *[maxConnTokens][]byte, n *int) bool {
	for len(v) > 0 {
		var t []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, nil
		}
		t = trimOWS(t)
		if len(t) == 0 {
			continue
		}
		if *n == maxConnTokens {
			return false
		}
		toks[*n] = t
		*n++
	}
	return true
}

// dropRequestHeader reports whether a request header line named name is
// not forwarded as it is: hop-by-hop headers (RFC 9110 §7.6.1, and those
// the client's Connection header names), those the router replaces (Host,
// its own, the X-Forwarded ones and Forwarded, which ReverseProxy strips
// before setting its own), and TE, which is re-sent as "trailers" alone.
func (h *reqHead) dropRequestHeader(name []byte) bool {
	if len(name) == 0 {
		return true
	}
	switch name[0] | 0x20 {
	case 'c':
		// Content-Length is re-sent as http.Transport sends it.
		if equalFold(name, "connection") || equalFold(name, "content-length") {
			return true
		}
	case 'f':
		if equalFold(name, "forwarded") {
			return true
		}
	case 'h':
		if equalFold(name, "host") {
			return true
		}
	case 'k':
		if equalFold(name, "keep-alive") {
			return true
		}
	case 'p':
		if equalFold(name, "proxy-connection") || equalFold(name, "proxy-authenticate") || equalFold(name, "proxy-authorization") {
			return true
		}
	case 't':
		if equalFold(name, "te") || equalFold(name, "trailer") || equalFold(name, "transfer-encoding") {
			return true
		}
	case 'u':
		if equalFold(name, "upgrade") {
			return true
		}
	case 'x':
		if equalFold(name, HeaderVersion) || equalFold(name, HeaderRequestID) ||
			equalFold(name, "x-forwarded-for") || equalFold(name, "x-forwarded-host") || equalFold(name, "x-forwarded-proto") {
			return true
		}
	}
	for _, t := range h.connTokens[:h.nconn] {
		if bytes.EqualFold(t, name) {
			return true
		}
	}
	return false
}

// resHead is what the fast path needs of a response head; its slices
// point into the upstream reader's buffer.
type resHead struct {
	n             int
	code          int
	status        []byte // the status line after "HTTP/1.x ": code and reason
	proto10       bool
	contentLength int64 // -1 when absent
	chunked       bool
	closeConn     bool // the upstream closes the connection after it
	keepAlive     bool // Connection: keep-alive (for an HTTP/1.0 upstream)
	hasDate       bool
	variant       []byte
	connTokens    [maxConnTokens][]byte
	nconn         int
}

// parseResponseHead scans buf for a response head the fast path can
// forward as it is: HTTP/1.0 or 1.1, a three-digit status, well-formed
// header lines without folding, at most one Content-Length value and no
// Transfer-Encoding but "chunked". headRefused sends the response through
// net/http's parser instead (http.ReadResponse).
func parseResponseHead(buf []byte, h *resHead) headStatus {
	line, p, ok, bare := headLine(buf, 0)
	if !ok {
		return headMore
	}
	if bare || len(line) < 12 || string(line[:7]) != "HTTP/1." || (line[7] != '0' && line[7] != '1') || line[8] != ' ' {
		return headRefused
	}
	status := line[9:]
	if !isDigit(status[0]) || !isDigit(status[1]) || !isDigit(status[2]) || status[0] == '0' || (len(status) > 3 && status[3] != ' ') {
		return headRefused
	}
	for _, c := range status[3:] {
		if c < ' ' && c != '\t' || c == 0x7f {
			return headRefused
		}
	}
	*h = resHead{
		status:        status,
		code:          int(status[0]-'0')*100 + int(status[1]-'0')*10 + int(status[2]-'0'),
		proto10:       line[7] == '0',
		contentLength: -1,
	}
	for {
		name, value, next, end, st := nextHeader(buf, p)
		if st != headComplete {
			return st
		}
		p = next
		if end {
			break
		}
		switch {
		case equalFold(name, "content-length"):
			n, ok := parseLength(value)
			if !ok || (h.contentLength >= 0 && n != h.contentLength) {
				return headRefused
			}
			h.contentLength = n
		case equalFold(name, "transfer-encoding"):
			if h.chunked || !equalFold(value, "chunked") {
				return headRefused
			}
			h.chunked = true
		case equalFold(name, "connection"):
			from := h.nconn
			if !addConnTokens(value, &h.connTokens, &h.nconn) {
				return headRefused
			}
			for _, t := range h.connTokens[from:h.nconn] {
				switch {
				case equalFold(t, "close"):
					h.closeConn = true
				case equalFold(t, "keep-alive"):
					h.keepAlive = true
				}
			}
		case equalFold(name, "date"):
			h.hasDate = true
		case equalFold(name, HeaderVariant):
			if h.variant == nil {
				h.variant = value
			}
		}
	}
	if h.chunked {
		h.contentLength = -1 // Transfer-Encoding wins (RFC 9112 §6.3)
	}
	if h.proto10 && !h.keepAlive {
		h.closeConn = true
	}
	h.n = p
	return headComplete
}

// dropResponseHeader reports whether a response header line is not
// forwarded as it is: hop-by-hop headers, framing the router writes
// itself, and the router's own headers, which it stamps.
func (h *resHead) dropResponseHeader(name []byte) bool {
	if len(name) == 0 {
		return true
	}
	switch name[0] | 0x20 {
	case 'c':
		if equalFold(name, "connection") {
			return true
		}
		// A chunked response's framing replaces its length.
		if h.chunked && equalFold(name, "content-length") {
			return true
		}
	case 'k':
		if equalFold(name, "keep-alive") {
			return true
		}
	case 'p':
		if equalFold(name, "proxy-connection") || equalFold(name, "proxy-authenticate") || equalFold(name, "proxy-authorization") {
			return true
		}
	case 't':
		// Trailer stays with a chunked body forwarded as it is, which
		// carries the trailers it announces.
		if equalFold(name, "te") || equalFold(name, "transfer-encoding") || (!h.chunked && equalFold(name, "trailer")) {
			return true
		}
	case 'u':
		if equalFold(name, "upgrade") {
			return true
		}
	case 'x':
		if equalFold(name, HeaderVersion) || equalFold(name, HeaderRequestID) {
			return true
		}
	}
	for _, t := range h.connTokens[:h.nconn] {
		if bytes.EqualFold(t, name) {
			return true
		}
	}
	return false
}

// splitHeader splits a header line into its name and its value without
// surrounding whitespace; ok is false for a line net/http would refuse or
// fold (no colon, a name that is not a token, whitespace before the colon,
// a leading space, control characters in the value).
func splitHeader(line []byte) (name, value []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return nil, nil, false
	}
	name = line[:i]
	if !validToken(name) {
		return nil, nil, false
	}
	value = trimOWS(line[i+1:])
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return nil, nil, false
		}
	}
	return name, value, true
}

// equalFold reports whether b equals s ignoring ASCII case; s is given in
// lower case or canonical form.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds token t.
func hasToken(v []byte, t string) bool {
	for len(v) > 0 {
		var x []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			x, v = v[:i], v[i+1:]
		} else {
			x, v = v, nil
		}
		x = trimOWS(x)
		if i := bytes.IndexByte(x, ';'); i >= 0 { // "trailers;q=1"
			x = trimOWS(x[:i])
		}
		if equalFold(x, t) {
			return true
		}
	}
	return false
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// parseLength parses a Content-Length value: decimal digits only.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// tokenChars marks the bytes of an RFC 9110 token (tchar).
var tokenChars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func validToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

// pathChars marks the bytes the fast path forwards in a target as they
// are: those url.Parse and URL.RequestURI leave unchanged, so that the
// instance sees the same target ReverseProxy would send.
var pathChars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~!$&'()*+,;=:@/" {
		t[c] = true
	}
	return t
}()

// validTarget reports whether target is an origin-form request target the
// fast path forwards unchanged: a path of plain characters and valid
// %-escapes, and a query without ';' (which ReverseProxy would rewrite).
func validTarget(t []byte) bool {
	if len(t) == 0 || t[0] != '/' {
		return false
	}
	query := false
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '%':
			if i+2 >= len(t) || !isHex(t[i+1]) || !isHex(t[i+2]) {
				return false
			}
			i += 2
		case c == '?':
			query = true
		case c == ';':
			if query {
				return false
			}
		case !pathChars[c]:
			return false
		}
	}
	return true
}

// validHost accepts host names, IPv4 and bracketed IPv6 addresses with an
// optional port; anything else is left to net/http's own check.
func validHost(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !(('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || isDigit(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_') {
			return false
		}
	}
	return true
}
