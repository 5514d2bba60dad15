package scenarios

import (
	"fmt"
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

// ProviderProblems reports, at the versions' positions, every version the
// provider cannot run: an image needs the docker provider, a command runs
// a local program that the docker provider cannot put in a container;
// and, for the docker provider, every literal loopback address in an env
// value (at the value), which it would open to the container. The
// loader cannot know `--provider`, so the CLI checks this with the
// provider a run will really use, before anything starts. The result is
// nil or Problems.
func (sc *Scenario) ProviderProblems(provider string) error {
	var ps Problems
	for _, s := range sc.Environment.Services {
		for _, v := range s.Versions {
			p := s.Program(v)
			switch {
			case provider == ProviderProcess && p.Image != "":
				ps = append(ps, Problem{Pos: v.Pos,
					Msg:  fmt.Sprintf("service %q version %q runs image %q, which needs the docker provider", s.Name, v.Name, p.Image),
					Hint: "set environment.provider: docker or pass --provider docker, or give the version build: DIR or command: [...]"})
			case provider == ProviderDocker && len(p.Command) > 0:
				ps = append(ps, Problem{Pos: v.Pos,
					Msg: fmt.Sprintf("service %q version %q runs command %q, a local program the docker provider cannot put in a container",
						s.Name, v.Name, strings.Join(p.Command, " ")),
					Hint: "give it build: DIR (with a Dockerfile) or image: NAME, or run it with --provider process"})
			}
		}
	}
	if provider == ProviderDocker {
		ps = append(ps, sc.loopbacks...)
	}
	if len(ps) == 0 {
		return nil
	}
	return ps.sorted()
}
