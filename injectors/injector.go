// Package injectors holds the fault kinds a drill can inject, one file per
// kind, each registered by name. A kind decodes and validates its own
// parameters (through a decode function the scenario loader binds to the
// YAML node, so this package never imports YAML) and builds an Injector,
// whose Apply and Revert are one pair: every fault comes with its undo.
package injectors

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/drillhq/drill/internal/registry"
)

// Injector is one fault instance of a running drill.
type Injector interface {
	// Apply puts the fault in place.
	Apply(ctx context.Context, env Env) error
	// Revert removes the fault. It is idempotent and safe after a failed
	// or missing Apply.
	Revert(ctx context.Context) error
}

// Spec is what a kind needs to build an injector for one scenario fault.
type Spec struct {
	Name        string
	Target      string // service, service.version, or database
	Probability float64
	Seed        int64 // the scenario seed mixed with the fault's index
	Params      any   // the value Kind.Parse returned
}

// Param documents one parameter of a kind for `drill list`.
type Param struct {
	Name        string
	Default     string
	Description string
}

// Kind is one registered fault kind.
type Kind interface {
	// Describe documents the kind.
	Describe() Description
	// Parse decodes the fault's params with decode (strict: unknown fields
	// are errors) and validates them. It returns the kind's own parameter
	// value, later handed back in Spec.Params.
	Parse(decode func(v any) error) (any, error)
	// New builds an injector for one fault of a drill.
	New(spec Spec) Injector
}

// Description documents a kind.
type Description struct {
	Name    string
	Summary string
	Targets string // e.g. "service | service.version"
	Params  []Param
}

// Env is what an injector may act on: the running drill's fault points.
// A target is a service ("orders"), one version of it ("orders.v2"), or a
// database ("ordersdb"); each method refuses targets it cannot act on.
type Env interface {
	// HTTP returns the fault point of the router in front of a service
	// (target "orders") or one version of it ("orders.v2").
	HTTP(target string) (HTTPPoint, error)
	// Link returns the fault point on the calls service `from` makes to
	// service `to` through to's router (partitions).
	Link(from, to string) (HTTPPoint, error)
	// Processes returns the running instances behind a service or version.
	Processes(target string) (ProcessPoint, error)
	// Conn returns the fault point of the TCP proxy in front of a database.
	Conn(target string) (ConnPoint, error)
	// Migrations returns the fault point of the schema migrations the
	// harness runs on a database.
	Migrations(target string) (MigrationPoint, error)
}

// HTTPPoint is a router's fault point.
type HTTPPoint interface {
	// Install adds f to every request the router forwards to the target
	// and returns the function that removes it again.
	Install(f HTTPFault) (remove func())
}

// HTTPFault acts on a request at a router, before it reaches the
// instance.
type HTTPFault interface {
	// Intercept may delay the request (honouring r.Context()), or answer
	// it itself and return true; returning false lets the request through.
	Intercept(w http.ResponseWriter, r *http.Request) bool
}

// ResponseFault is an HTTPFault that also acts on the response of a
// request it let through (e.g. bandwidth): the router writes the response
// through the writer Wrap returns.
type ResponseFault interface {
	HTTPFault
	Wrap(w http.ResponseWriter, r *http.Request) http.ResponseWriter
}

// ProcessPoint acts on the instances behind a target.
type ProcessPoint interface {
	// Instances lists the target's instances running now.
	Instances() []Process
	// Restart starts a fresh instance in place of the named one (killed,
	// or to be restarted), as a supervisor would, and routes its traffic
	// to the new one once it is healthy.
	Restart(ctx context.Context, name string) error
}

// Process is one running instance a process fault can act on. On the
// process provider these are signals to the instance's process group; the
// docker provider maps them to kill, pause and unpause.
type Process interface {
	Name() string
	PID() int
	Alive() bool
	Kill() error   // SIGKILL: gone at once, no graceful shutdown
	Pause() error  // SIGSTOP: frozen, connections stay open
	Resume() error // SIGCONT; safe on a running process
}

