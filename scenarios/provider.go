package scenarios

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Program is what runs one version of a service: exactly one of its
// fields is set, the version's own choice or else the service's.
type Program struct {
	Build   string
	Image   string
	Command []string
}

// Program resolves what runs version v of s: a version's build, image or
// command replaces the service's.
func (s *Service) Program(v *Version) Program {
	switch {
	case v.Build != "":
		return Program{Build: v.Build}
	case v.Image != "":
		return Program{Image: v.Image}
	case len(v.Command) > 0:
		return Program{Command: v.Command}
	}
	return Program{Build: s.Build, Image: s.Image, Command: s.Command}
}

// ProviderCaps is what a provider can run, as its package registers it
// (harness/provider): the loader keeps no list of providers, so the
// caller hands ProviderProblems every registered one.
type ProviderCaps struct {
	Build   bool // builds `build:` directories
	Image   bool // runs `image:` names
	Command bool // runs `command:` programs on this machine
	// Isolated says services run in a network of their own (containers),
	// where 127.0.0.1 is the service itself: a literal loopback address in
	// env would have to be opened to it (see loopbacks).
	Isolated bool
}

// ProviderProblems reports, at their positions, what the provider called
// name cannot do with the scenario: an unknown name (at
// environment.provider), every version whose program it cannot run (an
// image, a local command), and, for an isolated provider, every literal
// loopback address in an env value. known holds every registered
// provider's capabilities. The loader cannot know `--provider`, so the
// CLI and the harness check this with the provider a run will really use,
// before anything starts. The result is nil or Problems.
func (sc *Scenario) ProviderProblems(name string, known map[string]ProviderCaps) error {
	caps, ok := known[name]
	if !ok {
		names := slices.Sorted(maps.Keys(known))
		return Problems{{Pos: sc.Environment.ProviderPos, Msg: fmt.Sprintf("unknown provider %q (known: %s)", name, strings.Join(names, ", ")),
			Hint: didYouMean(name, names)}}
	}
	able := func(can func(ProviderCaps) bool) string {
		var out []string
		for _, n := range slices.Sorted(maps.Keys(known)) {
			if can(known[n]) {
				out = append(out, n)
			}
		}
		return strings.Join(out, " or ")
	}
	var ps Problems
	for _, s := range sc.Environment.Services {
		for _, v := range s.Versions {
			p := s.Program(v)
			switch {
			case p.Image != "" && !caps.Image:
				other := able(func(c ProviderCaps) bool { return c.Image })
				ps = append(ps, Problem{Pos: v.Pos,
					Msg:  fmt.Sprintf("service %q version %q runs image %q, which needs the %s provider", s.Name, v.Name, p.Image, other),
					Hint: fmt.Sprintf("set environment.provider: %s or pass --provider %s, or give the version build: DIR or command: [...]", other, other)})
			case len(p.Command) > 0 && !caps.Command:
				ps = append(ps, Problem{Pos: v.Pos,
					Msg: fmt.Sprintf("service %q version %q runs command %q, %s",
						s.Name, v.Name, strings.Join(p.Command, " "), commandRefusal(name, caps)),
					Hint: fmt.Sprintf("give it %s, or run it with --provider %s", programs(caps), able(func(c ProviderCaps) bool { return c.Command }))})
			case p.Build != "" && !caps.Build:
				ps = append(ps, Problem{Pos: v.Pos,
					Msg:  fmt.Sprintf("service %q version %q builds %q, which the %s provider cannot build", s.Name, v.Name, p.Build, name),
					Hint: "run it with --provider " + able(func(c ProviderCaps) bool { return c.Build })})
			}
		}
	}
	if caps.Isolated {
		ps = append(ps, sc.loopbacks...)
	}
	if len(ps) == 0 {
		return nil
	}
	return ps.sorted()
}

// commandRefusal says why provider name does not run a local command.
func commandRefusal(name string, caps ProviderCaps) string {
	if caps.Isolated {
		return fmt.Sprintf("a local program the %s provider cannot put in a container", name)
	}
	return fmt.Sprintf("a local program, which the %s provider does not run", name)
}

// programs lists what a version can run on a provider instead of a command.
func programs(caps ProviderCaps) string {
	var out []string
	if caps.Build {
		b := "build: DIR"
		if caps.Isolated {
			b += " (with a Dockerfile)"
		}
		out = append(out, b)
	}
	if caps.Image {
		out = append(out, "image: NAME")
	}
	return strings.Join(out, " or ")
}
