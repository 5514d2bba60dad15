package flags

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/spaolacci/murmur3"
)

// Resolution reasons, as OpenFeature and OFREP name them.
const (
	ReasonStatic         = "STATIC"
	ReasonTargetingMatch = "TARGETING_MATCH"
	ReasonDefault        = "DEFAULT"
	ReasonDisabled       = "DISABLED"
	ReasonError          = "ERROR"
)

// Error codes, as OpenFeature and OFREP name them.
const (
	ErrFlagNotFound   = "FLAG_NOT_FOUND"
	ErrParse          = "PARSE_ERROR"
	ErrGeneral        = "GENERAL"
	ErrInvalidContext = "INVALID_CONTEXT"
)

// Result is one evaluation. Value and Variant are empty when the flag has
// no value to give (DISABLED, an error, or DEFAULT without a defaultVariant):
// the SDK then returns the application's code default.
type Result struct {
	Value        any
	Variant      string
	Reason       string
	ErrorCode    string
	ErrorDetails string
}

// now is the clock for "$flagd.timestamp"; a variable so tests can fix it.
var now = time.Now

// Evaluate evaluates flag key (definition f, nil when there is none) for
// the evaluation context ctx exactly as flagd's core evaluator does
// (core/pkg/evaluator/json.go, evaluateVariant):
//
//   - no flag: ERROR, FLAG_NOT_FOUND;
//   - state DISABLED: reason DISABLED, no value, no variant;
//   - targeting present: the rule's result names the variant
//     (TARGETING_MATCH; true/false name the variants "true"/"false"); null
//     falls back to defaultVariant (DEFAULT); a result that is not a variant
//     is ERROR/GENERAL; a rule that fails is ERROR/PARSE_ERROR;
//   - no targeting: defaultVariant (STATIC).
//
// A fractional split is a targeting rule, so a key placed by it is
// TARGETING_MATCH: flagd defines SPLIT but never returns it.
func Evaluate(key string, f *Flag, ctx map[string]any) Result {
	if f == nil {
		return Result{Reason: ReasonError, ErrorCode: ErrFlagNotFound,
			ErrorDetails: fmt.Sprintf("flag `%s` does not exist", key)}
	}
	if f.State == Disabled {
		return Result{Reason: ReasonDisabled}
	}
	if len(f.Targeting) == 0 {
		return f.fallback(ReasonStatic)
	}
	d := evalData{ctx: ctx, flagKey: key, timestamp: now().Unix()}
	out, err := d.apply(f.Targeting)
	if err != nil {
		return Result{Reason: ReasonError, ErrorCode: ErrParse,
			ErrorDetails: fmt.Sprintf("error parsing the flag `%s`: %v", key, err)}
	}
	if out == nil {
		return f.fallback(ReasonDefault)
	}
	variant := variantName(out)
	if v, ok := f.Variants[variant]; ok {
		return Result{Value: v, Variant: variant, Reason: ReasonTargetingMatch}
	}
	return Result{Reason: ReasonError, ErrorCode: ErrGeneral,
		ErrorDetails: fmt.Sprintf("targeting of flag `%s` returned %q, which is not a variant", key, variant)}
}

// fallback serves defaultVariant; without one flagd answers DEFAULT with
// no value so the SDK uses the code default.
func (f *Flag) fallback(reason string) Result {
	v, ok := f.Variants[f.DefaultVariant]
	if f.DefaultVariant == "" || !ok {
		return Result{Reason: ReasonDefault}
	}
	return Result{Value: v, Variant: f.DefaultVariant, Reason: reason}
}

// variantName is how flagd reads a rule's result: its JSON text with the
// quotes removed, so true is the variant "true" and 1 the variant "1".
func variantName(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	}
	if _, ok := toFloat(v); ok {
		return numString(v)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// maxWeightSum bounds a fractional rule's total weight: flagd computes
// buckets in 32 bits (core/pkg/evaluator/fractional.go).
const maxWeightSum = math.MaxInt32

type weighted struct {
	variant any
	weight  uint64
}

// fractional is flagd's fractional operator on already-evaluated
// arguments. A problem that flagd logs and answers null for (which falls
// back to defaultVariant) answers nil here too.
func (d *evalData) fractional(a any) (any, error) {
	args, ok := a.([]any)
	if !ok || len(args) == 0 {
		return nil, nil
	}
	bucketBy, ok := args[0].(string)
	if ok {
		args = args[1:]
	} else {
		if args[0] == nil {
			// A bucketing expression that found nothing ({"var": "email"}
			// without an email) falls back to the targeting key.
			args = args[1:]
		}
		tk, present := d.ctx["targetingKey"]
		s, isString := tk.(string)
		if !present || tk == nil || !isString || s == "" {
			return nil, nil
		}
		bucketBy = d.flagKey + s
	}
	dist, total, ok := distribution(args)
	if !ok || total == 0 {
		return nil, nil
	}
	return pick(hash32(bucketBy), dist, total), nil
}

// hash32 is MurmurHash3 x86_32 with seed 0, flagd's fractional hash. It
// goes through the streaming hasher because murmur3.Sum32 walks the input
// with uintptr arithmetic that the race detector's checkptr rejects; the
// two give the same sum.
func hash32(s string) uint32 {
	h := murmur3.New32()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}

// distribution parses [variant, weight?] entries as flagd does: weight 1
// when absent, negative weights clamped to 0, non-integers and sums over
// MaxInt32 refused.
func distribution(entries []any) ([]weighted, uint64, bool) {
	dist := make([]weighted, len(entries))
	var total uint64
	for i, e := range entries {
		entry, ok := e.([]any)
		if !ok || len(entry) == 0 {
			return nil, 0, false
		}
		switch entry[0].(type) {
		case string, bool, nil:
		default:
			if _, isNum := toFloat(entry[0]); !isNum {
				return nil, 0, false
			}
		}
		w := 1.0
		if len(entry) >= 2 && entry[1] != nil {
			if w, ok = toFloat(entry[1]); !ok || w != math.Trunc(w) || w > math.MaxInt32 {
				return nil, 0, false
			}
		}
		if w < 0 {
			w = 0
		}
		dist[i] = weighted{variant: entry[0], weight: uint64(w)}
		total += uint64(w)
	}
	if total > maxWeightSum {
		return nil, 0, false
	}
	return dist, total, true
}

// pick maps the 32-bit hash onto [0, total) — bucket = hash*total >> 32,
// flagd's high-precision bucketing — and returns the entry whose cumulative
// weight range holds the bucket. Entries keep their order, which is what
// makes a growing first entry sticky (see Share).
func pick(hash uint32, dist []weighted, total uint64) any {
	bucket := (uint64(hash) * total) >> 32
	var end uint64
	for _, w := range dist {
		end += w.weight
		if bucket < end {
			return w.variant
		}
	}
	return nil
}
