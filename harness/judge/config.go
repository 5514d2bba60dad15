package judge

import (
	"time"

	"github.com/drillhq/drill/harness/metrics"
)

// No-data policies.
const (
	NoDataPause = "pause"
	NoDataFail  = "fail"
	NoDataPass  = "pass"
)

// Config is a rollout's analysis (rollout.analysis), as package
// scenarios decodes it: the judge, its interval, its checks and the
// options the judges read.
type Config struct {
	Interval          time.Duration // default 1s
	Judge             string        // default sequential (the loader's)
	FalsePositiveRate float64       // fraction; default 0.01
	Failures          int           // threshold judge: failed checks before rollback; default 2
	MinSamples        int           // requests a side needs in an interval to count as data; default 10
	// PassScore and MarginalScore are the mann-whitney judge's bands on
	// its 0–100 canary score (Kayenta's): at or above PassScore the canary
	// passes, below MarginalScore it fails, in between it is marginal
	// (it goes on, and the decision says so). Defaults 95 and 75.
	PassScore, MarginalScore float64
	Metrics                  []*Check
	OnNoData                 string // default pause
}

// Check is one canary analysis metric. At least one bound is set: Max is
// absolute; MaxIncrease (same unit as the metric) and MaxRatio compare the
// canary with the live baseline in the same window.
type Check struct {
	Metric      string
	Max         *metrics.Value
	MaxIncrease *metrics.Value
	MaxRatio    *metrics.Value
	// Weight is the metric's share of the mann-whitney canary score
	// (default 1); Critical makes a failing metric fail the canary
	// whatever the score.
	Weight   float64
	Critical bool
}

// Defaults of the analysis fields every judge reads; the loader fills
// them in, and New fills them for a Config built in Go (tests, the bench).
const (
	DefaultFalsePositiveRate = 0.01
	DefaultFailures          = 2
	DefaultMinSamples        = 10
	DefaultPassScore         = 95
	DefaultMarginalScore     = 75
	DefaultWeight            = 1
	DefaultOnNoData          = NoDataPause
)
