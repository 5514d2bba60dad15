package scenarios

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/drillhq/drill/injectors"
)

// SchemaBaseline asks that the schema after a rollback equal the schema
// before the rollout.
const SchemaBaseline = "baseline"

// AfterEvents are the events a fault can be scheduled after, with
// at: {after: EVENT, delay: D}.
var AfterEvents = []string{"rollout.start", "step.start", "decision.rollback", "rollback.done"}

func (w *walk) faults(o *object, steps int, stages []*Stage) []*Fault {
	var out []*Fault
	names := map[string]*yaml.Node{}
	for i, n := range o.list("faults") {
		where := fmt.Sprintf("faults[%d]", i)
		f := &Fault{Probability: DefaultProbability, Pos: w.pos(n)}
		fo := w.object(nil, n, where, faultFields.known...)
		fo.require(faultFields.required...)
		if fo.str("name", &f.Name) && w.printable(fo.get("name"), "fault name", f.Name, "") {
			if first, dup := names[f.Name]; dup {
				w.add(fo.get("name"), "", "duplicate fault name %q (first at line %d)", f.Name, first.Line)
			} else {
				names[f.Name] = fo.get("name")
			}
		}
		var kind injectors.Kind
		if fo.str("kind", &f.Kind) {
			kind = w.kind(fo.get("kind"), f.Kind)
		}
		if fo.str("target", &f.Target) {
			class := w.faultTarget(fo.get("target"), f.Target)
			if kind != nil && class != "" {
				w.targetClass(fo.get("target"), f.Kind, kind.Describe().Targets, class)
			}
			if kind != nil && class == targetDatabase {
				w.targetEngine(fo.get("target"), f.Kind, kind, w.env.Database(f.Target))
				if dir := injectors.MigrationDirection(kind); dir != "" {
					w.migrationTarget(fo.get("target"), f.Kind, dir, f.Target)
				}
			}
		}
		if fo.has("at") {
			w.schedule(fo.key("at"), fo.get("at"), where+".at", steps, &f.At)
		}
		fo.duration("duration", &f.Duration)
		if fo.str("stage", &f.Stage) {
			w.faultStage(fo.get("stage"), f.Stage, stages)
		}
		if p := fo.get("probability"); p != nil {
			w.probability(p, &f.Probability)
		}
		if kind != nil {
			f.Params = w.params(fo, f.Kind, kind, where+".params")
			w.paramVersion(fo, kind, f)
		}
		out = append(out, f)
	}
	return out
}

// migrationTarget checks that a migration fault's database is the one the
// rollout migrates, in the direction the kind acts on: a fault waiting for
// a migration that never runs would pass silently.
func (w *walk) migrationTarget(n *yaml.Node, kind, dir, db string) {
	ro := w.ro
	svc, to := w.env.Service(ro.Service), ro.To
	if svc == nil || to == "" {
		return // the rollout's own problems are reported there
	}
	// In a release of several services, the one migrating db.
	for _, m := range ro.Release {
		if s := w.env.Service(m.Service); s != nil && s.Database == db {
			svc, to = s, m.To
			break
		}
	}
	if svc.Database != db {
		w.add(n, fmt.Sprintf("target the rollout service's database (%s has database: %q)", svc.Name, svc.Database),
			"target: fault kind %q acts on the migrations the rollout runs; the rollout of %s does not migrate %q", kind, svc.Name, db)
		return
	}
	base, toV := svc.Version(svc.Baseline), svc.Version(to)
	if base == nil || toV == nil {
		return
	}
	switch {
	case toV.Migration == base.Migration:
		w.add(n, fmt.Sprintf("set %s.%s's migration: to a version other than the baseline's (%d)", svc.Name, toV.Name, base.Migration),
			"target: fault kind %q needs a migration, and %s %s and %s are both at migration %d", kind, svc.Name, base.Name, toV.Name, base.Migration)
	case dir == "down" && toV.Migration < base.Migration:
		w.add(n, "", "target: fault kind %q acts on the rollback's down migration, but %s migrates down to %d and back up on rollback",
			kind, toV.Name, toV.Migration)
	}
}

func (w *walk) probability(n *yaml.Node, dst *float64) {
	var v float64
	var ok bool
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		v, ok = w.percent(n, "probability")
	} else {
		v, ok = w.number(n, "probability")
	}
	if !ok {
		return
	}
	if v < 0 || v > 1 {
		w.add(n, "write it like 0.5 or 50%", "probability: %s is outside [0, 1]", n.Value)
		return
	}
	*dst = v
}

// Classes of fault targets, as injectors.Description.Targets names them.
const (
	targetService        = "service"
	targetServiceVersion = "service.version"
	targetDatabase       = "database"
	// targetFlags is drill's flag service, written `target: flags`.
	targetFlags = "flags"
)

