package injectors

import (
	"context"
	"runtime/debug"
)

// PanicHandler receives a panic recovered on a goroutine a fault started:
// where names the goroutine, value is what panicked, stack is its trace.
type PanicHandler func(where string, value any, stack []byte)

type panicKey struct{}

// WithPanicHandler returns ctx carrying h. The harness hands every fault's
// Apply such a context, so a panic off the main goroutine ends in the
// drill's safe abort (traffic back, faults reverted, report written)
// instead of killing the process with faults still in place.
func WithPanicHandler(ctx context.Context, h PanicHandler) context.Context {
	return context.WithValue(ctx, panicKey{}, h)
}

// Go runs fn on a new goroutine. A panic in fn goes to the PanicHandler
// ctx carries; with none, it is raised again, as an unguarded goroutine
// would.
func Go(ctx context.Context, where string, fn func()) {
	h, _ := ctx.Value(panicKey{}).(PanicHandler)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				if h == nil {
					panic(p)
				}
				h(where, p, debug.Stack())
			}
		}()
		fn()
	}()
}
