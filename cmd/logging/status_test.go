package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/identity"
	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/runner"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

const (
	suiteSecret = "conformance-only-not-a-real-secret-6f1c0e9a4b7d2c85"
	actorSecret = "conformance-actor-only-not-a-real-secret-3e8b1d90c4a7f265"
	adminSecret = "admin-secret-for-this-test-only-0123456789"
)

func runIdentity(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return runner.Run(ctx, args, getenv, stdout, "identity", "127.0.0.1:0", &identity.Setup{})
}

// TestStatusLists_RevocationReachesLogging: Identity with a status list,
// Logging checking it. A revoked token is refused within the list's ttl
// (10 s) and a refresh, while another caller's fresh token still works; a
// revoked caller gets no token at all; with Identity gone for longer than
// STATUS_MAX_STALE past the list's refresh, Logging refuses tokens that
// point into it (503: it cannot tell), rather than accept revoked ones.
func TestStatusLists_RevocationReachesLogging(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePorts(t, 1)[0])
	issuer := "http://" + addr
	idp, logs := statusStack(t, issuer, addr)

	victim, status := tokenOf(t, issuer, "conformance-suite", suiteSecret)
	require.Equal(t, http.StatusOK, status)
	status, body := testutil.Do(t, http.MethodPost, logs, victim, entry)
	require.Equal(t, http.StatusCreated, status, body)

	require.Equal(t, http.StatusOK, admin(t, issuer, "/admin/revoke", `{"jti": "`+jtiOf(t, victim)+`"}`))
	revokedAt := time.Now()
	require.Eventually(t, func() bool {
		status, _ := testutil.Do(t, http.MethodPost, logs, victim, entry)
		return status == http.StatusUnauthorized
	}, 40*time.Second, 100*time.Millisecond, "the revoked token is still accepted")
	t.Logf("revoked token refused %s after its revocation (bound: the list's ttl, 10 s, plus a refresh)", time.Since(revokedAt).Round(100*time.Millisecond))
	_, body = testutil.Do(t, http.MethodPost, logs, victim, entry)
	require.Contains(t, body, `"reason":"revoked"`)

	fresh, status := tokenOf(t, issuer, "conformance-actor", actorSecret)
	require.Equal(t, http.StatusOK, status)
	status, body = testutil.Do(t, http.MethodPost, logs, fresh, entry)
	require.Equal(t, http.StatusCreated, status, "another caller's token still works: %s", body)

	require.Equal(t, http.StatusOK, admin(t, issuer, "/admin/revoke", `{"client_id": "conformance-suite"}`))
	require.Eventually(t, func() bool {
		_, status := tokenOf(t, issuer, "conformance-suite", suiteSecret)
		return status == http.StatusUnauthorized
	}, 5*time.Second, 50*time.Millisecond, "a revoked caller still gets tokens")

	// Identity gone: the list Logging holds is used for its refresh (at
	// most 10 s) and STATUS_MAX_STALE (1 s) more, then refused, never
	// accepted on trust.
	idp.Stop()
	require.Eventually(t, func() bool {
		status, _ := testutil.Do(t, http.MethodPost, logs, fresh, entry)
		return status == http.StatusServiceUnavailable
	}, 40*time.Second, 100*time.Millisecond, "with its issuer gone, a token's status must not be taken on trust")
	_, body = testutil.Do(t, http.MethodPost, logs, fresh, entry)
	require.NotContains(t, body, `"id"`, "nothing stored")
}

// entry is the log entry the status tests write.
const entry = `{"message": "status list test"}`

// statusStack starts Identity on addr, known to its clients as issuer,
// with a status list and the admin API, and Logging checking its lists
// (STATUS_MAX_STALE 1 s); it returns Identity and Logging's /v1/logs.
func statusStack(t *testing.T, issuer, addr string) (*testutil.Process, string) {
	registry, err := filepath.Abs("../../conformance/targets/local-registry.json")
	require.NoError(t, err)
	idp := testutil.Start(t, runIdentity, "identity", map[string]string{"DATA_DIR": t.TempDir(), "IDENTITY_REGISTRY": registry,
		"IDENTITY_ISSUER": issuer, "IDENTITY_STATUS_LIST": "true", "IDENTITY_ADMIN_SECRET_SHA256": identity.HashSecret(adminSecret)}, "-addr", addr)
	logging := testutil.Start(t, run, "logging", map[string]string{"DATA_DIR": t.TempDir(), "TRUSTED_ISSUER": issuer,
		"STATUS_LISTS": "on", "STATUS_MAX_STALE": "1s"})
	return idp, logging.URL + "/v1/logs"
}

func tokenOf(t *testing.T, base, client, secret string) (string, int) {
	resp := testutil.RequestToken(t, base, client, secret, "logging-service")
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	return tr.AccessToken, resp.StatusCode
}

func jtiOf(t *testing.T, raw string) string {
	data, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
	require.NoError(t, err)
	var c struct {
		JTI string `json:"jti"`
	}
	require.NoError(t, json.Unmarshal(data, &c))
	return c.JTI
}

func admin(t *testing.T, base, path, body string) int {
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("admin", adminSecret)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestStatusLists_IdentityHung: with Identity hung (a proxy in front of it
// passing no bytes, as a process stopped by SIGSTOP looks), Logging uses
// the list it holds for its ttl and STATUS_MAX_STALE more, then refuses
// tokens pointing into it with 503; no request waits longer than one
// list fetch's timeout meanwhile (the answers keep coming), and once
// Identity answers again the token is accepted again.
func TestStatusLists_IdentityHung(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePorts(t, 1)[0])
	issuer, hang := dbtest.Hangable(t, "http://"+addr)
	_, logs := statusStack(t, issuer, addr)
	tok, status := tokenOf(t, issuer, "conformance-suite", suiteSecret)
	require.Equal(t, http.StatusOK, status)
	status, body := testutil.Do(t, http.MethodPost, logs, tok, entry)
	require.Equal(t, http.StatusCreated, status, body)

	hang(true)
	require.Eventually(t, func() bool {
		status, _ := testutil.Do(t, http.MethodPost, logs, tok, entry)
		return status == http.StatusServiceUnavailable
	}, 40*time.Second, 100*time.Millisecond, "with its issuer hung, a token's status must not be taken on trust")
	hang(false)
	require.Eventually(t, func() bool {
		status, _ := testutil.Do(t, http.MethodPost, logs, tok, entry)
		return status == http.StatusCreated
	}, 20*time.Second, 100*time.Millisecond, "Identity back: the list is fetched again")
}