// faultTarget checks a fault target — a service, service.version, or a
// database — and returns its class, or "" when it names nothing.
func (w *walk) faultTarget(n *yaml.Node, t string) string {
	if svc, ver, ok := strings.Cut(t, "."); ok {
		if s := w.refService(n, "target", svc); s != nil && w.refVersion(n, "target", s, ver) != nil {
			return targetServiceVersion
		}
		return ""
	}
	switch {
	case t == targetFlags && w.hasFlags:
		return targetFlags
	case w.env.Service(t) != nil:
		return targetService
	case w.env.Database(t) != nil:
		return targetDatabase
	}
	known := append(serviceNames(w.env), databaseNames(w.env)...)
	if t == targetFlags {
		w.add(n, "define flags under a top-level flags: section", "target: flags, but the scenario defines no flags")
		return ""
	}
	w.add(n, didYouMean(t, known), "target: unknown service or database %q (services: %s; databases: %s)",
		t, orNone(serviceNames(w.env)), orNone(databaseNames(w.env)))
	return ""
}

// targetClass checks that a kind acts on targets of class, as its
// description's Targets ("service | service.version") says. A Targets
// text that is not such a list is documentation only and checks nothing.
func (w *walk) targetClass(n *yaml.Node, kind, targets, class string) {
	var classes []string
	for _, c := range strings.FieldsFunc(targets, func(r rune) bool { return r == '|' || r == ',' }) {
		c = strings.TrimSpace(c)
		if c != targetService && c != targetServiceVersion && c != targetDatabase && c != targetFlags {
			return
		}
		classes = append(classes, c)
	}
	if len(classes) == 0 || slices.Contains(classes, class) {
		return
	}
	w.add(n, "", "target: fault kind %q acts on %s, not on a %s", kind, orList(classes), class)
}

// targetEngine refuses a database target whose engine the kind cannot act
// on (a connection fault on SQLite), with the kind's reason as the hint.
func (w *walk) targetEngine(n *yaml.Node, kind string, k injectors.Kind, db *Database) {
	el, ok := k.(injectors.EngineLimited)
	if !ok || db == nil || !slices.Contains(supportedEngines, db.Engine) {
		return // an unknown engine is reported where it is set
	}
	engines, why := el.Engines()
	if slices.Contains(engines, db.Engine) {
		return
	}
	w.add(n, why, "target: fault kind %q acts on %s databases only; %q is %s",
		kind, orList(engines), db.Name, db.Engine)
}

// kind looks a fault kind up in the registry; planned kinds are refused
// as not supported yet.
func (w *walk) kind(n *yaml.Node, name string) injectors.Kind {
	if k, ok := injectors.Lookup(name); ok {
		return k
	}
	supported := injectors.Kinds()
	if slices.Contains(injectors.Planned, name) {
		w.add(n, "", "fault kind %q is not supported yet (supported: %s)", name, orNone(supported))
	} else {
		w.add(n, didYouMean(name, append(supported, injectors.Planned...)),
			"unknown fault kind %q (known: %s)", name, orNone(supported))
	}
	return nil
}

// schedule reads at: a duration from the start of load, {step: N} or
// {after: EVENT, delay: D}.
func (w *walk) schedule(k, n *yaml.Node, where string, steps int, at *Schedule) {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		if d, ok := w.duration(n, "at"); ok {
			at.Offset = d
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		w.add(n, "e.g. at: 20s, at: {step: 2} or at: {after: rollout.start, delay: 5s}",
			"at: expected a duration or a mapping, got %s", describe(n))
		return
	}
	o := w.object(k, n, where, scheduleFields.known...)
	if w.exclusive(o, "step", "after") == 0 {
		w.add(n, "e.g. {step: 2} or {after: rollout.start, delay: 5s}", "at: needs step or after")
	}
	if o.int("step", &at.Step) && (at.Step < 1 || (steps > 0 && at.Step > steps)) {
		w.add(o.get("step"), "steps count from 1", "step: no step %d (the rollout has %d)", at.Step, steps)
	}
	if o.str("after", &at.After) {
		w.choice(o.get("after"), "event", at.After, AfterEvents, nil)
	}
	if o.duration("delay", &at.Delay) && !o.has("after") {
		w.add(o.key("delay"), "", "delay only applies with after")
	}
}

// params hands the fault's params to the kind's own decoder, strictly.
func (w *walk) params(fo *object, kind string, k injectors.Kind, where string) any {
	pn := fo.get("params")
	at := pn
	if at == nil {
		at = fo.get("kind")
	}
	v, called := w.decodeOwned(pn, at, where, k.Parse)
	if !called && pn != nil && !isNull(pn) {
		w.add(fo.key("params"), "", "fault kind %q takes no params", kind)
	}
	return v
}

// decodeOwned hands node n (nil when absent) to the parse function of the
// extension that owns it (a fault kind's params, a strategy's settings):
// decode is strict and records its problems at their positions; the
// owner's own errors go at at. called says whether parse decoded at all.
func (w *walk) decodeOwned(n, at *yaml.Node, where string, parse func(decode func(v any) error) (any, error)) (v any, called bool) {
	decode := func(v any) error {
		called = true
		probs := w.decodeStrict(n, where, v)
		w.probs = append(w.probs, probs...)
		if len(probs) > 0 {
			return probs
		}
		return nil
	}
	v, err := parse(decode)
	for _, err := range flatten(err) {
		// Problems from decode were recorded already (duplicates are
		// dropped when sorting); anything else is about the node, and the
		// owner's message names it.
		var probs Problems
		var prob Problem
		switch {
		case errors.As(err, &probs):
			w.probs = append(w.probs, probs...)
		case errors.As(err, &prob):
			w.probs = append(w.probs, prob)
		default:
			w.add(at, "", "%v", err)
		}
	}
	return v, called
}

