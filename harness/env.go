package harness

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/drillhq/drill/harness/dbcheck"
	"github.com/drillhq/drill/harness/journal"
	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/injectors"
)

// The System is the injectors.Env of the drill's faults: it resolves a
// target to the router, the instances or the database proxy the drill
// started, and to nothing else (faults never reach what the drill did not
// start).
var _ injectors.Env = (*System)(nil)

// HTTP implements injectors.Env: the fault point of a service's router.
func (sys *System) HTTP(target string) (injectors.HTTPPoint, error) {
	svc, version, _ := strings.Cut(target, ".")
	rt, ok := sys.routers[svc]
	if !ok {
		return nil, fmt.Errorf("no router for service %q", svc)
	}
	return rt.Point(version), nil
}

// Link implements injectors.Env: calls from one service to another, at
// the entry of to's router reserved for from (see resolveFor).
func (sys *System) Link(from, to string) (injectors.HTTPPoint, error) {
	rt, ok := sys.routers[to]
	if !ok {
		return nil, fmt.Errorf("no router for service %q", to)
	}
	if sys.sc.Environment.Service(from) == nil {
		return nil, fmt.Errorf("no service %q", from)
	}
	return rt.CallerPoint(from), nil
}

// Conn implements injectors.Env: the TCP proxy in front of a database.
func (sys *System) Conn(target string) (injectors.ConnPoint, error) {
	h, ok := sys.dbs[target]
	if !ok {
		return nil, fmt.Errorf("no database %q", target)
	}
	if h.Proxy == nil {
		return nil, fmt.Errorf("database %q has no TCP proxy (connection faults need a PostgreSQL database)", target)
	}
	return h.Proxy, nil
}

// Processes implements injectors.Env: the instances behind a service or
// one of its versions.
func (sys *System) Processes(target string) (injectors.ProcessPoint, error) {
	svc, version, _ := strings.Cut(target, ".")
	if sys.sc.Environment.Service(svc) == nil {
		return nil, fmt.Errorf("no service %q", svc)
	}
	return processPoint{sys: sys, service: svc, version: version}, nil
}

type processPoint struct {
	sys              *System
	service, version string
}

func (p processPoint) Instances() []injectors.Process {
	p.sys.mu.Lock()
	defer p.sys.mu.Unlock()
	var names []string
	for v, in := range p.sys.instances[p.service] {
		if (p.version == "" || v == p.version) && in.Alive() {
			names = append(names, v)
		}
	}
	sort.Strings(names)
	out := make([]injectors.Process, 0, len(names))
	for _, v := range names {
		out = append(out, p.sys.instances[p.service][v])
	}
	return out
}

// Restart replaces an instance with a fresh one of the same version, the
// way a supervisor restarts a crashed process: the old one is stopped if
// it still runs, the new one must pass its health check, and only then is
// the router pointed at it.
func (p processPoint) Restart(ctx context.Context, name string) error {
	p.sys.mu.Lock()
	var version string
	var old provider.Instance
	for v, in := range p.sys.instances[p.service] {
		if in.Name() == name {
			version, old = v, in
		}
	}
	p.sys.mu.Unlock()
	if old == nil {
		return fmt.Errorf("no instance %q of %s", name, p.service)
	}
	s := p.sys.sc.Environment.Service(p.service)
	p.sys.j.Record(journal.InstanceRestart, "service", p.service, "version", version, "old_pid", old.PID())
	if err := old.Stop(ctx); err != nil {
		return err
	}
	_, err := p.sys.startInstance(ctx, s, s.Version(version))
	return err
}

// Migrations implements injectors.Env: the schema migrations the harness
// runs on a database (the rollout's up migration, the rollback's down).
func (sys *System) Migrations(target string) (injectors.MigrationPoint, error) {
	if _, ok := sys.dbs[target]; !ok {
		return nil, fmt.Errorf("no database %q", target)
	}
	sys.mu.Lock()
	defer sys.mu.Unlock()
	if sys.migPoints == nil {
		sys.migPoints = map[string]*dbcheck.FaultPoint{}
	}
	p := sys.migPoints[target]
	if p == nil {
		p = &dbcheck.FaultPoint{}
		sys.migPoints[target] = p
	}
	return p, nil
}
