package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/drillhq/drill/internal/chromiumtest"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The operators' instruments as a test reads them: a /metrics scrape and
// the dashboard in headless Chromium.

// scraped is one /metrics scrape.
type scraped map[string]*dto.MetricFamily

func scrape(t *testing.T, url string) scraped {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s at %s: %v", url, time.Now().Format(time.TimeOnly), err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// waitScrape scrapes until ok holds (the gauges follow the drill at
// interval ends), and returns that scrape.
func waitScrape(t *testing.T, url, what string, ok func(scraped) bool) scraped {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := scrape(t, url)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed %s within 20s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// find says whether the scrape holds a sample of name.
func (s scraped) find(name string) (*dto.MetricFamily, bool) {
	f, ok := s[name]
	return f, ok && len(f.GetMetric()) > 0
}

// sum adds the values of name's samples whose labels include every
// name/value pair of kv.
func (s scraped) sum(name string, value func(*dto.Metric) float64, kv ...string) float64 {
	f, ok := s[name]
	if !ok {
		return 0
	}
	total := 0.0
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if labels[kv[i]] != kv[i+1] {
				continue next
			}
		}
		total += value(m)
	}
	return total
}

func (s scraped) gauge(name string, kv ...string) float64 {
	return s.sum(name, func(m *dto.Metric) float64 { return m.GetGauge().GetValue() }, kv...)
}

func (s scraped) counter(name string, kv ...string) float64 {
	return s.sum(name, func(m *dto.Metric) float64 { return m.GetCounter().GetValue() }, kv...)
}

// dashboard is the live page open in headless Chromium.
type dashboard struct {
	ctx context.Context
}

func openDashboard(t *testing.T, url string) *dashboard {
	t.Helper()
	ctx, _ := chromiumtest.Browser(t, 1200, 900)
	nav, cancelNav := context.WithTimeout(ctx, time.Minute)
	defer cancelNav()
	if err := chromedp.Do(nav, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("#phase"))); err != nil {
		t.Fatalf("open the dashboard %s: %v", url, err)
	}
	return &dashboard{ctx: ctx}
}

// text reads an element's text.
func (d *dashboard) text(t *testing.T, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("`+id+`").textContent`))
	if err != nil {
		t.Fatalf("read #%s: %v", id, err)
	}
	return strings.TrimSpace(s)
}

// waitFor polls the page until ok holds for #id's text.
func (d *dashboard) waitFor(t *testing.T, id, what string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := d.text(t, id)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("dashboard #%s never showed %s; last %q", id, what, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitWindowsMove waits for the page to show two more windows than it
// showed first: it follows the drill live.
func (d *dashboard) waitWindowsMove(t *testing.T) {
	t.Helper()
	first := d.text(t, "windows")
	d.waitFor(t, "windows", "a new window", func(s string) bool { return s != first && s != "" })
	if v := d.text(t, "versions"); !strings.Contains(v, "v2") {
		t.Errorf("dashboard's versions table lacks v2: %q", v)
	}
	if f := d.text(t, "faults"); !strings.Contains(f, "unknown") {
		t.Errorf("dashboard's faults panel %q: want unknown (hidden)", f)
	}
}

// note presses the note button as who.
func (d *dashboard) note(t *testing.T, who, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(d.ctx, 20*time.Second)
	defer cancel()
	err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#as"), who),
		chromedp.SetValue(chromedp.CSS("#note-text"), text),
		chromedp.Click(chromedp.CSS("#btn-note")))
	if err != nil {
		t.Fatalf("press note: %v", err)
	}
	d.waitFor(t, "msg", "the note's effect", func(s string) bool { return strings.Contains(s, "noted") })
}
