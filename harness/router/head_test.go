package router

import (
	"strings"
	"testing"
)

// TestParseRequestHead: what the fast path takes, and what it leaves to
// net/http (headRefused) or waits for (headMore).
func TestParseRequestHead(t *testing.T) {
	tokens := strings.Repeat("a, ", maxConnTokens) + "b"
	for _, c := range []struct {
		name, head string
		want       headStatus
		check      func(h *reqHead) bool
	}{
		{"plain GET", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", headComplete,
			func(h *reqHead) bool { return string(h.target) == "/x" && string(h.host) == "a" && h.n == 28 }},
		{"body and close", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: Close\r\n\r\n", headComplete,
			func(h *reqHead) bool { return h.contentLength == 5 && h.closeConn && h.nconn == 1 }},
		{"no blank line yet", "GET / HTTP/1.1\r\nHost: a\r\n", headMore, nil},
		{"a line cut short", "GET / HTTP/1.1\r\nHos", headMore, nil},
		{"bare LF", "GET / HTTP/1.1\nHost: a\r\n\r\n", headRefused, nil},
		{"bare LF in a header", "GET / HTTP/1.1\r\nHost: a\n\r\n", headRefused, nil},
		{"no colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", headRefused, nil},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", headRefused, nil},
		{"no host", "GET / HTTP/1.1\r\n\r\n", headRefused, nil},
		{"chunked body", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", headRefused, nil},
		{"two lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", headRefused, nil},
		{"body over the limit", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n", headRefused, nil},
		{"upgrade", "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", headRefused, nil},
		{"too many connection tokens", "GET / HTTP/1.1\r\nHost: a\r\nConnection: " + tokens + "\r\n\r\n", headRefused, nil},
	} {
		var h reqHead
		got := parseRequestHead([]byte(c.head), &h, 1024)
		if got != c.want || (c.check != nil && !c.check(&h)) {
			t.Errorf("%s: status %d, head %+v; want status %d", c.name, got, h, c.want)
		}
	}
}

// TestParseResponseHead: framing, and when the connection closes after
// the response.
func TestParseResponseHead(t *testing.T) {
	for _, c := range []struct {
		name, head string
		want       headStatus
		check      func(h *resHead) bool
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", headComplete,
			func(h *resHead) bool { return h.code == 200 && h.contentLength == 3 && !h.closeConn }},
		{"chunked wins over a length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", headComplete,
			func(h *resHead) bool { return h.chunked && h.contentLength == -1 }},
		{"close among tokens", "HTTP/1.1 204 No Content\r\nConnection: foo, close\r\n\r\n", headComplete,
			func(h *resHead) bool { return h.closeConn && h.nconn == 2 }},
		{"HTTP/1.0 closes", "HTTP/1.0 200 OK\r\n\r\n", headComplete,
			func(h *resHead) bool { return h.closeConn }},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n", headComplete,
			func(h *resHead) bool { return !h.closeConn && h.keepAlive }},
		{"no blank line yet", "HTTP/1.1 200 OK\r\n", headMore, nil},
		{"bare LF", "HTTP/1.1 200 OK\r\nA: b\n\r\n", headRefused, nil},
		{"no colon", "HTTP/1.1 200 OK\r\nA b\r\n\r\n", headRefused, nil},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", headRefused, nil},
		{"gzip transfer coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", headRefused, nil},
	} {
		var h resHead
		got := parseResponseHead([]byte(c.head), &h)
		if got != c.want || (c.check != nil && !c.check(&h)) {
			t.Errorf("%s: status %d, head %+v; want status %d", c.name, got, h, c.want)
		}
	}
}
