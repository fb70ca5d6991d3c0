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

// TestRun_HungDatabaseAnswers503: with PostgreSQL hung (every connection
// open, no byte answered, as after SIGSTOP), appends and lists are answered
// 503 with Retry-After within DATABASE_TIMEOUT instead of waiting without
// end; once the database answers again, so does Logging, without a restart.
func TestRun_HungDatabaseAnswers503(t *testing.T) {
	db, hang := dbtest.Hangable(t, dbtest.Postgres(t))
	iss := testutil.NewIssuer(t)
	p := testutil.Start(t, run, "logging", map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(),
		"DATABASE_URL": db, "DATABASE_TIMEOUT": "300ms", "DATA_DIR": t.TempDir()})
	// A client that gives up long after the bound: a request held without
	// end fails the test instead of stalling it.
	client := &http.Client{Timeout: 30 * time.Second}
	send := func(method, scope, body string) *http.Response {
		req, err := http.NewRequest(method, p.URL+"/v1/logs", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+iss.Token(t, "careergpt-backend", "logging-service", scope))
		resp, err := client.Do(req)
		require.NoError(t, err, "a request waited past the database timeout")
		resp.Body.Close()
		return resp
	}
	require.Equal(t, http.StatusCreated, send(http.MethodPost, "logs:write", `{"message":"before"}`).StatusCode)

	hang(true)
	for _, r := range []*http.Response{send(http.MethodPost, "logs:write", `{"message":"while hung"}`), send(http.MethodGet, "logs:read", "")} {
		require.Equal(t, http.StatusServiceUnavailable, r.StatusCode)
		require.Equal(t, "5", r.Header.Get("Retry-After"))
	}

	hang(false)
	require.Eventually(t, func() bool {
		return send(http.MethodPost, "logs:write", `{"message":"after"}`).StatusCode == http.StatusCreated
	}, 10*time.Second, 100*time.Millisecond, "Logging serves again once the database answers")
}
