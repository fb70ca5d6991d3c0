package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// TestRun_MetricsCountTokensAndRefusals: /metrics on METRICS_ADDR counts
// issued tokens by client, audience and binding, and refusals by OAuth
// error; client ids nobody registered, however many, never become labels.
func TestRun_MetricsCountTokensAndRefusals(t *testing.T) {
	const client, secret = "conformance-suite", "conformance-only-not-a-real-secret-6f1c0e9a4b7d2c85"
	registry, err := filepath.Abs("../../conformance/targets/local-registry.json")
	require.NoError(t, err)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePorts(t, 1)[0])
	p := testutil.Start(t, run, "identity", map[string]string{"IDENTITY_REGISTRY": registry, "DATA_DIR": t.TempDir(), "METRICS_ADDR": metricsAddr})

	for _, c := range []struct {
		id, secret, audience string
		want                 int
	}{
		{client, secret, "logging-service", http.StatusOK},
		{client, secret, "logging-service", http.StatusOK},
		{client, secret, "billing-service", http.StatusBadRequest},
		{client, "wrong-secret-of-enough-length-0123456789abcdef", "logging-service", http.StatusUnauthorized},
	} {
		resp := testutil.RequestToken(t, p.URL, c.id, c.secret, c.audience)
		resp.Body.Close()
		require.Equal(t, c.want, resp.StatusCode)
	}
	for i := range 300 {
		resp := testutil.RequestToken(t, p.URL, fmt.Sprintf("made-up-client-%d", i), "x-secret-of-enough-length-0123456789abcdef", "logging-service")
		resp.Body.Close()
	}

	text := testutil.Scrape(t, metricsAddr)
	require.Contains(t, text, `identity_tokens_issued_total{audience="logging-service",binding="bearer",client="conformance-suite"} 2`)
	require.Contains(t, text, `identity_token_requests_refused_total{error="invalid_target",status="400"} 1`)
	require.Contains(t, text, `identity_token_requests_refused_total{error="invalid_client",status="401"}`)
	require.Contains(t, text, `identity_token_requests_refused_total{error="invalid_client",status="429"}`, "the limiter's refusals")
	require.NotContains(t, text, "made-up-client", "a client id nobody registered is no label")
	require.Equal(t, 1, strings.Count(text, "identity_tokens_issued_total{"))
}
