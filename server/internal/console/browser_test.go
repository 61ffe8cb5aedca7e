package console_test

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

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// The browser tests drive a real headless Chromium against a started
// server, by the labels and button names a person (or assistive
// technology) uses, never by CSS classes. Without Chromium they skip,
// except in CI (CI=true), where its absence fails them.

// umbrellaTenant is an enterprise tenant without SOX: its changes apply at
// once.
const umbrellaTenant = `
tenant: umbrella
plan: enterprise
environments:
  production:
    inactivity_timeout: 4h
    mfa: {mode: "off"}
    roles:
      member: {actions: ["*"]}
`

// consoleServer is a server with the demo tenants and umbrella, and the
// keys of two admins and acme's tenant-admin.
type consoleServer struct {
	*pdptest.Server
	alice, bob, acmeAdmin pdptest.Key
}

func startConsoleServer(t *testing.T, extra ...pdptest.Option) *consoleServer {
	t.Helper()
	s := &consoleServer{
		alice:     pdptest.NewKey(t, "alice", authn.RoleAdmin),
		bob:       pdptest.NewKey(t, "bob", authn.RoleAdmin),
		acmeAdmin: pdptest.NewKey(t, "acme-admin", authn.RoleTenantAdmin, "acme"),
	}
	opts := []pdptest.Option{pdptest.WithTenant("umbrella.yaml", umbrellaTenant), pdptest.WithAPIKeys(t, s.alice, s.bob, s.acmeAdmin)}
	demo, err := filepath.Glob("../../demo/tenants/*.yaml")
	if err != nil || len(demo) == 0 {
		t.Fatalf("demo tenants not found: %v", err)
	}
	for _, f := range demo {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, pdptest.WithTenant(filepath.Base(f), string(b)))
	}
	s.Server = pdptest.Start(t, append(opts, extra...)...)
	return s
}

// chromium is the browser binary, or "" when there is none.
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// page is one browser tab on the console, with the problems the page
// reported: exceptions, console errors and Content-Security-Policy
// violations. Any of them fails the test when it ends.
type page struct {
	t        *testing.T
	ctx      context.Context
	srv      *consoleServer
	mu       sync.Mutex
	problems []string
	download string // the downloads directory
}

func openConsole(t *testing.T, srv *consoleServer) *page {
	t.Helper()
	exe := chromium()
	if exe == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("Chromium is not installed: the console's browser tests need it in CI (.ci/run installs Debian's chromium)")
		}
		t.Skip("Chromium is not installed (apt-get install chromium); the console's browser tests are skipped outside CI")
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.WindowSize(1280, 1600),
	)
	p := &page{t: t, srv: srv, download: t.TempDir()}
	ctx, cancelTab := chromedp.NewContext(alloc, chromedp.WithListener(p.listen))
	p.ctx = ctx
	// The first call starts the browser and must not carry a timeout.
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	events := true
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: p.download, EventsEnabled: &events,
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.noProblems(); err != nil && !t.Failed() {
			t.Error(err)
		}
		cancelTab()
		cancelAlloc()
	})
	return p
}

// listen records the page's problems; it runs on chromedp's reader.
func (p *page) listen(ev any) {
	var problem string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		problem = "exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			problem += " " + ev.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			problem = "console.error: " + strings.Join(args, " ")
		}
	case *cdplog.EventEntryAdded:
		// Refused API calls are logged by the network as failed loads;
		// the page shows them, so they are not problems. Everything else
		// at error level is, CSP violations (source "security") first.
		if ev.Entry.Source != cdplog.EntrySourceNetwork && ev.Entry.Level == cdplog.EntryLevelError {
			problem = fmt.Sprintf("%s: %s", ev.Entry.Source, ev.Entry.Text)
		}
	}
	if problem != "" {
		p.mu.Lock()
		p.problems = append(p.problems, problem)
		p.mu.Unlock()
	}
}

// noProblems is an error listing what the page reported, if anything.
func (p *page) noProblems() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.problems) == 0 {
		return nil
	}
	return fmt.Errorf("the page reported problems (CSP violations, errors):\n  %s", strings.Join(p.problems, "\n  "))
}

// run runs actions, failing the test with what was being done.
func (p *page) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
		p.t.Fatalf("%s: %v", what, err)
	}
}

// XPath selectors by what a person sees.
func labelled(text string) string {
	return fmt.Sprintf(`//*[@id=//label[normalize-space()=%q]/@for]`, text)
}
func errorOf(text string) string {
	return fmt.Sprintf(`//*[@id=concat(//label[normalize-space()=%q]/@for, "-error")]`, text)
}
func hintOf(text string) string {
	return fmt.Sprintf(`//*[@id=concat(//label[normalize-space()=%q]/@for, "-hint")]`, text)
}
func buttonNamed(text string) string { return fmt.Sprintf(`//button[normalize-space()=%q]`, text) }
func linkNamed(text string) string   { return fmt.Sprintf(`//a[normalize-space()=%q]`, text) }
func statusContaining(text string) string {
	return fmt.Sprintf(`//*[(@role="status" or @role="alert") and contains(normalize-space(), %q)]`, text)
}

func (p *page) open(hash string) {
	p.t.Helper()
	p.run("open "+hash, chromedp.Navigate(p.srv.HTTPURL+"/console/"+hash))
}

func (p *page) signIn(key string) {
	p.t.Helper()
	p.open("")
	p.run("sign in", chromedp.WaitVisible(labelled("API key")),
		chromedp.SendKeys(labelled("API key"), key),
		chromedp.Click(buttonNamed("Sign in")),
		chromedp.WaitVisible(buttonNamed("Sign out")))
}

func (p *page) signOut() {
	p.t.Helper()
	p.run("sign out", chromedp.Click(buttonNamed("Sign out")), chromedp.WaitVisible(labelled("API key")))
}

// fill replaces the value of the control labelled label.
func (p *page) fill(label, value string) {
	p.t.Helper()
	p.run("fill "+label, chromedp.WaitVisible(labelled(label)),
		clearValue(labelled(label)),
		chromedp.SendKeys(labelled(label), value))
}

// clearValue empties the value of the element at xpath, as selecting
// everything and deleting it would.
func clearValue(xpath string) chromedp.Action[chromedp.Void] {
	q, _ := json.Marshal(xpath)
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(() => { const e = document.evaluate(`+string(q)+
			`, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE).singleNodeValue; e.value = ""; return true; })()`)(ctx, t)
		return err
	})
}

func (p *page) choose(label, value string) {
	p.t.Helper()
	p.run("choose "+label, chromedp.WaitVisible(labelled(label)), chromedp.SetValue(labelled(label), value))
}

func (p *page) click(button string) {
	p.t.Helper()
	p.run("click "+button, chromedp.WaitVisible(buttonNamed(button)), chromedp.Click(buttonNamed(button)))
}

// see waits for a status or alert containing text.
func (p *page) see(text string) {
	p.t.Helper()
	p.run("see "+text, chromedp.WaitVisible(statusContaining(text)))
}

func (p *page) text(sel string) string {
	p.t.Helper()
	p.run("find "+sel, chromedp.WaitReady(sel))
	s, err := chromedp.Run(p.ctx, chromedp.Text(sel))
	if err != nil {
		p.t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

// screenshot keeps a full-page screenshot in $CONSOLE_SCREENSHOTS, when set
// (CI keeps them as artifacts).
func (p *page) screenshot(name string) {
	dir := os.Getenv("CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	}
}
