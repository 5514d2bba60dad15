package flags

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Metadata keys drill adds to every OFREP answer.
const (
	// MetaRevision is the revision of the newest change the answer reflects
	// (what is served, so it lags Revision while stale): the harness reads
	// it to know when an instance sees a restored flag.
	MetaRevision = "drill.revision"
	// MetaDefects is the served variant's defect spec, when it has one:
	// what the service applies to the request it evaluated the flag for.
	MetaDefects = "drill.defects"
)

// maxBody bounds a request body; flagd answers a bigger one 413 too.
const maxBody = 1 << 20

// Start listens on 127.0.0.1:0 and serves OFREP; it returns the base URL
// ("http://127.0.0.1:PORT") services append /ofrep/v1/... to. The server
// is ready when Start returns. ctx bounds the listen only; Close stops.
func (s *Server) Start(ctx context.Context) (string, error) {
	s.net.Lock()
	defer s.net.Unlock()
	if s.hs != nil || s.addr != "" {
		return "", errors.New("flags: server already started")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("flags: listen: %w", err)
	}
	s.addr = ln.Addr().String()
	s.serveOn(ln)
	return "http://" + s.addr, nil
}

func (s *Server) serveOn(ln net.Listener) {
	hs := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}
	s.hs = hs
	go func() { _ = hs.Serve(ln) }()
}

// Down closes the listener and every open connection, so clients get
// "connection refused" (not a hang) until Up: the flag-service-down fault.
// Down when already down does nothing.
func (s *Server) Down() error {
	s.net.Lock()
	defer s.net.Unlock()
	if s.addr == "" || s.closed {
		return errNotStarted
	}
	if s.down {
		return nil
	}
	s.down = true
	err := s.hs.Close()
	s.hs = nil
	return err
}

// Up listens again on the same address Start chose, so services keep
// their URL. Up when already up does nothing.
func (s *Server) Up() error {
	s.net.Lock()
	defer s.net.Unlock()
	if s.addr == "" || s.closed {
		return errNotStarted
	}
	if !s.down {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("flags: listen again on %s: %w", s.addr, err)
	}
	s.down = false
	s.serveOn(ln)
	return nil
}

// Close stops serving for good.
func (s *Server) Close() error {
	s.net.Lock()
	defer s.net.Unlock()
	s.closed = true
	if s.hs == nil {
		return nil
	}
	err := s.hs.Close()
	s.hs = nil
	return err
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /ofrep/v1/evaluate/flags/{key}", s.single)
	mux.HandleFunc("POST /ofrep/v1/evaluate/flags", s.bulk)
	mux.HandleFunc("POST /ofrep/v1/evaluate/flags/{$}", s.bulk)
	return mux
}

// success and failure are OFREP's evaluationSuccess and evaluationFailure.
// Value has no omitempty problem for false or 0: only a nil interface is
// omitted, which is OFREP's "use the code default".
type success struct {
	Key      string         `json:"key"`
	Value    any            `json:"value,omitempty"`
	Reason   string         `json:"reason"`
	Variant  string         `json:"variant,omitempty"`
	Metadata map[string]any `json:"metadata"`
}

type failure struct {
	Key          string         `json:"key,omitempty"`
	ErrorCode    string         `json:"errorCode"`
	ErrorDetails string         `json:"errorDetails"`
	Metadata     map[string]any `json:"metadata,omitempty"`
}

// answer evaluates key against the snapshot and returns the OFREP body
// and HTTP status: 200, 404 for FLAG_NOT_FOUND, 400 for other errors (as
// flagd's OFREP service maps them).
func answer(snap *snapshot, key string, ctx map[string]any) (any, int) {
	v, ok := snap.flags[key]
	var f *Flag
	if ok {
		f = v.flag
	}
	r := Evaluate(key, f, ctx)
	meta := map[string]any{MetaRevision: snap.revision}
	if r.ErrorCode != "" {
		status := http.StatusBadRequest
		if r.ErrorCode == ErrFlagNotFound {
			status = http.StatusNotFound
		}
		return failure{Key: key, ErrorCode: r.ErrorCode, ErrorDetails: r.ErrorDetails, Metadata: meta}, status
	}
	if d := f.Defects[r.Variant]; d != "" && r.Variant != "" {
		meta[MetaDefects] = d
	}
	return success{Key: key, Value: r.Value, Reason: r.Reason, Variant: r.Variant, Metadata: meta}, http.StatusOK
}

func (s *Server) single(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	ctx, status, fail := readContext(w, r)
	if fail != nil {
		fail.Key = key
		writeJSON(w, status, fail)
		return
	}
	body, status := answer(s.current(), key, ctx)
	writeJSON(w, status, body)
}

type bulkResponse struct {
	Flags    []any          `json:"flags"`
	Metadata map[string]any `json:"metadata"`
}

// bulk answers every flag for one context, with an ETag (a hash of the
// body, so it changes exactly when an answer for this context would) and
// 304 for a matching If-None-Match.
func (s *Server) bulk(w http.ResponseWriter, r *http.Request) {
	ctx, status, fail := readContext(w, r)
	if fail != nil {
		writeJSON(w, status, fail)
		return
	}
	snap := s.current()
	keys := make([]string, 0, len(snap.flags))
	for k := range snap.flags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	resp := bulkResponse{Flags: make([]any, 0, len(keys)), Metadata: map[string]any{MetaRevision: snap.revision}}
	for _, k := range keys {
		body, _ := answer(snap, k, ctx)
		resp.Flags = append(resp.Flags, body)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"errorDetails": err.Error()})
		return
	}
	h := fnv.New64a()
	h.Write(b)
	etag := `"` + strconv.FormatUint(h.Sum64(), 16) + `"`
	w.Header().Set("ETag", etag)
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// etagMatches is If-None-Match's weak comparison: a list of tags or "*".
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// readContext reads {"context": {...}}. An empty body is an empty context
// (as flagd reads it); a body that is not JSON, or a context that is not
// an object, is 400 INVALID_CONTEXT — flagd ignores a non-object context,
// drill refuses it because OFREP requires an object and a service sending
// anything else has a bug a drill should show.
func readContext(w http.ResponseWriter, r *http.Request) (map[string]any, int, *failure) {
	var req struct {
		Context any `json:"context"`
	}
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, http.StatusRequestEntityTooLarge, &failure{ErrorCode: ErrGeneral, ErrorDetails: "request body too large"}
	case err != nil && !errors.Is(err, io.EOF):
		return nil, http.StatusBadRequest, &failure{ErrorCode: ErrInvalidContext, ErrorDetails: "request body is not JSON: " + err.Error()}
	}
	switch c := req.Context.(type) {
	case nil:
		return map[string]any{}, 0, nil
	case map[string]any:
		return c, 0, nil
	default:
		return nil, http.StatusBadRequest, &failure{ErrorCode: ErrInvalidContext, ErrorDetails: fmt.Sprintf("context is a %T, not an object", c)}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"errorDetails":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
