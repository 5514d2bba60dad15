package scenarios

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// valueError is a value that does not parse; msg says what was expected
// and hint how to write it.
type valueError struct{ msg, hint string }

func (e *valueError) Error() string { return e.msg }

const durationHint = "use Go syntax: 250ms, 10s, 1m30s"

// Upper bounds on durations and rates. A drill lasts minutes; what the
// harness computes from these values (the whole run's length, a load's
// worker count) must not overflow, so a value no drill needs is refused
// when the file is loaded rather than wrapping around at run time.
const (
	// MaxDuration bounds every duration of a scenario, each field on its
	// own (fault params included).
	MaxDuration = 24 * time.Hour
	// MaxRate bounds every rate, in requests per second.
	MaxRate = 100_000
)

var (
	durationLimitHint = fmt.Sprintf("a duration in a scenario is at most %s", formatDuration(MaxDuration))
	rateLimitHint     = fmt.Sprintf("a rate in a scenario is at most %d/s (%d/m)", MaxRate, MaxRate*60)
)

// formatDuration renders d without the zero units time.Duration.String
// adds (24h, not 24h0m0s).
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// checkDuration refuses a negative duration or one above MaxDuration; s
// is how it was written.
func checkDuration(s string, d time.Duration) error {
	switch {
	case d < 0:
		return &valueError{fmt.Sprintf("duration %s must not be negative", s), ""}
	case d > MaxDuration:
		return &valueError{fmt.Sprintf("duration %s is longer than %s", s, formatDuration(MaxDuration)), durationLimitHint}
	}
	return nil
}

var (
	rateRE      = regexp.MustCompile(`^([0-9]+)/([sm])$`)
	floatRateRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)/([sm])$`)
	percentRE   = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)%$`)
	bytesRE     = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$`)
)

// byteUnits are the size suffixes of an rss threshold: SI (1000-based) and
// IEC (1024-based), matched without regard to case.
var byteUnits = map[string]float64{
	"":    1,
	"b":   1,
	"kb":  1e3,
	"mb":  1e6,
	"gb":  1e9,
	"tb":  1e12,
	"kib": 1 << 10,
	"mib": 1 << 20,
	"gib": 1 << 30,
	"tib": 1 << 40,
}

// parseDuration parses a Go duration between 0 and MaxDuration.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, &valueError{fmt.Sprintf("invalid duration %q", s), durationHint}
	}
	if err := checkDuration(s, d); err != nil {
		return 0, err
	}
	return d, nil
}

// parseRate parses a request rate, N/s or N/m with a whole N, up to
// MaxRate.
func parseRate(s string) (Rate, error) {
	m := rateRE.FindStringSubmatch(s)
	if m == nil {
		hint := "write it like 200/s or 30/m"
		if floatRateRE.MatchString(s) {
			hint = "the count must be whole; use N/m for rates below one per second"
		}
		return Rate{}, &valueError{fmt.Sprintf("invalid rate %q", s), hint}
	}
	per := time.Second
	if m[2] == "m" {
		per = time.Minute
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || float64(n)/per.Seconds() > MaxRate {
		return Rate{}, &valueError{fmt.Sprintf("rate %s is above %d/s", s, MaxRate), rateLimitHint}
	}
	return Rate{Freq: n, Per: per}, nil
}

// parsePercent parses N% (N may have a fraction) into a fraction: 1% is
// 0.01.
func parsePercent(s string) (float64, error) {
	m := percentRE.FindStringSubmatch(s)
	if m == nil {
		return 0, &valueError{fmt.Sprintf("invalid percentage %q", s), "write it like 10% or 0.5%"}
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, &valueError{fmt.Sprintf("percentage %q is out of range", s), ""}
	}
	return v / 100, nil
}

// parseBytes parses a size: a plain number of bytes, or a number with an
// SI (kB, MB, …) or IEC (KiB, MiB, …) suffix.
func parseBytes(s string) (float64, error) {
	m := bytesRE.FindStringSubmatch(s)
	bad := &valueError{fmt.Sprintf("invalid size %q", s), "write it like 200MiB, 512MB or a plain number of bytes"}
	if m == nil {
		return 0, bad
	}
	mult, ok := byteUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, bad
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, bad
	}
	return v * mult, nil
}

// parseNumber parses a plain finite number.
func parseNumber(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, &valueError{fmt.Sprintf("invalid number %q", s), ""}
	}
	return v, nil
}

// parseThreshold converts a threshold written in the human form of unit u
// (1%, 250ms, 100/s, 200MiB, 3) into u's canonical value, so that judges
// compare plain floats.
func parseThreshold(u Unit, s string) (float64, error) {
	switch u {
	case UnitFraction:
		return parsePercent(s)
	case UnitSeconds:
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, &valueError{fmt.Sprintf("invalid duration %q", s), durationHint}
		}
		if d > MaxDuration {
			return 0, checkDuration(s, d)
		}
		return d.Seconds(), nil
	case UnitPerSecond:
		m := floatRateRE.FindStringSubmatch(s)
		if m == nil {
			return 0, &valueError{fmt.Sprintf("invalid rate %q", s), "write it like 100/s or 30/m"}
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil || math.IsInf(v, 0) {
			return 0, &valueError{fmt.Sprintf("rate %q is out of range", s), ""}
		}
		if m[2] == "m" {
			v /= 60
		}
		if v > MaxRate {
			return 0, &valueError{fmt.Sprintf("rate %s is above %d/s", s, MaxRate), rateLimitHint}
		}
		return v, nil
	case UnitBytes:
		return parseBytes(s)
	}
	return parseNumber(s)
}
