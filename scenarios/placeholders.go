package scenarios

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Placeholders returns the expressions of the ${…} placeholders in s, in
// order and without the braces: "seq", "rand:1:5", "services.pricing.url".
// An unterminated "${" ends the list. The loader only validates
// placeholders; the harness substitutes them.
func Placeholders(s string) []string {
	exprs, _ := scanPlaceholders(s)
	return exprs
}

func scanPlaceholders(s string) (exprs []string, unterminated bool) {
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return exprs, false
		}
		rest := s[i+2:]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return exprs, true
		}
		exprs = append(exprs, rest[:j])
		s = rest[j+1:]
	}
}

// Placeholder forms, for hints.
var (
	envForms     = []string{"${services.NAME.url}", "${databases.NAME.url}"}
	requestForms = []string{"${seq}", "${uuid}", "${rand:MIN:MAX}", "${ledger.last}"}
)

// parseRand parses "rand:MIN:MAX". ok is false when expr is not a rand
// placeholder at all; err says what is wrong with one.
func parseRand(expr string) (lo, hi int64, ok bool, err error) {
	rest, found := strings.CutPrefix(expr, "rand:")
	if !found {
		return 0, 0, false, nil
	}
	a, b, two := strings.Cut(rest, ":")
	if !two {
		return 0, 0, true, fmt.Errorf("needs MIN and MAX")
	}
	lo, err1 := strconv.ParseInt(a, 10, 64)
	hi, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, true, fmt.Errorf("MIN and MAX must be whole numbers")
	}
	if lo > hi {
		return 0, 0, true, fmt.Errorf("MIN %d is greater than MAX %d", lo, hi)
	}
	// The harness draws lo + IntN(hi-lo+1): the count of values must
	// fit an int64, or the load generator panics mid-run.
	if uint64(hi)-uint64(lo) >= math.MaxInt64 {
		return 0, 0, true, fmt.Errorf("MIN %d to MAX %d is too wide a range (at most %d values)", lo, hi, int64(math.MaxInt64))
	}
	return lo, hi, true, nil
}

// unterminated reports a "${" without its "}".
func (p *parser) unterminated(n *yaml.Node, name string, forms []string) {
	p.add(n, "placeholders look like "+strings.Join(forms, ", "), "%s: unterminated placeholder (missing \"}\")", name)
}

// checkEnvPlaceholders validates the placeholders of an env value: only
// references to services and databases of the environment.
func (p *parser) checkEnvPlaceholders(n *yaml.Node, name, value string, env *Environment) {
	exprs, open := scanPlaceholders(value)
	if open {
		p.unterminated(n, name, envForms)
	}
	for _, expr := range exprs {
		parts := strings.Split(expr, ".")
		if len(parts) == 3 && parts[2] == "url" {
			switch parts[0] {
			case "services":
				if env.Service(parts[1]) == nil {
					p.add(n, didYouMean(parts[1], serviceNames(env)), "%s: ${%s} names unknown service %q (known: %s)",
						name, expr, parts[1], orNone(serviceNames(env)))
				}
				continue
			case "databases":
				if env.Database(parts[1]) == nil {
					p.add(n, didYouMean(parts[1], databaseNames(env)), "%s: ${%s} names unknown database %q (known: %s)",
						name, expr, parts[1], orNone(databaseNames(env)))
				}
				continue
			}
		}
		var concrete []string
		for _, s := range env.Services {
			concrete = append(concrete, "services."+s.Name+".url")
		}
		for _, d := range env.Databases {
			concrete = append(concrete, "databases."+d.Name+".url")
		}
		p.add(n, placeholderHint(expr, concrete, "env", envForms), "%s: unknown placeholder ${%s}", name, expr)
	}
}

// checkRequestPlaceholders validates the placeholders of a request's path,
// body or header value. ${ledger.last} needs some request with a ledger.
func (p *parser) checkRequestPlaceholders(n *yaml.Node, name, value string, haveLedger bool) {
	exprs, open := scanPlaceholders(value)
	if open {
		p.unterminated(n, name, requestForms)
	}
	for _, expr := range exprs {
		switch expr {
		case "seq", "uuid":
			continue
		case "ledger.last":
			if !haveLedger {
				p.add(n, "add ledger: {key: FIELD} to the request that creates the records",
					"%s: ${ledger.last} needs a request with a ledger", name)
			}
			continue
		}
		if _, _, isRand, err := parseRand(expr); isRand {
			if err != nil {
				p.add(n, "write it like ${rand:1:5}", "%s: ${%s}: %v", name, expr, err)
			}
			continue
		}
		p.add(n, placeholderHint(expr, []string{"seq", "uuid", "ledger.last", "rand"}, "requests", requestForms),
			"%s: unknown placeholder ${%s}", name, expr)
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
	literal := placeholderRE.ReplaceAllString(value, " ")
	var out []Problem
	for _, addr := range loopbackRE.FindAllString(literal, -1) {
		out = append(out, Problem{Pos: p.pos(n),
			Msg: fmt.Sprintf("%s: %s is a port on the host's loopback, which the docker provider would open to the container",
				name, strconv.Quote(addr)),
			Hint: "use ${services.NAME.url} or ${databases.NAME.url} to reach the drill's own services and databases; nothing else on the host is reachable"})
	}
	return out
}

// placeholderRE matches a complete placeholder, as scanPlaceholders reads
// them.
var placeholderRE = regexp.MustCompile(`\$\{[^}]*\}`)
