// Package registry is the one shape every extension point of drill shares:
// fault kinds, judges, providers, strategies and renderers are each a
// Registry of their own factory type, filled from init functions of the
// files that implement them, so adding one is one new file.
package registry

import (
	"fmt"
	"slices"
	"sync"
)

// Registry maps names to entries of type T, each with a one-line
// description for `drill list` and error hints.
type Registry[T any] struct {
	what    string // "judge", "provider", ...: the noun in messages
	mu      sync.RWMutex
	entries map[string]entry[T]
}

type entry[T any] struct {
	desc string
	v    T
}

// New returns an empty registry of things called what.
func New[T any](what string) *Registry[T] {
	return &Registry[T]{what: what, entries: map[string]entry[T]{}}
}

// Register adds v under name. Registering a name twice is a programming
// error, found at init, so it panics.
func (r *Registry[T]) Register(name, description string, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.entries[name]; dup {
		panic(fmt.Sprintf("registry: %s %q registered twice", r.what, name))
	}
	r.entries[name] = entry[T]{desc: description, v: v}
}

// Get returns the entry registered as name, or an error naming the known
// ones.
func (r *Registry[T]) Get(name string) (T, error) {
	r.mu.RLock()
	e, ok := r.entries[name]
	r.mu.RUnlock()
	if !ok {
		var zero T
		return zero, fmt.Errorf("unknown %s %q (known: %v)", r.what, name, r.Names())
	}
	return e.v, nil
}

// Has says whether name is registered.
func (r *Registry[T]) Has(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.entries[name]
	return ok
}

// Names lists the registered names, sorted.
func (r *Registry[T]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.entries))
	for n := range r.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Description returns the one-line description of name ("" if unknown).
func (r *Registry[T]) Description(name string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.entries[name].desc
}
