package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Transport records acknowledged writes: a 2xx answer to a tracked
// request is written to the ledger before the caller sees the answer, and
// a tracked request that got no answer is written as indeterminate.
type Transport struct {
	Ledger *Writer
	Next   http.RoundTripper
	// Mark is the request header that says which write a request is. The
	// transport strips it, from its own copy, before the request leaves.
	Mark string
	// Track maps a mark to the body field that keys the write and the
	// columns the ledger records; key "" for a request the ledger does not
	// track (an unknown or garbled mark too).
	Track func(mark string) (key string, columns []string)
}

// RoundTrip sends req through Next and records what its answer
// acknowledged.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	mark := req.Header.Get(t.Mark)
	// A RoundTripper must not modify the caller's request: strip the
	// internal header from a copy.
	req = req.Clone(req.Context())
	req.Header.Del(t.Mark)
	key, cols := t.Track(mark)
	if key == "" {
		return t.Next.RoundTrip(req)
	}
	var body []byte
	if req.GetBody != nil {
		if rc, err := req.GetBody(); err == nil {
			body, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	entry, perr := entryFromBody(body, key, cols)
	resp, rerr := t.Next.RoundTrip(req)
	if perr != nil {
		t.Ledger.problem(perr)
		return resp, rerr
	}
	switch {
	case rerr != nil:
		// No answer: the write may or may not have happened.
		entry.Status = Indeterminate
		t.Ledger.Write(entry)
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		entry.Status = Acked
		if len(entry.Columns) > 0 {
			resp.Body = keepAcknowledged(&entry, resp.Body)
		}
		t.Ledger.Write(entry)
	}
	return resp, rerr
}

// maxAckBody bounds how much of an answer keepAcknowledged reads.
const maxAckBody = 1 << 20

// keepAcknowledged drops from entry the columns a JSON answer leaves out:
// the client sent them, but the service did not say it stored them (a
// release that does not know a column answers without it), so they are
// not acknowledged and not checked. An answer that is not a JSON object
// acknowledges the request as sent. It returns the body to hand on,
// unread from the caller's point of view.
func keepAcknowledged(entry *Entry, body io.ReadCloser) io.ReadCloser {
	buf, err := io.ReadAll(io.LimitReader(body, maxAckBody+1))
	rest := io.MultiReader(bytes.NewReader(buf), body)
	out := struct {
		io.Reader
		io.Closer
	}{rest, body}
	if err != nil || len(buf) > maxAckBody {
		return out
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(buf, &obj) != nil {
		return out
	}
	for c := range entry.Columns {
		if _, ok := obj[c]; !ok {
			delete(entry.Columns, c)
		}
	}
	return out
}

// entryFromBody is the entry of a tracked request's JSON body: its key
// field and the recorded columns it sent, as text (jsonScalar). Status
// is left to the caller, which knows the answer.
func entryFromBody(body []byte, key string, cols []string) (Entry, error) {
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	// Numbers stay text: a float64 would turn the key 9007199254740993
	// into ...992 and report an intact write as lost.
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return Entry{}, fmt.Errorf("ledger: request body is not a JSON object: %w", err)
	}
	k, ok := obj[key]
	if !ok {
		return Entry{}, fmt.Errorf("ledger: request body has no field %q", key)
	}
	e := Entry{Key: jsonScalar(k), At: time.Now().UnixMilli()}
	if len(cols) > 0 {
		e.Columns = make(map[string]string, len(cols))
		for _, c := range cols {
			if v, ok := obj[c]; ok {
				e.Columns[c] = jsonScalar(v)
			}
		}
	}
	return e, nil
}

// jsonScalar renders a decoded JSON value the way a database column is
// rendered by dbScalar, so the two compare as strings.
func jsonScalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return strconv.FormatInt(i, 10)
		}
		if f, err := x.Float64(); err == nil {
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}
