package redact

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRedact(t *testing.T) {
	Register("registered-s3cr3t-value")
	Register("abc") // too short to register: it would blank out every "abc"
	tests := []struct{ in, want string }{
		{"postgres://postgres:hunter22@127.0.0.1:5432/db?sslmode=disable",
			"postgres://postgres:[REDACTED]@127.0.0.1:5432/db?sslmode=disable"},
		{"dial postgres://u:p%40ss@h/db: refused", "dial postgres://u:[REDACTED]@h/db: refused"},
		{"postgres://postgres@127.0.0.1:5432/db", "postgres://postgres@127.0.0.1:5432/db"},
		{"http://127.0.0.1:8080/orders/x@y", "http://127.0.0.1:8080/orders/x@y"},
		{"run migrate --db-password=hunter22 now", "run migrate --db-password=[REDACTED] now"},
		{"DB_PASSWORD=x GITHUB_TOKEN='ghp abc' AWS_SECRET_ACCESS_KEY=\"q w\" PORT=8080",
			"DB_PASSWORD=[REDACTED] GITHUB_TOKEN=[REDACTED] AWS_SECRET_ACCESS_KEY=[REDACTED] PORT=8080"},
		{"GET /x?api_key=zzz&page=2", "GET /x?api_key=[REDACTED]&page=2"},
		{`{"level":"info","Password":"p\"w","n":1}`, `{"level":"info","Password":"[REDACTED]","n":1}`},
		{"the value registered-s3cr3t-value leaked", "the value [REDACTED] leaked"},
		{"abc stays", "abc stays"},
		{"weight=50 version=v2", "weight=50 version=v2"},
	}
	for _, tc := range tests {
		if got := String(tc.in); got != tc.want {
			t.Errorf("String(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactField(t *testing.T) {
	Register("field-s3cr3t-value")
	type evidence struct {
		Note  string `json:"note"`
		Count int    `json:"count"`
	}
	tests := []struct {
		key       string
		in, want  any
		sameValue bool // no secret: the value is kept as it was, type and all
	}{
		{key: "db_password", in: "whatever", want: Mark},
		{key: "url", in: "postgres://u:pw12345@h/db", want: "postgres://u:[REDACTED]@h/db"},
		{key: "error", in: errors.New("connect field-s3cr3t-value: refused"), want: "connect [REDACTED]: refused"},
		{key: "env", in: map[string]string{"API_TOKEN": "t", "PORT": "1"}, want: map[string]string{"API_TOKEN": Mark, "PORT": "1"}},
		{key: "args", in: []string{"--token=x", "-v"}, want: []string{"--token=[REDACTED]", "-v"}},
		{key: "ev", in: evidence{Note: "with field-s3cr3t-value", Count: 2}, want: map[string]any{"note": "with [REDACTED]", "count": float64(2)}},
		{key: "ev", in: evidence{Note: "clean", Count: 2}, sameValue: true},
		{key: "n", in: 42, sameValue: true},
		{key: "d", in: time.Second, sameValue: true},
	}
	for _, tc := range tests {
		got := Field(tc.key, tc.in)
		want := tc.want
		if tc.sameValue {
			want = tc.in
		}
		if !equalJSONish(got, want) {
			t.Errorf("Field(%q, %#v) = %#v, want %#v", tc.key, tc.in, got, want)
		}
	}
}

func equalJSONish(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !equalJSONish(x[k], y[k]) {
				return false
			}
		}
		return true
	case map[string]string:
		y, ok := b.(map[string]string)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if x[k] != y[k] {
				return false
			}
		}
		return true
	case []string:
		y, ok := b.([]string)
		return ok && strings.Join(x, "\x00") == strings.Join(y, "\x00")
	}
	return a == b
}

// TestRedactWriter: a secret split across writes is still caught, and a
// last line without a newline comes out at Flush.
func TestRedactWriter(t *testing.T) {
	Register("writer-s3cr3t-value")
	var out bytes.Buffer
	w := &Writer{w: &out}
	for _, chunk := range []string{"start\nconnecting with writer-s3", "cr3t-value\nDB_PASS", "WORD=abc\ntail"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "start\nconnecting with [REDACTED]\nDB_PASSWORD=[REDACTED]\ntail"
	if out.String() != want {
		t.Errorf("wrote %q, want %q", out.String(), want)
	}
}

// TestRegisterSecretEnv: values of secret-named env entries are hidden
// everywhere, except those more likely addresses or identifiers than
// secrets, which must not vanish from the whole journal.
func TestRegisterSecretEnv(t *testing.T) {
	RegisterEnv(map[string]string{
		"API_TOKEN":     "tok-9f8e7d6c",
		"DB_PASSWORD":   "letmeinplease",
		"KEYSPACE":      "orders_ks",
		"SORT_KEY":      "created_at",
		"KEYSERVER_URL": "http://127.0.0.1:41234",
		"KEY_ID":        "123456789",
		"SIGNING_KEY":   "k3y-material-0001",
		"PORT":          "some-other-value",
	})
	for in, want := range map[string]string{
		"sent tok-9f8e7d6c":                "sent [REDACTED]",
		"login letmeinplease":              "login [REDACTED]",
		"signed with k3y-material-0001":    "signed with [REDACTED]",
		"table orders_ks by created_at":    "table orders_ks by created_at",
		"calling http://127.0.0.1:41234/x": "calling http://127.0.0.1:41234/x",
		"key 123456789 rotated":            "key 123456789 rotated",
		"some-other-value is not secret":   "some-other-value is not secret",
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}
