package harness

import (
	"cmp"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/drillhq/drill/harness/faultset"
	"github.com/drillhq/drill/harness/gameday"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/judge"
	"github.com/drillhq/drill/harness/metrics"
	"github.com/drillhq/drill/reports"
	"github.com/drillhq/drill/scenarios"
)

// The operators' side of a drill (package gameday holds the console):
// the drill's loop takes their orders here, shows them its windows and
// its judge, and reports what they did beside what the judge did.

// errPromoteNow ends the rollout's steps early: an operator ordered the
// promotion.
var errPromoteNow = errors.New("promotion ordered by an operator")

// operatorAbort is the cause an operator's abort cancels the drill with.
type operatorAbort struct{ o gameday.Order }

func (e *operatorAbort) Error() string { return "aborted by operator " + e.o.As }

// openConsole starts the drill's console and its control socket in the
// run directory.
func (d *drill) openConsole() error {
	gd := d.sc.GameDay
	var names []string
	for _, f := range d.sc.Faults {
		names = append(names, f.Name)
	}
	d.con = gameday.New(gameday.Config{Journal: d.j, Scenario: d.sc.Name, RunDir: d.runDir,
		JudgeMode: cmp.Or(gd.Judge, scenarios.JudgeAutomatic), HiddenFaults: gd.HiddenFaults, FaultNames: names,
		PauseLimit: pauseLimit,
		Abort: func(o gameday.Order) {
			d.say("ABORT ordered by %s: stopping with the safe abort", o.As)
			d.abort(&operatorAbort{o})
		}})
	srv, err := gameday.Listen(d.runDir, d.tmpDir, d.con)
	if err != nil {
		return err
	}
	d.ctl = srv
	d.j.Tap(d.con.Event)
	d.j.Tap(func(e journal.Event) {
		if e.Event == journal.OperatorCommand {
			d.prom.Operator(fmt.Sprint(e.Fields["command"]))
		}
	})
	d.say("control: drill ctl %s approve|reject|pause|resume|promote|rollback|abort|note TEXT|inject FAULT|revert FAULT|status", d.runDir)
	if gd.Dashboard {
		dash, err := gameday.ServeDashboard(d.con, d.operatorName())
		if err != nil {
			return err
		}
		d.dash = dash
		// The report keeps the address, not the token that opens it.
		d.dashURL, _, _ = strings.Cut(dash.URL(), "?")
		// Written past say's redaction: the token is what opens the page,
		// and the facilitator needs it (the journal never sees it).
		fmt.Fprintf(d.log, "[%6.1fs] dashboard: %s\n", time.Since(d.started).Seconds(), dash.URL())
	}
	return nil
}

// phase tells the operators and Prometheus what the drill does now.
func (d *drill) phase(p string) {
	d.con.SetPhase(p)
	d.prom.Phase(p)
}

// step tells them which rollout step runs.
func (d *drill) step(no int, name string, weight float64) {
	d.con.SetStep(no, name, weight)
	d.prom.Step(no)
}

// exportState gives Prometheus each router's split and each fault's
// state after an interval; hidden faults only once the drill has ended.
func (d *drill) exportState(sys *System, fs *faultset.Set) {
	if d.prom == nil {
		return
	}
	for _, s := range d.sc.Environment.Services {
		base, canary, w := sys.routers[s.Name].Split()
		// Every version, so that one the router no longer sends to
		// reads 0, not its last share.
		for _, v := range s.Versions {
			share := 0.0
			switch v.Name {
			case base:
				if base == canary { // a flag release: one build serves both
					share = 1
					break
				}
				share = 1 - w
			case canary:
				share = w
			}
			d.prom.Split(s.Name, v.Name, share)
		}
	}
	if !d.con.Hidden() {
		d.exportFaults(fs)
	}
}

func (d *drill) exportFaults(fs *faultset.Set) {
	for _, f := range fs.Report() {
		d.prom.Fault(f.Name, f.Kind, f.Target, f.AppliedAt != nil && f.RevertedAt == nil)
	}
}

// pauseLimit bounds the time an operator may hold a rollout paused, in
// all: the load's own time bound counts it once.
const pauseLimit = 15 * time.Minute

// closeConsole refuses every later command, shows the hidden faults and
// closes the socket.
func (d *drill) closeConsole() {
	if d.con == nil {
		return
	}
	d.con.Done()
	d.phase("done")
	d.exportFaults(d.faults)
	if d.ctl != nil {
		_ = d.ctl.Close()
	}
	if d.dash != nil {
		_ = d.dash.Close()
	}
}

// sayFault is the fault set's progress line: silent while the faults are
// hidden from the operators (the journal keeps it).
func (d *drill) sayFault(format string, args ...any) {
	if d.sc.GameDay.HiddenFaults {
		return
	}
	d.say(format, args...)
}

