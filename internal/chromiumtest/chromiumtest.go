// Package chromiumtest starts the headless Chromium that tests open
// drill's pages in (the HTML report, the game day's dashboard). It is for
// tests only; nothing else imports it.
package chromiumtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
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

// Problems is what went wrong in a tab so far: a request to anything the
// page may not fetch, a console error or assertion, an uncaught
// exception, an error log entry. Safe for concurrent use: the tab's event
// loop records while the test reads.
type Problems struct {
	mu   sync.Mutex
	list []string
}

func (p *Problems) add(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

// List returns the problems recorded so far.
func (p *Problems) List() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.list...)
}

// Take returns the problems recorded so far and forgets them.
func (p *Problems) Take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.list
	p.list = nil
	return out
}

// Tab opens a new tab in browser that records its Problems — a request
// whose URL allowed refuses (data: URLs always pass) among them — with
// network, log and runtime events on before its first command, so it
// sees every request and message of the page's load. The context it
// returns ends after timeout; cancel closes the tab.
func Tab(browser context.Context, timeout time.Duration, allowed func(url string) bool) (ctx context.Context, p *Problems, cancel func(), err error) {
	p = &Problems{}
	// The listener runs in the tab's event loop: it only records.
	tab, cancelTab := chromedp.NewContext(browser, chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if u := ev.Request.URL; !allowed(u) && !strings.HasPrefix(u, "data:") {
				p.add("the page fetched %s", u)
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				p.add("console %s: %s", ev.Type, consoleText(ev.Args))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			what := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				what += " " + d.Exception.Description
			}
			p.add("exception: %s at %s:%d", what, d.URL, d.LineNumber+1)
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				p.add("log error (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
			}
		}
	}))
	ctx, cancelCtx := context.WithTimeout(tab, timeout)
	cancel = func() { cancelCtx(); cancelTab() }
	if _, err = chromedp.Call(ctx, network.Enable, network.EnableParams{}); err == nil {
		if _, err = chromedp.Call(ctx, log.Enable, cdp.Empty{}); err == nil {
			_, err = chromedp.Call(ctx, runtime.Enable, cdp.Empty{})
		}
	}
	if err != nil {
		cancel()
	}
	return ctx, p, cancel, err
}

// consoleText is a console call's arguments as the console shows them.
func consoleText(args []*runtime.RemoteObject) string {
	var parts []string
	for _, a := range args {
		var str string
		switch {
		case a.Value != nil && json.Unmarshal(a.Value, &str) == nil:
			parts = append(parts, str) // a string argument, shown unquoted
		case a.Value != nil:
			parts = append(parts, string(a.Value))
		default:
			parts = append(parts, a.Description)
		}
	}
	return strings.Join(parts, " ")
}
