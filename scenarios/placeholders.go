package scenarios

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Placeholder forms, for hints.
var (
	envForms     = []string{"${services.NAME.url}", "${databases.NAME.url}"}
	requestForms = []string{"${seq}", "${uuid}", "${rand:MIN:MAX}", "${ledger.last}"}
)

// unterminated reports a "${" without its "}".
func (p *parser) unterminated(n *yaml.Node, name string, forms []string) {
	p.add(n, "placeholders look like "+strings.Join(forms, ", "), "%s: unterminated placeholder (missing \"}\")", name)
}

// placeholdersOf returns the placeholders of value (see Segments) and
// whether it ends in an unterminated "${".
func placeholdersOf(value string) (phs []Segment, open bool) {
	for _, seg := range Segments(value) {
		switch {
		case seg.Kind == SegUnterminated:
			open = true
		case seg.Placeholder():
			phs = append(phs, seg)
		}
	}
	return phs, open
}

// checkEnvPlaceholders validates the placeholders of an env value: only
// references to services and databases of the environment.
func (p *parser) checkEnvPlaceholders(n *yaml.Node, name, value string, env *Environment) {
	phs, open := placeholdersOf(value)
	if open {
		p.unterminated(n, name, envForms)
	}
	for _, ph := range phs {
		switch ph.Kind {
		case SegServiceURL:
			if env.Service(ph.Name) == nil {
				p.add(n, didYouMean(ph.Name, serviceNames(env)), "%s: ${%s} names unknown service %q (known: %s)",
					name, ph.Expr, ph.Name, orNone(serviceNames(env)))
			}
			continue
		case SegDatabaseURL:
			if env.Database(ph.Name) == nil {
				p.add(n, didYouMean(ph.Name, databaseNames(env)), "%s: ${%s} names unknown database %q (known: %s)",
					name, ph.Expr, ph.Name, orNone(databaseNames(env)))
			}
			continue
		case SegFlagsURL:
			if !p.hasFlags {
				p.add(n, "define the flags under a top-level flags: section", "%s: ${flags.url} but the scenario defines no flags", name)
			}
			continue
		}
		var concrete []string
		for _, s := range env.Services {
			concrete = append(concrete, "services."+s.Name+".url")
		}
		for _, d := range env.Databases {
			concrete = append(concrete, "databases."+d.Name+".url")
		}
		p.add(n, placeholderHint(ph.Expr, concrete, "env", envForms), "%s: unknown placeholder ${%s}", name, ph.Expr)
	}
}

// checkRequestPlaceholders validates the placeholders of a request's path,
// body or header value. ${ledger.last} needs some request with a ledger.
func (p *parser) checkRequestPlaceholders(n *yaml.Node, name, value string, haveLedger bool) {
	phs, open := placeholdersOf(value)
	if open {
		p.unterminated(n, name, requestForms)
	}
	for _, ph := range phs {
		switch ph.Kind {
		case SegSeq, SegUUID:
			continue
		case SegLedgerLast:
			if !haveLedger {
				p.add(n, "add ledger: {key: FIELD} to the request that creates the records",
					"%s: ${ledger.last} needs a request with a ledger", name)
			}
			continue
		case SegRand:
			if ph.Err != nil {
				p.add(n, "write it like ${rand:1:5}", "%s: ${%s}: %v", name, ph.Expr, ph.Err)
			}
			continue
		}
		p.add(n, placeholderHint(ph.Expr, []string{"seq", "uuid", "ledger.last", "rand"}, "requests", requestForms),
			"%s: unknown placeholder ${%s}", name, ph.Expr)
	}
}

func placeholderHint(expr string, candidates []string, where string, forms []string) string {
	valid := fmt.Sprintf("valid in %s: %s", where, strings.Join(forms, ", "))
	if c := closest(expr, candidates); c != "" {
		if c == "rand" {
			c = "rand:MIN:MAX"
		}
		return fmt.Sprintf("did you mean ${%s}? %s", c, valid)
	}
	return valid
}

func serviceNames(env *Environment) []string {
	var names []string
	for _, s := range env.Services {
		names = append(names, s.Name)
	}
	return names
}

func databaseNames(env *Environment) []string {
	var names []string
	for _, d := range env.Databases {
		names = append(names, d.Name)
	}
	return names
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// loopbackRE matches a host loopback address with a port, as the docker
// provider finds them in a container's env to forward them (it looks for
// 127.0.0.1:N and localhost:N; this matches more, so that nothing it
// forwards gets past the loader).
var loopbackRE = regexp.MustCompile(`(?i)\b(?:localhost|127(?:\.[0-9]{1,3}){3}):[0-9]+|\[(?:::1|(?:0{1,4}:){7}0{0,3}1)\]:[0-9]+`)

// loopback returns a problem for each literal loopback address with a
// port in an env value; placeholders (${services.X.url}) are the way to
// reach the drill's own services and databases and are not looked at.
// The docker provider forwards every 127.0.0.1:N of a container's env to
// the host, so a literal one would let a scenario reach any port of the
// host from inside a container (the Docker API on 2375, the host's own
// PostgreSQL).
func (p *parser) loopback(n *yaml.Node, name, value string) []Problem {
	// Each placeholder reads as a space, so that no address is pieced
	// together across one.
	var b strings.Builder
	for _, seg := range Segments(value) {
		if seg.Placeholder() {
			b.WriteString(" ")
		} else {
			b.WriteString(seg.Text)
		}
	}
	literal := b.String()
	var out []Problem
	for _, addr := range loopbackRE.FindAllString(literal, -1) {
		out = append(out, Problem{Pos: p.pos(n),
			Msg: fmt.Sprintf("%s: %s is a port on the host's loopback, which the docker provider would open to the container",
				name, strconv.Quote(addr)),
			Hint: "use ${services.NAME.url} or ${databases.NAME.url} to reach the drill's own services and databases; nothing else on the host is reachable"})
	}
	return out
}
