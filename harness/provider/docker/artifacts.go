package docker

import (
	"context"

	"github.com/drillhq/drill/harness/provider"
	"github.com/drillhq/drill/scenarios"
)

var _ provider.ArtifactLister = (*dockerProvider)(nil)

// Artifacts names the image each version runs with its image ID, the
// digest of its configuration and layers.
func (p *dockerProvider) Artifacts(ctx context.Context, sc *scenarios.Scenario) ([]provider.Artifact, error) {
	cli, err := dockerClient()
	if err != nil {
		return nil, err
	}
	var out []provider.Artifact
	for _, s := range sc.Environment.Services {
		for _, v := range s.Versions {
			ref, err := p.serviceImage(ctx, s, v)
			if err != nil {
				return nil, err
			}
			img, err := cli.ImageInspect(ctx, ref)
			if err != nil {
				return nil, &provider.EnvError{What: "inspect image " + ref, Err: err}
			}
			out = append(out, provider.Artifact{Service: s.Name, Version: v.Name, Kind: "image", Ref: ref, Digest: img.ID})
		}
	}
	return out, nil
}
