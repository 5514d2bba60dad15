package registry

import (
	"slices"
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	r := New[func() int]("widget")
	r.Register("b", "the b one", func() int { return 2 })
	r.Register("a", "the a one", func() int { return 1 })
	if got := r.Names(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Names = %v, want sorted [a b]", got)
	}
	f, err := r.Get("b")
	if err != nil || f() != 2 {
		t.Fatalf("Get(b): %v", err)
	}
	if r.Description("a") != "the a one" || !r.Has("a") || r.Has("c") {
		t.Fatal("Description/Has disagree with what was registered")
	}
	_, err = r.Get("c")
	if err == nil || !strings.Contains(err.Error(), `unknown widget "c"`) || !strings.Contains(err.Error(), "[a b]") {
		t.Fatalf("Get(c) error = %v, want it to name the thing and the known names", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("registering a name twice did not panic")
		}
	}()
	r.Register("a", "again", nil)
}