func (w *walk) verify(o *object) Verify {
	var v Verify
	if o.has("recovery") {
		ro := o.child("recovery", recoveryFields.known...)
		r := &Recovery{Pos: w.pos(ro.at)}
		ro.require(recoveryFields.required...)
		okWindow := ro.duration("window", &r.Window)
		okWithin := ro.duration("within", &r.Within)
		if okWindow && r.Window <= 0 {
			w.add(ro.get("window"), "", "window: must be positive")
		}
		if okWindow && okWithin && r.Within < r.Window {
			w.add(ro.get("within"), "the recovery window must fit in the deadline",
				"within: %s is shorter than window %s", r.Within, r.Window)
		}
		v.Recovery = r
	}
	if !o.has("data") {
		return v
	}
	do := o.child("data", dataFields.known...)
	if do.has("ledger") {
		lo := do.child("ledger", ledgerFields.known...)
		l := &Ledger{Pos: w.pos(lo.at)}
		lo.require(ledgerFields.required...)
		if lo.str("database", &l.Database) {
			w.refDatabase(lo.get("database"), "database", l.Database)
		}
		lo.str("table", &l.Table)
		lo.str("key", &l.Key)
		lo.strList("columns", &l.Columns)
		if !w.haveLedger {
			w.add(do.key("ledger"), "add ledger: {key: FIELD} to the load request that creates the records",
				"verify.data.ledger: no load request has a ledger")
		}
		v.Data.Ledger = l
	}
	if do.str("schema", &v.Data.Schema) {
		w.choice(do.get("schema"), "schema check", v.Data.Schema, schemaChecks, nil)
	}
	names := map[string]*yaml.Node{}
	for i, n := range do.list("invariants") {
		iv := w.object(nil, n, fmt.Sprintf("verify.data.invariants[%d]", i), invariantFields.known...)
		inv := &Invariant{Pos: w.pos(n)}
		iv.require(invariantFields.required...)
		if iv.str("name", &inv.Name) && w.printable(iv.get("name"), "invariant name", inv.Name, "") {
			if first, dup := names[inv.Name]; dup {
				w.add(iv.get("name"), "", "duplicate invariant name %q (first at line %d)", inv.Name, first.Line)
			} else {
				names[inv.Name] = iv.get("name")
			}
		}
		if iv.str("database", &inv.Database) {
			w.refDatabase(iv.get("database"), "database", inv.Database)
		}
		if iv.str("sql", &inv.SQL) && strings.TrimSpace(inv.SQL) == "" {
			w.add(iv.get("sql"), "a query whose single result is a number, e.g. SELECT count(*) FROM orders WHERE total_cents < 0", "sql: is empty")
		}
		iv.number("expect", &inv.Expect)
		v.Data.Invariants = append(v.Data.Invariants, inv)
	}
	return v
}

// resolveInvariants checks that every invariant:NAME metric names an
// invariant of verify.data.invariants.
func (w *walk) resolveInvariants(v *Verify) {
	var names []string
	for _, inv := range v.Data.Invariants {
		names = append(names, inv.Name)
	}
	for _, r := range w.invariantRefs {
		if !slices.Contains(names, r.name) {
			hint := didYouMean(r.name, names)
			if hint == "" {
				hint = "define it under verify.data.invariants: [{name, database, sql, expect}]"
			}
			w.add(r.n, hint, "metric %q: unknown invariant %q (defined: %s)", InvariantPrefix+r.name, r.name, orNone(names))
		}
	}
}

func (w *walk) expect(o *object) Expect {
	var e Expect
	if o.str("outcome", &e.Outcome) && w.choice(o.get("outcome"), "outcome", e.Outcome, outcomes, nil) &&
		e.Outcome == OutcomeBlocked && !w.hasContracts {
		w.add(o.get("outcome"), "define the contract the release should fail under contracts: [{name, consumer, provider, request, expect}]",
			"outcome %q: only a failing contract blocks a release, and the scenario has none", e.Outcome)
	}
	o.duration("detect_within", &e.DetectWithin)
	o.duration("recover_within", &e.RecoverWithin)
	if o.int("min_score", &e.MinScore) && (e.MinScore < 0 || e.MinScore > 100) {
		w.add(o.get("min_score"), "scores run from 0 to 100", "min_score: %d is outside 0..100", e.MinScore)
	}
	if o.str("rollback", &e.Rollback) {
		w.choice(o.get("rollback"), "rollback expectation", e.Rollback, rollbackExpectations, nil)
	}
	return e
}

// flatten splits an errors.Join tree into its leaves, so that each of a
// kind's complaints becomes a problem of its own.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if _, ok := err.(Problems); ok {
		return []error{err}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
