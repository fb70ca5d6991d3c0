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
	"github.com/s2sjwt/s2sjwt/logging"
)

// TestRun_AuditWithDocumentedDefaults: Identity, Logging and Notification
// run as their binaries with nothing set but where the others are; a
// notification's audit entry reaches Logging. (Notification binds its
// Logging tokens with DPoP; a Logging whose default refused DPoP answered
// every audit entry 401, silently.)
func TestRun_AuditWithDocumentedDefaults(t *testing.T) {
	const callerSecret = "caller-secret-for-this-test-only-0123456789abcdef"
	ports := testutil.FreePorts(t, 2)
	identityURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	notificationAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	registry := map[string]any{
		"audiences": map[string]any{
			"logging-service":      map[string]any{"max_ttl": "5m", "scopes": []string{"logs:write"}},
			"notification-service": map[string]any{"max_ttl": "2m", "scopes": []string{"notifications:send"}},
		},
		"clients": []any{
			map[string]any{"client_id": "notification-backend", "auth_method": "private_key_jwt",
				"jwks_uri": "http://" + notificationAddr + "/.well-known/jwks.json", "allow": map[string]any{"logging-service": []string{"logs:write"}}},
			map[string]any{"client_id": "caller", "auth_method": "client_secret_basic", "secret_sha256": identity.HashSecret(callerSecret),
				"allow": map[string]any{"notification-service": []string{"notifications:send"}}},
		},
	}
	data, err := json.Marshal(registry)
	require.NoError(t, err)
	registryPath := filepath.Join(t.TempDir(), "registry.json")
	require.NoError(t, os.WriteFile(registryPath, data, 0o600))

	testutil.Start(t, serviceRun("identity", &identity.Setup{}), "identity",
		map[string]string{"IDENTITY_ISSUER": identityURL, "IDENTITY_REGISTRY": registryPath, "DATA_DIR": t.TempDir()},
		"-addr", strings.TrimPrefix(identityURL, "http://"))
	lg := testutil.Start(t, serviceRun("logging", &logging.Setup{}), "logging",
		map[string]string{"TRUSTED_ISSUER": identityURL, "DATA_DIR": t.TempDir()})
	n := testutil.Start(t, run, "notification", map[string]string{"TRUSTED_ISSUER": identityURL,
		"IDENTITY_URL": identityURL, "LOGGING_URL": lg.URL, "DATA_DIR": t.TempDir()}, "-addr", notificationAddr)

	resp := testutil.RequestToken(t, identityURL, "caller", callerSecret, "notification-service")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	resp.Body.Close()

	status, body := testutil.Do(t, http.MethodPost, n.URL+"/v1/notifications", tok.AccessToken, notificationBody)
	require.Equal(t, http.StatusAccepted, status, body)
	require.Contains(t, body, `"audit":"delivered"`, "Notification's log:\n%s", n.Output.String())
}

// serviceRun is another binary's main, for a test that runs several.
func serviceRun(name string, svc runner.Service) runner.RunFunc {
	return func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
		return runner.Run(ctx, args, getenv, stdout, name, "127.0.0.1:0", svc)
	}
}
