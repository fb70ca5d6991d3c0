package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// TestRun_ReadyOnlyWithKeys: Logging is alive at once but ready only once
// it holds the issuer's keys: with the issuer hung, /healthz answers 200
// and /readyz 503 naming the keys; once the issuer answers, 200.
func TestRun_ReadyOnlyWithKeys(t *testing.T) {
	iss := testutil.NewIssuer(t)
	iss.Hang()
	p := testutil.Start(t, run, "logging", map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(),
		"DATA_DIR": t.TempDir(), "JWKS_MIN_REFRESH": "100ms"})
	status, _ := testutil.Do(t, http.MethodGet, p.URL+"/healthz", "", "")
	require.Equal(t, http.StatusOK, status, "alive")
	status, body := testutil.Do(t, http.MethodGet, p.URL+"/readyz", "", "")
	require.Equal(t, http.StatusServiceUnavailable, status, body)
	require.Contains(t, body, `"keys":"authn: key set unavailable`)
	require.Contains(t, body, `"database":"ok"`)

	iss.Unhang()
	require.Eventually(t, func() bool {
		status, _ := testutil.Do(t, http.MethodGet, p.URL+"/readyz", "", "")
		return status == http.StatusOK
	}, 15*time.Second, 50*time.Millisecond, "ready once the keys are fetched")
}
