package reports

import "time"

// Release is what the rollout moved and how, per strategy: the switch of
// a blue-green release and the flags of a flag release. Fields a strategy
// does not produce are left out of report.json.
type Release struct {
	Strategy string `json:"strategy"`
	Service  string `json:"service"`
	// From and To are versions, or the flag's variants for a flag release.
	From string `json:"from"`
	To   string `json:"to"`
	Flag string `json:"flag,omitempty"`

	// SwitchSeconds is the time from the blue-green switch until no
	// request was in flight to blue any more (every request on green).
	SwitchSeconds *float64 `json:"switch_seconds,omitempty"`
	// SwitchFailed counts the client's failed requests across the switch:
	// from the switch until every request in flight at the drain's end had
	// ended (the drain plus one client timeout). The goal is 0.
	SwitchFailed *int64 `json:"switch_failed,omitempty"`
	// ScaledDownAt is when blue was stopped, scale_down_delay after the
	// switch; null while blue was still up.
	ScaledDownAt *time.Time `json:"scaled_down_at,omitempty"`
	// SwitchBack is "warm" when a rollback switched back to the
	// still-running blue, "cold" when blue had to be started again.
	SwitchBack string `json:"switch_back,omitempty"`
	// RouteBackSeconds is the time from the rollback decision until all
	// traffic was back on the baseline, a cold start of it included.
	RouteBackSeconds *float64 `json:"route_back_seconds,omitempty"`
	// RedeploySeconds is how long the cold start of the baseline took.
	RedeploySeconds *float64 `json:"redeploy_seconds,omitempty"`
	// RedeployDigest is the digest of the artifact the baseline was started
	// again from, and RedeployDigestMatches whether it is the one recorded
	// at the start of the drill (see Report.Artifacts).
	RedeployDigest        string `json:"redeploy_digest,omitempty"`
	RedeployDigestMatches *bool  `json:"redeploy_digest_matches,omitempty"`

	// FlagsRestoredSeconds is the time from the rollback decision until
	// every instance served the restored definition of every changed flag.
	FlagsRestoredSeconds *float64 `json:"flags_restored_seconds,omitempty"`
	// Flags is the proof for each flag the drill changed.
	Flags []FlagProof `json:"flags,omitempty"`

	// Services is every service of a release of several services
	// (rollout.release), in release order, each with its own figures;
	// the fields above are then the first service's. Absent for a
	// release of one service.
	Services []Release `json:"services,omitempty"`
}

// FlagProof is one restored flag, read back from the flag service and
// from every instance's last evaluation.
type FlagProof struct {
	Key string `json:"key"`
	// Revision is the flag service's revision of the restore.
	Revision int64 `json:"revision"`
	// Published and Served say the flag service publishes, and answers
	// with, the definition before the drill.
	Published bool `json:"published"`
	Served    bool `json:"served"`
	// Instances are the last evaluations the instances reported.
	Instances []FlagEvaluation `json:"instances"`
	OK        bool             `json:"ok"`
	Detail    string           `json:"detail,omitempty"`
}

// FlagEvaluation is an instance's last evaluation of a flag.
type FlagEvaluation struct {
	Instance string    `json:"instance"`
	Variant  string    `json:"variant"`
	Revision int64     `json:"revision"`
	Since    time.Time `json:"since"`
	Fallback bool      `json:"fallback"`
}

// Artifact is what one service version ran: a built binary, a command's
// executable or an image, with its content digest.
type Artifact struct {
	Service string `json:"service"`
	Version string `json:"version"`
	// Kind is binary, command or image.
	Kind string `json:"kind"`
	// Ref is the file's path or the image's name.
	Ref string `json:"ref"`
	// Digest is "sha256:<hex>": of the file, or the image ID.
	Digest string `json:"digest"`
}
