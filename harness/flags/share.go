package flags

import "math"

// ShareWeight is the total weight of the fractional split Share writes:
// the share's granularity is 1/ShareWeight (0.001%). flagd buckets a 32-bit
// hash into [0, total weight) as hash*total>>32, so any total up to
// MaxInt32 is exact; this one keeps the weights readable and matches the
// 0.001% precision flagd documents. It never changes, because stickiness
// needs every step of a rollout to use the same total.
const ShareWeight = 100_000

// Share returns a copy of f whose targeting is a fractional split giving
// share (clamped to 0..1) of targeting keys variant to and the rest f's
// defaultVariant:
//
//	{"fractional": [[to, w], [defaultVariant, ShareWeight - w]]}
//	w = round(share * ShareWeight)
//
// The split buckets on flagd's default, flagKey + targetingKey, so a
// request without a targetingKey gets defaultVariant (reason DEFAULT).
// to is listed first, so a key gets to exactly when its bucket is below
// w: as the share grows the boundary only moves up and a key that has to
// keeps it (sticky), and a key that has the default at share s has it at
// every smaller share. f's own targeting is replaced; its state, variants,
// defaultVariant and defects are kept.
func Share(f *Flag, to string, share float64) *Flag {
	c := f.Clone()
	if math.IsNaN(share) {
		share = 0
	}
	share = math.Min(math.Max(share, 0), 1)
	w := int64(math.Round(share * ShareWeight))
	c.Targeting = map[string]any{
		"fractional": []any{
			[]any{to, float64(w)},
			[]any{c.DefaultVariant, float64(ShareWeight - w)},
		},
	}
	return c
}
