package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/identity"
	"github.com/s2sjwt/s2sjwt/internal/runner"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// TestRun_JWTSVIDsFromIdentity: Identity issues a client with a spiffe_id
// SPIFFE JWT-SVIDs (ES256, typ JWT, sub its SPIFFE ID); Logging under
// TOKEN_PROFILE=jwt-svid accepts them, records the SPIFFE ID as the
// entry's source, and refuses the RFC 9068 access tokens of another client
// of the same issuer, and a SPIFFE ID of another trust domain.
func TestRun_JWTSVIDsFromIdentity(t *testing.T) {
	const secret = "jwt-svid-test-secret-for-this-test-only-0123456789"
	identityURL := fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePorts(t, 1)[0])
	client := func(id, spiffeID string) map[string]any {
		return map[string]any{"client_id": id, "auth_method": "client_secret_basic", "secret_sha256": identity.HashSecret(secret),
			"spiffe_id": spiffeID, "allow": map[string]any{"logging-service": []string{"logs:write"}}}
	}
	registry := map[string]any{
		"audiences": map[string]any{"logging-service": map[string]any{"max_ttl": "5m", "scopes": []string{"logs:write"}}},
		"clients": []any{client("careergpt-backend", "spiffe://s2sjwt.test/careergpt-backend"),
			client("elsewhere", "spiffe://other.test/careergpt-backend"), client("plain", "")},
	}
	registryPath := writeJSON(t, registry)
	testutil.Start(t, identityRun, "identity", map[string]string{"IDENTITY_ISSUER": identityURL, "IDENTITY_REGISTRY": registryPath,
		"IDENTITY_ALG": "ES256", "DATA_DIR": t.TempDir()}, "-addr", strings.TrimPrefix(identityURL, "http://"))
	lg := testutil.Start(t, run, "logging", map[string]string{"TRUSTED_ISSUER": identityURL, "TOKEN_PROFILE": "jwt-svid",
		"TRUST_DOMAIN": "s2sjwt.test", "DATA_DIR": t.TempDir()})

	status, body := testutil.Do(t, http.MethodPost, lg.URL+"/v1/logs", token(t, identityURL, "careergpt-backend", secret), `{"message":"hello"}`)
	require.Equal(t, http.StatusCreated, status, body)
	require.Contains(t, body, `"source":"spiffe://s2sjwt.test/careergpt-backend"`)

	for client, reason := range map[string]string{"plain": `"reason":"type"`, "elsewhere": `"reason":"subject"`} {
		status, body = testutil.Do(t, http.MethodPost, lg.URL+"/v1/logs", token(t, identityURL, client, secret), `{"message":"x"}`)
		require.Equal(t, http.StatusUnauthorized, status, "%s: %s", client, body)
		require.Contains(t, body, reason, client)
	}
}

// TestRun_JWTSVIDsNeedAnAlgorithmOfTheStandard: an Identity asked to issue
// JWT-SVIDs with its default EdDSA key refuses to start, saying why.
func TestRun_JWTSVIDsNeedAnAlgorithmOfTheStandard(t *testing.T) {
	registryPath := writeJSON(t, map[string]any{
		"audiences": map[string]any{"logging-service": map[string]any{"max_ttl": "5m", "scopes": []string{"logs:write"}}},
		"clients": []any{map[string]any{"client_id": "a", "auth_method": "client_secret_basic", "secret_sha256": identity.HashSecret("s"),
			"spiffe_id": "spiffe://s2sjwt.test/a", "allow": map[string]any{"logging-service": []string{"logs:write"}}}},
	})
	env := map[string]string{"IDENTITY_REGISTRY": registryPath, "DATA_DIR": t.TempDir()}
	err := identityRun(t.Context(), []string{"identity", "-addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, io.Discard)
	require.ErrorContains(t, err, "IDENTITY_ALG")
}

func identityRun(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return runner.Run(ctx, args, getenv, stdout, "identity", "127.0.0.1:0", &identity.Setup{})
}

func token(t *testing.T, identityURL, client, secret string) string {
	t.Helper()
	resp := testutil.RequestToken(t, identityURL, client, secret, "logging-service")
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	return tok.AccessToken
}

func writeJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "registry.json")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}
