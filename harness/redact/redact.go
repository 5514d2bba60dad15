// Package redact keeps secrets out of everything drill writes and prints:
// the journal, reports, saved service logs and progress lines. Secrets are
// registered process-wide (a database password drill generated, an env
// value marked secret) because a value must be hidden wherever it turns up,
// and several of the places that learn one (providers) have no journal.
package redact

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Mark stands in for every secret drill keeps out of what it writes
// and prints.
const Mark = "[REDACTED]"

// minSecretLen is the shortest value registered as a secret: a one- or
// two-character "secret" (a flag such as "1" or "on" under a *_KEY name)
// would otherwise blank out every occurrence of that text (numbers, words)
// in the journal.
// Key-based and URL redaction still hide such values where they are named.
const minSecretLen = 6

// secretKeyRE matches the names of environment variables and fields whose
// values are secret: *PASSWORD*, *TOKEN*, *SECRET*, *KEY*, any case.
var secretKeyRE = regexp.MustCompile(`(?i)password|token|secret|key`)

// secretKey reports whether a variable or field named k holds a secret.
func SecretKey(k string) bool { return secretKeyRE.MatchString(k) }

var (
	// urlPasswordRE finds the password of a URL's userinfo
	// (scheme://user:PASSWORD@host), which libpq and most clients accept.
	urlPasswordRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://[^\s:@/]*:)([^\s@/]+)(@)`)
	// assignRE finds NAME=value where NAME looks secret: environment
	// assignments, --db-password=… flags, query parameters (?api_key=…).
	assignRE = regexp.MustCompile(`([\w.\-]*(?i:password|token|secret|key)[\w.\-]*=)("[^"]*"|'[^']*'|[^\s&"',;]+)`)
	// jsonFieldRE finds "name":"value" where name looks secret, for
	// services that log JSON.
	jsonFieldRE = regexp.MustCompile(`("[\w.\-]*(?i:password|token|secret|key)[\w.\-]*"\s*:\s*")((?:[^"\\]|\\.)*)(")`)
)

// secretSet holds the secret values of the runs in this process: the
// database passwords drill generates and the values of secret-looking
// environment entries handed to services. It is process-wide because a
// value must be hidden wherever it turns up (journal, messages, logs), and
// several of the places that learn a secret (providers) have no journal.
type secretSet struct {
	mu     sync.RWMutex
	seen   map[string]bool
	sorted []string // longest first, so a value containing another goes whole
}

var runSecrets secretSet

// Register makes every later redaction hide v.
func Register(v string) {
	v = strings.TrimSpace(v)
	if len(v) < minSecretLen {
		return
	}
	runSecrets.mu.Lock()
	defer runSecrets.mu.Unlock()
	if runSecrets.seen[v] {
		return
	}
	if runSecrets.seen == nil {
		runSecrets.seen = map[string]bool{}
	}
	runSecrets.seen[v] = true
	runSecrets.sorted = append(runSecrets.sorted, v)
	sort.SliceStable(runSecrets.sorted, func(i, j int) bool { return len(runSecrets.sorted[i]) > len(runSecrets.sorted[j]) })
}

// RegisterEnv registers the values of env entries whose names look
// secret, where secretEnvValue says the value can be one.
func RegisterEnv(env map[string]string) {
	for k, v := range env {
		if SecretKey(k) && secretEnvValue(k, v) {
			Register(v)
		}
	}
}

var (
	plainWordRE   = regexp.MustCompile(`^[A-Za-z_.\-]+$`)
	numberRE      = regexp.MustCompile(`^[0-9.]+$`)
	strongNameRE  = regexp.MustCompile(`(?i)password|token|secret`)
	urlWithHostRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.\-]*://`)
)

// secretEnvValue tells which values of secret-looking names are
// registered, and so hidden wherever they appear. A registered value
// vanishes from the whole journal, so values that are more likely
// addresses or identifiers than secrets are left to the rules that hide
// them where they are named (NAME=value, URL passwords): URLs (a router's
// address under KEYSERVER_URL must stay readable), numbers, and under a
// *KEY* name that is not also *PASSWORD*/*TOKEN*/*SECRET* (KEYSPACE,
// SORT_KEY) a plain word, which may well be a service or column name.
// A value declared secret outright (Journal.AddSecret) is always
// registered.
func secretEnvValue(name, v string) bool {
	switch {
	case urlWithHostRE.MatchString(v), numberRE.MatchString(v):
		return false
	case !strongNameRE.MatchString(name) && plainWordRE.MatchString(v):
		return false
	}
	return true
}

// String hides secrets in s as every output of the harness does: the
// values registered for this process's runs (database passwords, secret
// env values), passwords in URLs, and values assigned to names containing
// PASSWORD, TOKEN, SECRET or KEY (NAME=value, --name=value, "name":"value").
func String(s string) string {
	if s == "" {
		return s
	}
	runSecrets.mu.RLock()
	for _, v := range runSecrets.sorted {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, Mark)
		}
	}
	runSecrets.mu.RUnlock()
	s = urlPasswordRE.ReplaceAllString(s, "${1}"+Mark+"${3}")
	s = assignRE.ReplaceAllStringFunc(s, func(m string) string {
		i := strings.IndexByte(m, '=')
		return m[:i+1] + Mark
	})
	return jsonFieldRE.ReplaceAllString(s, "${1}"+Mark+"${3}")
}

// Field returns a journal field's value with its secrets hidden. A
// field or map key that looks secret loses its string value entirely;
// strings, errors and the common containers are redacted in place; any
// other value that is marshalled with a secret in it is replaced by its
// redacted JSON form (what the journal would have written anyway).
func Field(key string, v any) any {
	switch x := v.(type) {
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64, time.Time, time.Duration:
		return v
	case string:
		if SecretKey(key) && x != "" {
			return Mark
		}
		return String(x)
	case error:
		return Field(key, x.Error())
	case []string:
		out := make([]string, len(x))
		for i, s := range x {
			out[i], _ = Field(key, s).(string)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Field(key, e)
		}
		return out
	case map[string]string:
		out := make(map[string]string, len(x))
		for k, s := range x {
			out[k], _ = Field(k, s).(string)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Field(k, e)
		}
		return out
	}
	b, err := json.Marshal(v)
	if err != nil {
		return v // the journal records the marshal error instead
	}
	var generic any
	if json.Unmarshal(b, &generic) != nil {
		return v
	}
	if red := Field(key, generic); !reflect.DeepEqual(red, generic) {
		return red
	}
	return v
}

// Writer redacts what passes through it line by line, so a secret
// split across two writes is still caught; a line longer than
// maxLine is redacted and written in pieces.
type Writer struct {
	w   io.Writer
	buf []byte
}

const maxLine = 64 << 10

// NewWriter returns a Writer that writes redacted lines to w; call Flush
// when done.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

func (r *Writer) Write(p []byte) (int, error) {
	r.buf = append(r.buf, p...)
	done := 0
	defer func() { r.buf = append(r.buf[:0], r.buf[done:]...) }()
	for {
		i := bytes.IndexByte(r.buf[done:], '\n')
		if i < 0 {
			if len(r.buf)-done < maxLine {
				return len(p), nil
			}
			i = len(r.buf) - done - 1
		}
		line := String(string(r.buf[done : done+i+1]))
		done += i + 1
		if _, err := io.WriteString(r.w, line); err != nil {
			return len(p), err
		}
	}
}

// Flush writes a last line that has no newline.
func (r *Writer) Flush() error {
	if len(r.buf) == 0 {
		return nil
	}
	_, err := io.WriteString(r.w, String(string(r.buf)))
	r.buf = nil
	return err
}
