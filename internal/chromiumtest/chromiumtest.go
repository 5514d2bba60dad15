// Package chromiumtest starts the headless Chromium that tests open
// drill's pages in (the HTML report, the game day's dashboard). It is for
// tests only; nothing else imports it.
package chromiumtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path finds the browser: the DRILL_CHROMIUM variable, else chromium on
// PATH. Its absence fails the test, as xmllint's does: that the page
// renders is the point, and `.ci/run` installs it.
func Path(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("DRILL_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found in PATH (nor DRILL_CHROMIUM set): this test opens a page in headless Chromium; " +
		"install Debian's chromium package (apt-get install chromium)")
	return ""
}

// Browser starts headless Chromium with a private profile, a window of
// width × height and no background networking (a page that fetches
// anything is then the page's doing), and returns its context and what
// stops it (also called when the test ends; a second call does nothing).
func Browser(t testing.TB, width, height int) (context.Context, func()) {
	t.Helper()
	bin := Path(t)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.WindowSize(width, height),
	)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	// The first Do starts the browser and binds it to the context it is
	// given: the start's own timeout must outlive the test, hence the
	// cancel at cleanup rather than at return.
	start, cancelStart := context.WithTimeout(browser, 60*time.Second)
	stop := func() { cancelStart(); cancelBrowser(); cancelAlloc() }
	t.Cleanup(stop)
	if err := chromedp.Do(start); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	return browser, stop
}