// CPUCapper is a Process whose runtime can cap its CPU: a container,
// through its cgroup's CFS quota. cpu-throttle caps such instances instead
// of running a SIGSTOP/SIGCONT cycle on them — a quota is what a container
// platform throttles with, and freezing a container ten times a second
// through the engine would measure the engine.
type CPUCapper interface {
	// CapCPU limits the instance to cores of CPU time per period (1.0 is
	// one core); cores <= 0 removes the cap. Both are idempotent.
	CapCPU(cores float64, period time.Duration) error
	// CPUAccount reads the cap in place and the CPU counters, so a fault
	// can prove its effect from the runtime's own bookkeeping. The
	// counters are from a reading taken at or after since (waiting for
	// one, boundedly); a zero since takes the newest reading at hand.
	CPUAccount(since time.Time) (CPUAccount, error)
}

// CPUAccount is what the runtime says of an instance's CPU.
type CPUAccount struct {
	Cap       float64       // cores allowed per period; 0 when uncapped
	Usage     time.Duration // CPU time used since the instance started
	Periods   uint64        // enforcement periods elapsed under a cap
	Throttled uint64        // of those, periods in which the cap was hit
	At        time.Time     // when the runtime read the counters
}

// ConnPoint is the fault point of a database's TCP proxy.
type ConnPoint interface {
	// Install adds f to every connection through the proxy (new and, where
	// f says so, existing) and returns the function that removes it.
	Install(f ConnFault) (remove func())
}

// ConnFault acts on the proxied byte streams of a database connection.
type ConnFault interface {
	// Pipe copies from src to dst (upstream says which direction: true
	// for client→database), adding the fault's effect; it returns when src
	// or dst fails or ctx ends. Faults that do not act on a direction
	// return io.Copy's behaviour.
	Pipe(ctx context.Context, dst, src net.Conn, upstream bool) error
}

// Verifier is optionally implemented by an injector that can tell, from
// what the harness observed, whether its fault took effect as configured.
type Verifier interface {
	Verify(obs Observation) Effect
}

// Observation is what the harness saw of a fault's target: the traffic at
// its router before the fault (the steady state) and while it was applied.
// Counts are per request; latencies in seconds.
type Observation struct {
	Before, During Traffic
	Applied        time.Duration // how long the fault was in place
}

// Traffic summarises requests at a router over a span.
type Traffic struct {
	Requests, Failed int64
	// ByStatus counts answers per HTTP status; 0 counts transport errors.
	ByStatus       map[int]int64
	P50, P99, Mean float64
}

// Effect is the verdict of a Verifier, recorded in the journal and in
// report.json's faults[].
type Effect struct {
	Effective bool
	Measured  string // the measured value against the configured one
}

var kinds = registry.New[Kind]("fault kind")

// Register adds a kind under name, with its summary as the one-line
// description every registry keeps. It panics on a duplicate name, which
// is a programming error caught at init time.
func Register(name string, k Kind) { kinds.Register(name, k.Describe().Summary, k) }

// Lookup returns the kind registered as name.
func Lookup(name string) (Kind, bool) {
	k, err := kinds.Get(name)
	return k, err == nil
}

// Kinds returns the registered kind names, sorted.
func Kinds() []string { return kinds.Names() }

// Planned lists fault kinds of the design that are not implemented yet, so
// that a scenario naming one is refused with "not supported yet" rather
// than "unknown". Every kind of the design is implemented now.
var Planned = []string{}

// Duration is a parameter type that decodes Go-style durations ("200ms").
type Duration time.Duration

// UnmarshalText parses a Go duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use Go syntax: 250ms, 1m30s)", string(b))
	}
	*d = Duration(v)
	return nil
}

// Percent is a parameter type that decodes "5%" (or a bare fraction such
// as 0.05) into a fraction.
type Percent float64

// UnmarshalText parses "N%" or a fraction.
func (p *Percent) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if n, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if err != nil {
			return fmt.Errorf("invalid percentage %q (write e.g. 5%%)", s)
		}
		*p = Percent(v / 100)
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("invalid percentage %q (write e.g. 5%%)", s)
	}
	*p = Percent(v)
	return nil
}
