package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// TestRun_HungDatabaseAnswers503: with PostgreSQL hung (as after SIGSTOP),
// a notification is answered 503 with Retry-After within DATABASE_TIMEOUT,
// and, once the database answers again, accepted without a restart.
func TestRun_HungDatabaseAnswers503(t *testing.T) {
	db, hang := dbtest.Hangable(t, dbtest.Postgres(t))
	iss := testutil.NewIssuer(t)
	p := testutil.Start(t, run, "notification", map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(),
		"DATABASE_URL": db, "DATABASE_TIMEOUT": "300ms", "DATA_DIR": t.TempDir()})
	client := &http.Client{Timeout: 30 * time.Second} // past the bound: a request held without end fails the test
	send := func() *http.Response {
		req, err := http.NewRequest(http.MethodPost, p.URL+"/v1/notifications", strings.NewReader(notificationBody))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+iss.Token(t, "careergpt-backend", "notification-service", "notifications:send"))
		resp, err := client.Do(req)
		require.NoError(t, err, "a request waited past the database timeout")
		resp.Body.Close()
		return resp
	}
	require.Equal(t, http.StatusAccepted, send().StatusCode)
	hang(true)
	r := send()
	require.Equal(t, http.StatusServiceUnavailable, r.StatusCode)
	require.Equal(t, "5", r.Header.Get("Retry-After"))
	hang(false)
	require.Eventually(t, func() bool { return send().StatusCode == http.StatusAccepted }, 10*time.Second, 100*time.Millisecond)
}