// takeOrder acts on an operator's order at an interval's end: a rollback
// becomes the rollout's decision, a promotion errPromoteNow. An abort
// has cancelled the drill already.
func (d *drill) takeOrder() (*judge.Decision, error) {
	o := d.con.TakeOrder()
	if o == nil {
		return nil, nil
	}
	switch o.Name {
	case gameday.CmdRollback:
		d.say("ROLLBACK ordered by %s", o.As)
		return &judge.Decision{Verdict: judge.Rollback, Reason: "operator " + o.As + " ordered the rollback",
			Evidence: map[string]any{"operator": o.As, "at": o.At.UTC()}}, nil
	case gameday.CmdPromote:
		d.say("PROMOTION ordered by %s", o.As)
		d.j.Record(journal.StepEnd, "reason", "promotion ordered by "+o.As)
		return nil, errPromoteNow
	}
	return nil, nil
}

// judged shows a service's judge to the operators and decides whether
// its rollback acts: in advisory and off mode it does not, and the first
// such verdict is kept as the judge's would-be decision.
func (d *drill) judged(service string, dec judge.Decision) *judge.Decision {
	acts := d.sc.GameDay.Acts()
	if d.sc.GameDay.Shown() {
		d.prom.Verdict(service, string(dec.Verdict))
	}
	d.con.SetJudge(gameday.JudgeView{Service: service, Verdict: string(dec.Verdict), Reason: dec.Reason, Evidence: dec.Evidence, Acts: acts})
	if dec.Verdict != judge.Rollback {
		return nil
	}
	if acts {
		return &dec
	}
	if d.would == nil {
		d.would = &wouldDecision{at: time.Now(), dec: dec}
		d.j.Record(journal.JudgeWouldRollback, "service", service, "reason", dec.Reason, "evidence", dec.Evidence, "mode", d.sc.GameDay.Judge)
		if d.sc.GameDay.Shown() {
			d.say("judge (advisory) says ROLLBACK: %s: %s", service, dec.Reason)
		}
	}
	return nil
}

// wouldDecision is the judge's first rollback verdict that did not act.
type wouldDecision struct {
	at  time.Time
	dec judge.Decision
}

// showWindows gives the operators the last interval at every router.
func (d *drill) showWindows(sys *System, end time.Time, tw map[string]map[string]metrics.Window) {
	var vs []gameday.VersionView
	for _, s := range d.sc.Environment.Services {
		src := tw[sys.recorders[s.Name].Source()]
		var total int64
		for _, w := range src {
			total += w.Requests
		}
		for label, w := range src {
			v := gameday.VersionView{Service: s.Name, Version: label, Requests: w.Requests, ErrorRate: w.ErrorRate(),
				P99Ms: float64(w.Quantile(0.99).Microseconds()) / 1000}
			if total > 0 {
				v.Share = float64(w.Requests) / float64(total)
			}
			vs = append(vs, v)
		}
	}
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].Service != vs[j].Service {
			return vs[i].Service < vs[j].Service
		}
		return vs[i].Version < vs[j].Version
	})
	d.con.SetWindows(end, vs)
}

// gameDayReport is report.json's game_day: present for a game day, or
// when anyone sent a command.
func (d *drill) gameDayReport(r *results, rep *reports.Report) *reports.GameDay {
	actions := d.con.Actions()
	gd := d.sc.GameDay
	if len(actions) == 0 && gd.Pos.Line == 0 {
		return nil
	}
	out := &reports.GameDay{Judge: cmp.Or(gd.Judge, scenarios.JudgeAutomatic), HiddenFaults: gd.HiddenFaults,
		Dashboard: d.dashURL, Operators: gameday.Operators(actions), Actions: actions}
	if out.Actions == nil {
		out.Actions = []reports.OperatorAction{}
	}
	m := gameday.Moments{Exposure: rep.ExposureAt, Detected: r.detected, Recovered: r.recovered}
	switch {
	case d.would != nil:
		// The judge's verdict, never acted on (advisory, off).
		m.JudgeAt = &d.would.at
		out.JudgeDecision = &reports.Decision{At: d.would.at.UTC(), Verdict: string(judge.Rollback), Reason: d.would.dec.Reason, Evidence: d.would.dec.Evidence}
	case r.decision != nil && r.decision.Verdict == string(judge.Rollback) && r.decision.Evidence["operator"] == nil && !rejected(actions):
		// The automatic judge acted.
		m.JudgeAt, m.JudgeActed = r.detected, true
		out.JudgeDecision = r.decision
	}
	out.Human, out.JudgeTimes = gameday.Review(actions, m)
	return out
}

// rejected says whether an operator rejected a gate: the rollback was
// theirs, not the judge's.
func rejected(actions []reports.OperatorAction) bool {
	for _, a := range actions {
		if a.Applied && a.Command == gameday.CmdReject {
			return true
		}
	}
	return false
}

// operatorName is who a stdin answer is recorded as.
func (d *drill) operatorName() string {
	return cmp.Or(d.opts.Operator, "operator")
}
