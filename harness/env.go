package harness

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/drillhq/drill/injectors"
)

// The drill is the injectors.Env of its faults: it resolves a target to
// the router, the instances or the database proxy the drill started, and
// to nothing else (faults never reach what the drill did not start).
var _ injectors.Env = (*drill)(nil)

// HTTP implements injectors.Env: the fault point of a service's router.
func (d *drill) HTTP(target string) (injectors.HTTPPoint, error) {
	svc, version, _ := strings.Cut(target, ".")
	rt, ok := d.routers[svc]
	if !ok {
		return nil, fmt.Errorf("no router for service %q", svc)
	}
	return rt.Point(version), nil
}

// Link implements injectors.Env: calls from one service to another, at
// the entry of to's router reserved for from (see resolveFor).
func (d *drill) Link(from, to string) (injectors.HTTPPoint, error) {
	rt, ok := d.routers[to]
	if !ok {
		return nil, fmt.Errorf("no router for service %q", to)
	}
	if d.sc.Environment.Service(from) == nil {
		return nil, fmt.Errorf("no service %q", from)
	}
	return rt.CallerPoint(from), nil
}

// Conn implements injectors.Env: the TCP proxy in front of a database.
func (d *drill) Conn(target string) (injectors.ConnPoint, error) {
	h, ok := d.dbs[target]
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
func (d *drill) Processes(target string) (injectors.ProcessPoint, error) {
	svc, version, _ := strings.Cut(target, ".")
	if d.sc.Environment.Service(svc) == nil {
		return nil, fmt.Errorf("no service %q", svc)
	}
	return processPoint{d: d, service: svc, version: version}, nil
}

type processPoint struct {
	d                *drill
	service, version string
}

func (p processPoint) Instances() []injectors.Process {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	var names []string
	for v, in := range p.d.instances[p.service] {
		if (p.version == "" || v == p.version) && in.Alive() {
			names = append(names, v)
		}
	}
	sort.Strings(names)
	out := make([]injectors.Process, 0, len(names))
	for _, v := range names {
		out = append(out, p.d.instances[p.service][v])
	}
	return out
}

// Restart replaces an instance with a fresh one of the same version, the
// way a supervisor restarts a crashed process: the old one is stopped if
// it still runs, the new one must pass its health check, and only then is
// the router pointed at it.
func (p processPoint) Restart(ctx context.Context, name string) error {
	p.d.mu.Lock()
	var version string
	var old Instance
	for v, in := range p.d.instances[p.service] {
		if in.Name() == name {
			version, old = v, in
		}
	}
	p.d.mu.Unlock()
	if old == nil {
		return fmt.Errorf("no instance %q of %s", name, p.service)
	}
	s := p.d.sc.Environment.Service(p.service)
	p.d.j.Record("instance.restart", "service", p.service, "version", version, "old_pid", old.PID())
	if err := old.Stop(ctx); err != nil {
		return err
	}
	_, err := p.d.startInstance(ctx, s, s.Version(version))
	return err
}
