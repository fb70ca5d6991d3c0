package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// demoOutputs holds each test's demo output, for checks on what it printed.
var demoOutputs sync.Map

func demoOutput(t *testing.T) string {
	out, _ := demoOutputs.Load(t.Name())
	return out.(*testutil.SyncBuffer).String()
}

// startDemo runs the real demo on loopback ports and waits for the story.
func startDemo(t *testing.T, extra ...string) (careergptURL string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &testutil.SyncBuffer{}
	demoOutputs.Store(t.Name(), out)
	done := make(chan error, 1)
	args := []string{"demo", "-data", t.TempDir(), "-careergpt-addr", "127.0.0.1:0", "-identity-addr", "127.0.0.1:0",
		"-logging-addr", "127.0.0.1:0", "-notification-addr", "127.0.0.1:0"}
	args = append(args, extra...)
	go func() { done <- run(ctx, args, func(string) string { return "" }, out) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "=== every step ended as it should") },
		30*time.Second, 100*time.Millisecond, out.String())
	return regexp.MustCompile(`careergpt\s+(http://\S+)`).FindStringSubmatch(out.String())[1]
}

// TestPage_InHeadlessChromium drives the page as a newcomer would: it sees
// the lanes and the refused steps with their reasons, opens the stolen
// token, fires a replay, and a screenshot is saved.
func TestPage_InHeadlessChromium(t *testing.T) {
	chromium := testutil.RequireCommand(t, "chromium", "chromium-browser")
	pageURL := startDemo(t) + "/"

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-features", "MediaRouter,OptimizationHints,Translate"),
		// Nothing but loopback resolves: the page must work offline.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browser, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	// The first action starts the browser and must not run under a timeout.
	require.NoError(t, chromedp.Do(browser, chromedp.Navigate(pageURL)))
	ctx, cancelTimeout := context.WithTimeout(browser, 60*time.Second)
	defer cancelTimeout()
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		require.NoError(t, err, expr)
		return v
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(sel))
		require.NoError(t, err, sel)
		return v
	}

	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(`#steps li`)))
	require.Equal(t, "CareerGPT,Identity,Logging,Notification",
		eval(`Array.from(document.querySelectorAll(".lanes .lane")).map(l => l.textContent).join(",")`))
	require.Equal(t, "29", eval(`String(document.querySelectorAll("#steps li").length)`))
	require.Equal(t, "4", eval(`String(document.querySelectorAll('#steps li[data-from="notification"]').length)`), "Notification's own calls, from its lane")
	require.Contains(t, text(`#steps button[data-step="notification-audit-logged"] .title`), "careergpt-backend via notification-backend", "the chain, as Logging recorded it")
	require.Contains(t, text(`#status`), "Every step ended as it should")
	refused := eval(`Array.from(document.querySelectorAll('#steps li[data-result="refused"]')).map(li => li.innerText).join("\n")`)
	for _, reason := range []string{"wrong audience", "token already used", "untrusted issuer", "token expired",
		"DPoP proof is not signed by the token's key", "DPoP-bound token presented as a bearer token",
		"subject_token was not issued for this client's service", "scope not allowed: logs:read",
		"token revoked", "client is suspended or revoked",
		"a workload identity token needs its Workload-Proof-Token", "a workload identity token is not a bearer token",
		"workload proof token is for another target (aud)", "workload proof token already used"} {
		require.Contains(t, refused, reason)
	}

	// Open the stolen-token step: its decoded token and the failed check.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(`button[data-step="stolen-token-refused"]`),
		chromedp.WaitVisible(`#detail tr[data-claim="sub"]`),
	))
	require.Contains(t, text(`#detail tr[data-claim="sub"] td`), "careergpt-backend")
	require.Contains(t, text(`#detail tr[data-claim="aud"] td`), "logging-service")
	require.Contains(t, text(`#detail .checks li.fail`), "aud names notification-service")
	require.NotContains(t, eval(`document.body.innerText`), ".ey", "no whole token on the page")
	require.Regexp(t, `^Trace [0-9a-f]{32}:`, text(`#detail [data-trace]`), "the step's trace id, for the logs")
	require.Contains(t, text(`#refusals tr[data-refusal="notification:audience"]`), "1", "refusals by reason, as the metrics count them")

	// The exchanged token: sub the caller, act the actor, decoded.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(`button[data-step="notification-exchanges-token"]`),
		chromedp.WaitVisible(`#detail tr[data-claim="act"]`),
	))
	require.Contains(t, text(`#detail tr[data-claim="act"] td`), "notification-backend")
	require.Contains(t, text(`#detail tr[data-claim="sub"] td`), "careergpt-backend")

	// The thief at Logging: the proof is decoded, and its key is not the token's.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(`button[data-step="stolen-token-at-logging-refused"]`),
		chromedp.WaitVisible(`#detail tr[data-claim="proof-htu"]`),
	))
	require.Contains(t, text(`#detail tr[data-claim="proof-htu"] td`), "/v1/logs")
	require.Contains(t, text(`#detail tr[data-claim="proof-typ"] td`), "dpop+jwt")
	require.Contains(t, text(`#detail tr[data-claim="cnf"] td`), "jkt")
	require.Contains(t, text(`#detail .checks li.fail`), "proof signed by the key the token is bound to")

	// The thief replays a WIMSE call at Logging: WIT and WPT decoded, the
	// WPT's aud the Notification request it was made for.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(`button[data-step="wimse-wpt-at-logging-refused"]`),
		chromedp.WaitVisible(`#detail tr[data-claim="wpt-aud"]`),
	))
	require.Contains(t, text(`#detail tr[data-claim="wpt-aud"] td`), "/v1/notifications")
	require.Contains(t, text(`#detail tr[data-claim="wpt-typ"] td`), "wpt+jwt")
	require.Contains(t, text(`#detail tr[data-claim="wit-sub"] td`), "wimse://s2sjwt.example/careergpt-backend")
	require.Contains(t, text(`#detail tr[data-claim="wit-cnf"] td`), "proved it holds")
	require.Contains(t, eval(`Array.from(document.querySelectorAll("#detail .checks li.fail")).map(li => li.innerText).join("\n")`),
		"WPT's aud is this request's URI")

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100) /* 100: PNG */)
	require.NoError(t, err)
	dir := filepath.Join(testutil.RepoRoot(t), "build", "screenshots")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "page.png"), shot, 0o644))
	t.Logf("screenshot: %s", filepath.Join(dir, "page.png"))

	// Fire a single step from the keyboard: replay a Notification token.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Focus(`button[data-action="replay"]`),
		chromedp.KeyEvent("\r"),
	))
	// Wait for the new outcome to replace the scenario's twenty-four steps.
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll("#steps li").length === 5`))
	require.NoError(t, err)
	require.Equal(t, "accepted,accepted,accepted,accepted,refused", eval(`Array.from(document.querySelectorAll("#steps li")).map(li => li.dataset.result).join(",")`))

	// A narrow window still says who talks to whom.
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)))
	require.Equal(t, "CareerGPT → Notification", text(`#steps li:nth-child(5) .route`))
	require.Equal(t, "Notification → Logging", text(`#steps li:nth-child(4) .route`))
}
