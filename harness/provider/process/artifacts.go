package process

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/scenarios"
)

var _ provider.ArtifactLister = (*processProvider)(nil)

// Artifacts digests the binary each version runs: the one Build compiled
// for its build: directory, or its command's executable.
func (p *processProvider) Artifacts(ctx context.Context, sc *scenarios.Scenario) ([]provider.Artifact, error) {
	var out []provider.Artifact
	for _, s := range sc.Environment.Services {
		for _, v := range s.Versions {
			a := provider.Artifact{Service: s.Name, Version: v.Name}
			prog := s.Program(v)
			if len(prog.Command) > 0 {
				// A command is the scenario author's program, found when it
				// starts (perhaps relative to its working directory): one
				// that cannot be found here is simply not named.
				path, err := exec.LookPath(prog.Command[0])
				if err != nil {
					continue
				}
				a.Kind, a.Ref = "command", path
			} else {
				argv, err := p.build(ctx, s.Name, prog.Build)
				if err != nil {
					return nil, err
				}
				a.Kind, a.Ref = "binary", argv[0]
			}
			d, err := fileDigest(a.Ref)
			if err != nil && a.Kind == "command" {
				continue
			}
			if err != nil {
				return nil, &provider.EnvError{What: "digest " + a.Ref, Err: err}
			}
			a.Digest = d
			out = append(out, a)
		}
	}
	return out, nil
}

// fileDigest is "sha256:<hex>" of a file's bytes.
func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
