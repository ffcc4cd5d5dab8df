package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mcphub/mcphub/pkg/exampleserver"
)

const (
	// browserBudget bounds everything the browser does in one test, from
	// its start to its last screenshot.
	browserBudget = 90 * time.Second
	// stepTimeout bounds one step (a page load, a wait for an element), so
	// a failure names the step and leaves time for a screenshot of it.
	stepTimeout = 20 * time.Second
	// viewport is the size of the page the screenshot shows (in CSS pixels;
	// the full-page screenshot is as tall as the page).
	viewportW, viewportH = 1280, 900
)

// TestSwaggerUI opens the Swagger UI of a running hub in Chromium, checks it
// lists every operation of docs/swagger.json, and runs "Try it out" on
// GET /mcp_hub/tools against the example server.
func TestSwaggerUI(t *testing.T) {
	exe := chromiumPath(t)
	want := specOperations(t)
	base := startHub(t)
	ctx := startBrowser(t, exe)
	defer func() {
		if t.Failed() {
			saveScreenshot(t, ctx, "swagger-failure.png")
		}
	}()

	t.Run("redirects", func(t *testing.T) {
		// The answer itself, then what a browser makes of it.
		hc := &http.Client{
			Transport:     &http.Transport{},
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		defer hc.CloseIdleConnections()
		for _, p := range []string{"/swagger", "/docs"} {
			resp, err := hc.Get(base + p)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/swagger/index.html" {
				t.Errorf("GET %s: %d Location %q, want 301 to /swagger/index.html", p, resp.StatusCode, resp.Header.Get("Location"))
			}
			do(t, ctx, "open "+p, chromedp.Navigate(base+p))
			if got := run(t, ctx, "location after "+p, chromedp.Location()); got != base+"/swagger/index.html" {
				t.Errorf("the browser went from %s to %s, want %s/swagger/index.html", p, got, base)
			}
		}
	})

	do(t, ctx, "open /swagger/index.html and wait for Swagger UI to render its operations",
		chromedp.Navigate(base+"/swagger/index.html"),
		chromedp.WaitVisible(chromedp.CSS("#swagger-ui .information-container .title")),
		chromedp.WaitVisible(chromedp.CSS("#swagger-ui .opblock .opblock-summary-path")),
	)

	t.Run("every operation", func(t *testing.T) {
		title := run(t, ctx, "title", chromedp.Text(chromedp.CSS("#swagger-ui .information-container .title")))
		if !strings.Contains(title, "mcphub REST API") {
			t.Errorf("Swagger UI title %q, want it to name mcphub REST API", title)
		}
		if errs := run(t, ctx, "Swagger UI errors", chromedp.Evaluate[string](
			`(document.querySelector('#swagger-ui .errors-wrapper') || {}).innerText || ''`)); errs != "" {
			t.Errorf("Swagger UI shows errors:\n%s", errs)
		}
		// Swagger UI renders every operation at once; a short wait for the
		// count covers a render still in progress, and the diff below says
		// what is missing if it never gets there.
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, _ = chromedp.Run(pctx, chromedp.Poll[bool](
			fmt.Sprintf(`document.querySelectorAll('#swagger-ui .opblock').length >= %d`, len(want)),
			chromedp.WithPollingTimeout(5*time.Second)))
		cancel()
		shown := run(t, ctx, "list the operations shown", chromedp.Evaluate[[]string](`
			Array.from(document.querySelectorAll('#swagger-ui .opblock')).map(op => {
				const m = op.querySelector('.opblock-summary-method');
				const p = op.querySelector('.opblock-summary-path');
				const path = p ? (p.getAttribute('data-path') || p.innerText.replace(/\u200b/g, '')) : '?';
				return (m ? m.innerText.trim().toUpperCase() : '?') + ' ' + path.trim();
			})`))
		slices.Sort(shown)
		shown = slices.Compact(shown)
		if missing, extra := diff(want, shown); len(missing)+len(extra) > 0 {
			t.Errorf("Swagger UI and docs/swagger.json disagree (run make docs?)\nmissing from the page: %q\nnot in docs/swagger.json: %q\nshown: %q",
				missing, extra, shown)
		} else {
			t.Logf("Swagger UI lists all %d operations of docs/swagger.json", len(want))
		}
	})

	t.Run("try it out GET /mcp_hub/tools", func(t *testing.T) {
		op := `#swagger-ui .opblock.opblock-get:has(.opblock-summary-path[data-path="/mcp_hub/tools"])`
		do(t, ctx, "expand GET /mcp_hub/tools",
			chromedp.Click(chromedp.CSS(op+" .opblock-summary-method")),
			chromedp.WaitVisible(chromedp.CSS(op+" .try-out__btn")))
		do(t, ctx, `click "Try it out"`,
			chromedp.Click(chromedp.CSS(op+" .try-out__btn")),
			chromedp.WaitVisible(chromedp.CSS(op+" .execute")))
		// The live table's header row has a .response-col_status too ("Code").
		live := op + " .responses-wrapper .live-responses-table tr.response"
		do(t, ctx, `click "Execute" and wait for the response`,
			chromedp.Click(chromedp.CSS(op+" .execute")),
			chromedp.WaitVisible(chromedp.CSS(live+" .response-col_status")))

		if url := run(t, ctx, "request URL", chromedp.Text(chromedp.CSS(op+" .request-url pre"))); strings.TrimSpace(url) != base+"/mcp_hub/tools" {
			t.Errorf("Swagger UI sent the request to %q, want %s/mcp_hub/tools", url, base)
		}
		if code := run(t, ctx, "response code", chromedp.Text(chromedp.CSS(live+" .response-col_status"))); strings.TrimSpace(code) != "200" {
			t.Errorf("response code %q, want 200", code)
		}
		body := run(t, ctx, "response body", chromedp.Text(chromedp.CSS(live+" .response-col_description .highlight-code pre")))
		var got struct {
			Tools []struct {
				Type     string `json:"type"`
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			} `json:"tools"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("response body is not the tools JSON: %v\n%s", err, body)
		}
		var names []string
		for _, tool := range got.Tools {
			names = append(names, tool.Function.Name)
		}
		for _, tool := range []string{exampleserver.ToolEcho, exampleserver.ToolAdd, exampleserver.ToolCreateNote} {
			if name := "example__" + tool; !slices.Contains(names, name) {
				t.Errorf("response body lists no %s; tools: %q", name, names)
			}
		}
		t.Logf("Try it out: 200 with %d tools", len(names))
	})

	saveScreenshot(t, ctx, "swagger.png")
}

// startBrowser starts Chromium headless with a fresh profile and returns the
// context of its first tab. When the test ends the browser is closed and no
// process of it may be left.
func startBrowser(t *testing.T, exe string) context.Context {
	t.Helper()
	// Before the cleanup below, so the folder is removed after the browser
	// is gone. HOME and XDG folders point into it too: Chromium's crash
	// handler and caches write there, not in the user's ~/.config.
	root := t.TempDir()
	profile, home := filepath.Join(root, "profile"), filepath.Join(root, "home")
	for _, d := range []string{profile, home} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// Every process of this browser inherits the marker; see browserProcs.
	marker := fmt.Sprintf("MCPHUB_BROWSER_TEST=%d-%d", os.Getpid(), time.Now().UnixNano())
	output := &syncBuffer{}
	// Headless Chromium in a container has no D-Bus and says so, often.
	dumpOnFailure(t, "chromium output", output, ":ERROR:dbus/")
	logs := &syncBuffer{}
	dumpOnFailure(t, "chromedp log", logs)
	logf := func(format string, args ...any) { fmt.Fprintf(logs, format+"\n", args...) }

	overall, cancelOverall := context.WithTimeout(context.Background(), browserBudget)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(overall,
		chromedp.ExecPath(exe),
		// Only these flags: the machine's network is closed, so nothing may
		// phone home (background networking, component updates, sync, QUIC).
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profile),
		chromedp.Env("HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
			"XDG_CACHE_HOME="+filepath.Join(home, ".cache"), marker),
		chromedp.CombinedOutput(output),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(logf), chromedp.WithErrorf(logf))
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := chromedp.Cancel(cctx) // closes the browser and waits for it
		cancel()
		if err != nil && overall.Err() == nil && !errors.Is(err, chromedp.ErrInvalidContext) {
			t.Errorf("closing Chromium: %v", err)
		}
		cancelTab()
		cancelAlloc() // waits until the allocator has let go of everything
		cancelOverall()
		waitBrowserGone(t, profile, marker, 5*time.Second)
	})
	// Start the browser now, so a browser that cannot start fails here. Not
	// through do: the context of the first run is the browser's lifetime, so
	// only the overall budget bounds it.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(viewportW, viewportH)); err != nil {
		t.Fatalf("start Chromium (%s): %v", exe, err)
	}
	return ctx
}

// do runs browser steps in order, failing the test with what was being done.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// run runs one browser action and returns its value.
func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// saveScreenshot saves a full-page PNG of the page to the artifacts folder
// and logs where it went.
func saveScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	dir := artifactsDir(t)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

// artifactsDir is $MCPHUB_ARTIFACTS when set, else test/browser/artifacts
// (ignored by git); either way it outlives the test.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MCPHUB_ARTIFACTS")
	if dir == "" {
		dir = "artifacts" // the test runs in test/browser
	}
	dir, err := filepath.Abs(dir)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		t.Fatalf("artifacts folder: %v", err)
	}
	return dir
}

// specOperations lists "METHOD /path" for every operation of
// docs/swagger.json, sorted.
func specOperations(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "swagger.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatalf("docs/swagger.json: %v", err)
	}
	var ops []string
	for path, item := range spec.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch":
				ops = append(ops, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(ops)
	if !slices.Contains(ops, "GET /mcp_hub/tools") {
		t.Fatalf("docs/swagger.json has no GET /mcp_hub/tools; operations: %q", ops)
	}
	return ops
}

// diff returns what is in want but not in got, and the other way round;
// both are sorted and without repeats.
func diff(want, got []string) (missing, extra []string) {
	for _, w := range want {
		if _, found := slices.BinarySearch(got, w); !found {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if _, found := slices.BinarySearch(want, g); !found {
			extra = append(extra, g)
		}
	}
	return missing, extra
}
