package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// TestRun_MetricsShowTheOutboxWaiting: with Logging down, an accepted
// notification's audit entry waits in the outbox, and /metrics says so
// (one entry, its age growing); once Logging is back, the outbox empties.
// The notification's commit is counted as a group-commit batch.
func TestRun_MetricsShowTheOutboxWaiting(t *testing.T) {
	iss := testutil.NewIssuer(t)
	peers := newAuditPeers(t)
	peers.down.Store(true)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePorts(t, 1)[0])
	p := testutil.Start(t, run, "notification", map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(),
		"DATA_DIR": t.TempDir(), "IDENTITY_URL": peers.identity.URL, "LOGGING_URL": peers.logging.URL, "METRICS_ADDR": metricsAddr})
	tok := iss.Token(t, "careergpt-backend", "notification-service", "notifications:send")
	status, body := testutil.Do(t, http.MethodPost, p.URL+"/v1/notifications", tok, notificationBody)
	require.Equal(t, http.StatusAccepted, status, body)

	scrape := func() string { return testutil.Scrape(t, metricsAddr) }
	time.Sleep(100 * time.Millisecond) // an age to see
	text := scrape()
	require.Contains(t, text, "notification_outbox_entries 1")
	require.NotContains(t, text, "notification_outbox_oldest_age_seconds 0\n", "the waiting entry has an age")
	require.Contains(t, text, `groupcommit_batch_size_count{writer="notifications"} 1`)
	require.Contains(t, text, `authn_validations_total{reason="accepted",result="accepted"} 1`)

	peers.down.Store(false)
	require.Eventually(t, func() bool { return strings.Contains(scrape(), "notification_outbox_entries 0") }, 15*time.Second, 50*time.Millisecond)
	require.Contains(t, scrape(), "notification_outbox_oldest_age_seconds 0\n")
}
