package strategy

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/drillhq/drill/injectors"
)

func init() {
	Register("blue-green", "starts the new version (green) at full size beside the old (blue), judges it under synthetic preview load, then switches 100% at once; a rollback inside scale_down_delay switches back to the still-running blue",
		Kind{Field: "blue_green", Parse: parseBlueGreen, NoSteps: true, Previews: true,
			New: func(p any) (Strategy, error) {
				s, _ := p.(BlueGreen)
				if p == nil {
					s = DefaultBlueGreen
				}
				return blueGreen{s}, nil
			}})
}

// BlueGreen is the `rollout.blue_green` settings, after Argo Rollouts'
// blueGreen strategy: a preview before the switch (Argo's previewService
// with prePromotionAnalysis), an analysis after it (postPromotionAnalysis)
// and scaleDownDelaySeconds.
type BlueGreen struct {
	Preview struct {
		Hold injectors.Duration `yaml:"hold"`
		Rate Rate               `yaml:"rate"`
	} `yaml:"preview"`
	PostSwitch struct {
		Hold injectors.Duration `yaml:"hold"`
	} `yaml:"post_switch"`
	ScaleDownDelay injectors.Duration `yaml:"scale_down_delay"`
}

// DefaultBlueGreen is what `strategy: blue-green` without settings runs:
// DESIGN.md's example.
var DefaultBlueGreen = func() BlueGreen {
	var b BlueGreen
	b.Preview.Hold = injectors.Duration(10 * time.Second)
	b.Preview.Rate = 20
	b.PostSwitch.Hold = injectors.Duration(20 * time.Second)
	b.ScaleDownDelay = injectors.Duration(30 * time.Second)
	return b
}()

func parseBlueGreen(decode func(any) error) (any, error) {
	b := DefaultBlueGreen
	if err := decode(&b); err != nil {
		return nil, err
	}
	var errs []error
	if b.Preview.Hold <= 0 {
		errs = append(errs, errors.New("blue_green.preview.hold must be positive: green is judged before any user reaches it"))
	}
	if b.Preview.Rate <= 0 {
		errs = append(errs, errors.New("blue_green.preview.rate must be positive (e.g. rate: 20/s)"))
	}
	if b.PostSwitch.Hold <= 0 {
		errs = append(errs, errors.New("blue_green.post_switch.hold must be positive"))
	}
	if b.ScaleDownDelay < 0 {
		errs = append(errs, errors.New("blue_green.scale_down_delay must not be negative"))
	}
	return b, errors.Join(errs...)
}

// Rate is a request rate written N/s or N/m, in requests per second.
type Rate float64

var rateRE = regexp.MustCompile(`^([0-9]+)/([sm])$`)

// UnmarshalText parses N/s or N/m.
func (r *Rate) UnmarshalText(b []byte) error {
	m := rateRE.FindStringSubmatch(string(b))
	if m == nil {
		return fmt.Errorf("invalid rate %q (write it like 20/s or 30/m)", string(b))
	}
	n, _ := strconv.Atoi(m[1])
	*r = Rate(n)
	if m[2] == "m" {
		*r = Rate(float64(n) / 60)
	}
	return nil
}

// blueGreen keeps blue serving every live request while green gets only
// the preview's synthetic load, then moves everything at once.
type blueGreen struct{ s BlueGreen }

// Phases ignores the steps (the loader refuses them under blue-green): a
// preview, then the switch held for post_switch.
func (b blueGreen) Phases([]Phase) []Phase {
	return []Phase{
		{Name: "preview", Hold: time.Duration(b.s.Preview.Hold), PreviewRate: float64(b.s.Preview.Rate)},
		{Name: "post-switch", Weight: 1, Hold: time.Duration(b.s.PostSwitch.Hold), Switch: true, Reference: true,
			ScaleDownAfter: max(time.Duration(b.s.ScaleDownDelay), time.Nanosecond)},
	}
}

func (blueGreen) Labels(rel Release) (string, string) { return rel.Baseline, rel.To }

func (blueGreen) Begin(t Target, rel Release) error {
	t.Router.SetSplit(rel.Baseline, "", 0)
	t.Router.SetPreview(rel.To)
	return nil
}

func (b blueGreen) Apply(t Target, rel Release, p Phase) (string, error) {
	if p.Switch {
		// The router switches atomically: the next request goes to green,
		// requests already on their way to blue finish there.
		t.Router.SetSplit(rel.To, "", 0)
		return fmt.Sprintf("switched 100%% to %s (blue %s stays up for %s)", rel.To, rel.Baseline, time.Duration(b.s.ScaleDownDelay)), nil
	}
	return fmt.Sprintf("%s previewed at %g/s, no live traffic", rel.To, float64(b.s.Preview.Rate)), nil
}

func (blueGreen) Promote(t Target, rel Release) error {
	t.Router.SetPreview("")
	t.Router.SetSplit(rel.To, "", 0)
	return nil
}

func (blueGreen) Revert(t Target, rel Release) (bool, string, error) {
	t.Router.SetPreview("")
	return routeBack(t.Router, rel)
}
