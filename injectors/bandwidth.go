package injectors

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

func init() { Register("bandwidth", bandwidthKind{}) }

// BandwidthParams configures the bandwidth kind.
type BandwidthParams struct {
	Rate ByteRate `yaml:"rate"`
}

// ByteRate is a parameter type for a data rate in bytes per second. It
// decodes "10KB/s", "1MiB/s", "512B/s" or a plain number of bytes per
// second; SI suffixes (kB, MB, GB) are 1000-based and IEC ones (KiB, MiB,
// GiB) 1024-based, as for sizes elsewhere in a scenario.
type ByteRate int64

var byteRateRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$`)

var byteRateUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}

// UnmarshalText parses a rate such as "10KB/s".
func (r *ByteRate) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	bad := fmt.Errorf("invalid rate %q (write e.g. 10KB/s, 1MiB/s or a number of bytes per second)", s)
	num, _ := strings.CutSuffix(s, "/s")
	m := byteRateRE.FindStringSubmatch(strings.TrimSpace(num))
	if m == nil {
		return bad
	}
	mult, ok := byteRateUnits[strings.ToLower(m[2])]
	if !ok {
		return bad
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil || v*mult > math.MaxInt64/2 {
		return bad
	}
	*r = ByteRate(math.Round(v * mult))
	return nil
}

// rateUnits are the units a rate is written in, largest first.
var rateUnits = []struct {
	name string
	size int64
}{{"GiB", 1 << 30}, {"GB", 1e9}, {"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"KB", 1e3}, {"B", 1}}

// String formats the rate with the largest unit that divides it.
func (r ByteRate) String() string {
	name, size := r.unit()
	return fmt.Sprintf("%d%s/s", int64(r)/size, name)
}

// unit returns the largest unit that divides r.
func (r ByteRate) unit() (string, int64) {
	for _, u := range rateUnits {
		if r != 0 && int64(r)%u.size == 0 {
			return u.name, u.size
		}
	}
	return "B", 1
}

// format writes a measured rate (bytes per second) in r's unit, so that
// the two read side by side.
func (r ByteRate) format(measured float64) string {
	name, size := r.unit()
	s := strconv.FormatFloat(measured/float64(size), 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + name + "/s"
}

type bandwidthKind struct{}

func (bandwidthKind) Describe() Description {
	return Description{
		Name:    "bandwidth",
		Summary: "limit the rate at which each response's body reaches the client",
		Targets: "service | service.version",
		Params: []Param{
			{Name: "rate", Default: "(required)", Description: "bytes per second per response: 10KB/s, 1MiB/s or a plain number (KB = 1000 B, KiB = 1024 B)"},
		},
	}
}

func (bandwidthKind) Parse(decode func(any) error) (any, error) {
	var p BandwidthParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	if p.Rate <= 0 {
		return p, errors.New("bandwidth needs params.rate > 0 (e.g. rate: 10KB/s)")
	}
	return p, nil
}

func (bandwidthKind) New(s Spec) Injector {
	p := s.Params.(BandwidthParams)
	f := &bandwidthFault{rate: p.Rate, coin: newCoin(s.Seed, s.Probability)}
	return &bandwidthInjector{httpInjector: httpInjector{target: s.Target, fault: f}, f: f}
}

// bandwidthInjector is a bandwidth fault that can verify its effect.
type bandwidthInjector struct {
	httpInjector
	f *bandwidthFault
}

var (
	_ Injector      = (*bandwidthInjector)(nil)
	_ Verifier      = (*bandwidthInjector)(nil)
	_ ResponseFault = (*bandwidthFault)(nil)
)

// Verify checks the pacing where the router sees it: in the latency of
// whole responses. Request statistics do not carry body sizes, so the
// fault counts the bytes it paced; at the configured rate they must take
// bytes/rate, and the router's mean latency must have risen by that,
// spread over all requests during the fault, within ±25%. The rate the
// paced writes achieved is reported beside it. Without paced bytes (no
// response had a body) there is nothing to measure, and the verdict says
// so rather than guess; nor when the bodies are so small that the time
// their pacing adds is lost in the noise (minMeasurable).
func (b *bandwidthInjector) Verify(obs Observation) Effect {
	if obs.During.Requests <= 0 {
		return httpNoTraffic
	}
	bytes, busy, responses := b.f.bytes.Load(), time.Duration(b.f.busy.Load()), b.f.responses.Load()
	if bytes == 0 {
		return Effect{Measured: fmt.Sprintf("no response body passed through the fault (%d requests): not measurable from request stats", obs.During.Requests)}
	}
	rate := float64(b.f.rate)
	expected := float64(bytes) / rate / float64(obs.During.Requests)
	if expected < minMeasurable.Seconds() {
		return Effect{Measured: fmt.Sprintf("%d paced bodies, %d bytes, at %s add %s to the mean latency: not measurable from request stats (below %v)",
			responses, bytes, b.f.rate, httpSeconds(expected), minMeasurable)}
	}
	want := fmt.Sprintf("expected %s: %d paced bodies, %d bytes, at the configured %s", httpSeconds(expected), responses, bytes, b.f.rate)
	e := httpMeanEffect(obs, expected, 0, want)
	if busy > 0 {
		e.Measured += "; they went out at " + b.f.rate.format(float64(bytes)/busy.Seconds())
	}
	return e
}

// minMeasurable is the smallest rise of the mean latency Verify takes as
// a signal: below it, scheduling noise at the router and the instance is
// as large as the effect.
const minMeasurable = time.Millisecond

// bandwidthFault paces the response bodies of the requests its coin
// picks. It acts only through Wrap: Intercept lets every request through.
type bandwidthFault struct {
	rate ByteRate
	coin *coin

	// What it paced, for Verify: responses with a body, their bytes, and
	// the time spent writing them (waits included).
	responses, bytes, busy atomic.Int64
}

func (f *bandwidthFault) Intercept(http.ResponseWriter, *http.Request) bool { return false }

// Wrap returns a writer that paces w's body for the requests the coin
// picks, and w itself for the others.
func (f *bandwidthFault) Wrap(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	if !f.coin.flip() {
		return w
	}
	rate := float64(f.rate)
	// Bursts of 1/20 s of data: smooth enough to be a rate at any
	// timescale a drill measures, few enough writes to stay cheap.
	chunk := int(min(max(rate/20, 1), 32<<10))
	return &pacedWriter{ResponseWriter: w, ctx: r.Context(), f: f, rate: rate, chunk: chunk}
}

// pacedWriter is a token bucket in front of a response body: the bucket
// holds at most one chunk, fills at rate and starts empty, so a body of
// n bytes takes n/rate however it is written. Every chunk is flushed so
// that the client receives the bytes at that pace, not all at the end.
type pacedWriter struct {
	http.ResponseWriter
	ctx   context.Context
	f     *bandwidthFault
	rate  float64
	chunk int

	tokens  float64
	last    time.Time
	started bool // a final status was written
	counted bool // this response is counted in f.responses
}

// WriteHeader marks the response as throttled for whoever reads it and
// sends the headers at once: only the body is paced.
func (p *pacedWriter) WriteHeader(code int) {
	if p.started || code < 200 {
		p.ResponseWriter.WriteHeader(code)
		return
	}
	p.started = true
	p.Header().Set("X-Drill-Fault", "bandwidth")
	p.ResponseWriter.WriteHeader(code)
	_ = http.NewResponseController(p.ResponseWriter).Flush()
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	if !p.started {
		p.WriteHeader(http.StatusOK)
	}
	if len(b) > 0 && !p.counted {
		p.counted = true
		p.f.responses.Add(1)
	}
	rc := http.NewResponseController(p.ResponseWriter)
	written := 0
	for len(b) > 0 {
		n := min(len(b), p.chunk)
		start := time.Now()
		if err := p.wait(start, n); err != nil {
			return written, err
		}
		m, err := p.ResponseWriter.Write(b[:n])
		written += m
		if err == nil {
			err = rc.Flush()
		}
		p.f.bytes.Add(int64(m))
		p.f.busy.Add(int64(time.Since(start)))
		if err != nil {
			return written, err
		}
		b = b[n:]
	}
	return written, nil
}

// wait takes n tokens, sleeping until the bucket has them or the client
// has gone away.
func (p *pacedWriter) wait(now time.Time, n int) error {
	if p.last.IsZero() {
		p.last = now
	}
	p.tokens = min(float64(p.chunk), p.tokens+now.Sub(p.last).Seconds()*p.rate) - float64(n)
	p.last = now
	if p.tokens >= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(-p.tokens / p.rate * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-p.ctx.Done():
		return p.ctx.Err()
	}
}

// Flush implements http.Flusher for the proxy's streaming responses.
func (p *pacedWriter) Flush() { _ = p.FlushError() }

// FlushError passes a flush on, for http.ResponseController.
func (p *pacedWriter) FlushError() error {
	if !p.started {
		p.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(p.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the router's writer.
func (p *pacedWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }
