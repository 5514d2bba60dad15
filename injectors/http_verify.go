package injectors

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The Verifiers of the HTTP kinds compare what the router saw while a
// fault was applied (Observation.During) with the steady state before it
// (Observation.Before) and with what the fault was configured to do. A
// verdict needs traffic during the fault; without it the effect is not
// measurable and never reported as effective.

// httpRelTolerance is the relative error a measured effect may have against
// the configured one (±25%).
const httpRelTolerance = 0.25

// httpNoTraffic is the verdict when nothing reached the target during the
// fault.
var httpNoTraffic = Effect{Measured: "no requests reached the target while the fault was applied: nothing to measure"}

// countStatus sums the answers of t with any of statuses (0: transport errors).
func countStatus(t Traffic, statuses []int) int64 {
	var n int64
	for _, s := range statuses {
		n += t.ByStatus[s]
	}
	return n
}

// httpShareEffect checks that the share q of requests (rate × probability)
// got the fault's answer, one of statuses, during the fault. Answers of
// that kind the steady state already had are taken out first: with a
// baseline share b, a fault acting on q of requests gives q + (1−q)·b, so
// q is estimated as (during − b)/(1 − b). The tolerance is the larger of
// ±25% of q and three binomial standard deviations at this many requests,
// so that a small sample is not judged on noise. A fault that should act
// (q > 0) must also have been seen acting at all.
func httpShareEffect(obs Observation, statuses []int, q float64, what string) Effect {
	n := obs.During.Requests
	if n <= 0 {
		return httpNoTraffic
	}
	k := countStatus(obs.During, statuses)
	during := float64(k) / float64(n)
	var b float64
	if obs.Before.Requests > 0 {
		b = min(float64(countStatus(obs.Before, statuses))/float64(obs.Before.Requests), 1)
	}
	e := q + (1-q)*b // the share expected during the fault
	sigma := math.Sqrt(e * (1 - e) / float64(n))
	measured, tol := during, max(httpRelTolerance*q, 3*sigma)
	if b > 0 && b < 1 {
		measured, tol = (during-b)/(1-b), max(httpRelTolerance*q, 3*sigma/(1-b))
	}
	ok := math.Abs(measured-q) <= tol && (q == 0 || measured > 0)
	msg := fmt.Sprintf("%s on %s of %d requests", what, httpPct(during), n)
	if b > 0 {
		msg += fmt.Sprintf(", %s in the steady state: %s from the fault", httpPct(b), httpPct(measured))
	}
	return Effect{Effective: ok, Measured: fmt.Sprintf("%s (configured %s ±%s)", msg, httpPct(q), httpPct(tol))}
}

// httpMeanEffect checks that the mean latency rose during the fault by
// expected (seconds) within ±25%, or three standard errors sd of the
// added mean when that is larger. want describes expected for the
// verdict, e.g. "configured 200ms".
func httpMeanEffect(obs Observation, expected, sd float64, want string) Effect {
	if obs.During.Requests <= 0 {
		return httpNoTraffic
	}
	if obs.Before.Requests <= 0 {
		return Effect{Measured: "no steady-state traffic before the fault to compare the latency with"}
	}
	added := obs.During.Mean - obs.Before.Mean
	tol := max(httpRelTolerance*expected, 3*sd)
	ok := math.Abs(added-expected) <= tol && (expected == 0 || added > 0)
	rel := "±25%"
	if tol > httpRelTolerance*expected {
		rel = "±" + httpSeconds(tol)
	}
	return Effect{Effective: ok, Measured: fmt.Sprintf("added %s mean (%s %s)", httpSeconds(added), want, rel)}
}

// httpPct formats a fraction as a percentage with at most one decimal.
func httpPct(f float64) string {
	s := strconv.FormatFloat(f*100, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + "%"
}

// seconds formats a number of seconds as a duration rounded for reading.
func httpSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch a := max(d, -d); {
	case a >= 10*time.Second:
		d = d.Round(100 * time.Millisecond)
	case a >= 10*time.Millisecond:
		d = d.Round(time.Millisecond)
	case a >= 10*time.Microsecond:
		d = d.Round(10 * time.Microsecond)
	}
	return d.String()
}
