package reports

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/drillhq/drill/internal/chromiumtest"
)

// chartBox is what the page says of one chart once laid out.
type chartBox struct {
	ID     string  `json:"id"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
	Paths  int     `json:"paths"`
	Texts  int     `json:"texts"`
}

const measureCharts = `[...document.querySelectorAll("figure.chart")].map(f => {
	const s = f.querySelector("svg"), b = s ? s.getBoundingClientRect() : {width: 0, height: 0};
	return {id: f.id, width: b.width, height: b.height,
		paths: s ? s.querySelectorAll("path").length : 0, texts: s ? s.querySelectorAll("text").length : 0};
})`

// TestHTMLInChromium opens the HTML report of every golden report from
// disk in headless Chromium, with the flags the issue names, and checks
// that the page loads nothing but itself, logs no console error or
// exception, lays its three charts out at a readable size with their lines
// and labels, and that the first chart paints pixels. Set
// DRILL_SCREENSHOT_DIR to keep a full-page screenshot of each.
func TestHTMLInChromium(t *testing.T) {
	dir := t.TempDir()
	browserCtx, stopBrowser := chromiumtest.Browser(t, 1200, 900)
	proc := chromedp.FromContext(browserCtx).Browser.Process()

	for _, g := range append(goldenReports(), goldenReport{"hostile", hostileReport()}) {
		t.Run(g.name, func(t *testing.T) {
			page := filepath.Join(dir, g.name+".html")
			if err := os.WriteFile(page, []byte(render(t, "html", g.report)), 0o644); err != nil {
				t.Fatal(err)
			}
			problems, boxes, shot, chartPNG := openInChromium(t, browserCtx, "file://"+page, len(g.report.Series) > 0)
			for _, p := range problems {
				t.Error(p)
			}
			want := 3
			if len(g.report.Series) == 0 {
				want = 0
			}
			if len(boxes) != want {
				t.Fatalf("%d charts laid out, want %d: %+v", len(boxes), want, boxes)
			}
			for _, b := range boxes {
				if b.Width < 400 || b.Height < 150 || b.Paths < 10 || b.Texts < 8 {
					t.Errorf("chart %s renders %.0fx%.0f px with %d paths and %d texts: too small or empty", b.ID, b.Width, b.Height, b.Paths, b.Texts)
				}
			}
			if want > 0 {
				if inked := inkShare(t, chartPNG); inked < 0.02 {
					t.Errorf("the first chart paints %.1f%% of its pixels: it did not render", 100*inked)
				}
			}
			if keep := os.Getenv("DRILL_SCREENSHOT_DIR"); keep != "" {
				if err := os.WriteFile(filepath.Join(keep, "report-"+g.name+".png"), shot, 0o644); err != nil {
					t.Error(err)
				}
			}
		})
	}

	// The checks can fail: a page that fetches an image (from a closed
	// local port), logs a console error and throws must show all three.
	t.Run("detectors", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.html")
		page := `<!DOCTYPE html><html><body><img src="http://127.0.0.1:1/x.png">` +
			`<script>console.error("boom")</script><script>null.x</script></body></html>`
		if err := os.WriteFile(bad, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
		problems, _, _, _ := openInChromium(t, browserCtx, "file://"+bad, false)
		all := strings.Join(problems, "\n")
		for _, want := range []string{"the page fetched http://127.0.0.1:1/x.png", "console error: boom", "exception: Uncaught TypeError"} {
			if !strings.Contains(all, want) {
				t.Errorf("no %q among the problems of a broken page:\n%s", want, all)
			}
		}
	})

	// Leave no trace: closing the browser ends its process.
	stopBrowser()
	if proc != nil {
		deadline := time.Now().Add(10 * time.Second)
		for proc.Signal(syscall.Signal(0)) == nil {
			if time.Now().After(deadline) {
				t.Errorf("chromium (pid %d) still running after the test closed it", proc.Pid)
				_ = proc.Kill()
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// openInChromium loads url in a new tab and returns what went wrong
// (requests to anything but the page, console errors, exceptions, error
// log entries), the charts' layout, a full-page screenshot and a
// screenshot of the first chart (nil when charts is false).
func openInChromium(t *testing.T, browserCtx context.Context, url string, charts bool) (problems []string, boxes []chartBox, shot, chart []byte) {
	t.Helper()
	ctx, tabProblems, cancel, err := chromiumtest.Tab(browserCtx, 60*time.Second, func(u string) bool { return u == url })
	if err != nil {
		t.Fatalf("Chromium on %s: %v", url, err)
	}
	defer cancel()
	run := func() error {
		if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
			return err
		}
		var err error
		if boxes, err = chromedp.Run(ctx, chromedp.Evaluate[[]chartBox](measureCharts)); err != nil {
			return err
		}
		if shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil { // 100: PNG, lossless
			return err
		}
		if charts {
			chart, err = chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("#chart-error-rate svg"), chromedp.NodeVisible))
		}
		return err
	}
	if err := run(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Chromium did not load %s within 60s", url)
		}
		t.Fatalf("Chromium on %s: %v", url, err)
	}
	return tabProblems.List(), boxes, shot, chart
}

// inkShare is the fraction of a PNG's pixels that are not near white.
func inkShare(t *testing.T, data []byte) float64 {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode the chart's screenshot: %v", err)
	}
	b := img.Bounds()
	inked := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if !nearWhite(img, x, y) {
				inked++
			}
		}
	}
	return float64(inked) / float64(max(1, b.Dx()*b.Dy()))
}

func nearWhite(img image.Image, x, y int) bool {
	r, g, b, _ := img.At(x, y).RGBA()
	return r > 0xf000 && g > 0xf000 && b > 0xf000
}
