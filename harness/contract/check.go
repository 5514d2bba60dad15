package contract

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Result is a contract's verdict for one (consumer version, provider
// version) pair in one phase: one request for a Check, every matching
// live answer for the router's observation. It is what report.json lists
// under "contracts".
type Result struct {
	Contract        string
	ProviderVersion string
	ConsumerVersion string
	// Phase is PhaseBefore, PhaseDuring or PhaseAfter; Check leaves it
	// for the caller to set.
	Phase string
	// OK is true when every checked answer passed (and at least one was
	// checked).
	OK bool
	// Checked and Failed count answers.
	Checked, Failed int
	// Detail says what the first failure was ("" when none).
	Detail string
}

// versionHeader is the router's X-Drill-Version response header (see
// harness/router), read to name the provider version that answered when
// the check went through a router.
const versionHeader = "X-Drill-Version"

// Check sends the contract's request to one provider instance (or a
// router in front of it) at baseURL and validates the answer. callerID
// ("orders/v2") is sent as X-Drill-Caller and its version becomes the
// result's ConsumerVersion. The request is bounded by ctx and by
// DefaultTimeout. ProviderVersion is the X-Drill-Version of the answer
// when it has one (a router answered), else "" for the caller to fill in,
// as Phase is. A transport failure is a failed check with its detail.
//
// A 5xx answer (when the contract does not expect one) says the provider
// failed, not what it answers: availability is the judge's to weigh, a
// contract is about the shape of an answer. The check then asks again,
// up to Attempts requests in all; only Attempts 5xx answers in a row
// fail it on their status. Any other answer decides at once.
func (c *Contract) Check(ctx context.Context, client *http.Client, baseURL, callerID string) Result {
	r := Result{Contract: c.Name, ConsumerVersion: versionOf(callerID), Checked: 1}
	var status int
	var body []byte
	var version string
	var err error
	for i := 0; i < Attempts; i++ {
		status, body, version, err = c.do(ctx, client, baseURL, callerID)
		if err != nil || status < 500 || c.Expect.Status >= 500 {
			break
		}
	}
	r.ProviderVersion = version
	if err == nil {
		err = c.Validate(status, body)
	}
	if err != nil {
		r.Failed, r.Detail = 1, fmt.Sprintf("%s %s: %v", c.Request.Method, c.Request.Path, err)
		return r
	}
	r.OK = true
	return r
}

// Attempts bounds the requests one Check sends (see Check).
const Attempts = 3

// do sends the request and reads at most MaxBody bytes of the answer.
func (c *Contract) do(ctx context.Context, client *http.Client, baseURL, callerID string) (status int, body []byte, version string, err error) {
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	var rb io.Reader
	if c.Request.Body != "" {
		rb = strings.NewReader(c.Request.Body)
	}
	req, err := http.NewRequestWithContext(ctx, c.Request.Method, strings.TrimRight(baseURL, "/")+c.Request.Path, rb)
	if err != nil {
		return 0, nil, "", err
	}
	for k, v := range c.Request.Headers {
		req.Header.Set(k, v)
	}
	if c.Request.Body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if callerID != "" {
		req.Header.Set(HeaderCaller, callerID)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	version = resp.Header.Get(versionHeader)
	body, err = io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return resp.StatusCode, nil, version, fmt.Errorf("read answer: %w", err)
	}
	if len(body) > MaxBody {
		return resp.StatusCode, nil, version, fmt.Errorf("answer larger than %d bytes", MaxBody)
	}
	return resp.StatusCode, body, version, nil
}

// versionOf returns the version of a caller ID "service/version" ("" when
// it has none).
func versionOf(callerID string) string {
	_, v, ok := strings.Cut(callerID, "/")
	if !ok {
		return ""
	}
	return v
}

// ParseCaller splits an X-Drill-Caller value "service/version"; ok is
// false when it is not of that form (either part empty).
func ParseCaller(v string) (service, version string, ok bool) {
	service, version, ok = strings.Cut(v, "/")
	return service, version, ok && service != "" && version != ""
}
