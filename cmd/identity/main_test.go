package main

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

func TestRun_ServesMetadataAndKeepsKeysAcrossRestart(t *testing.T) {
	data := t.TempDir()
	registry, err := filepath.Abs("../../deploy/registry.json")
	require.NoError(t, err)
	env := map[string]string{"IDENTITY_REGISTRY": registry, "DATA_DIR": data, "IDENTITY_ISSUER": "http://identity.test"}

	p := testutil.Start(t, run, "identity", env)
	_, body := testutil.Do(t, http.MethodGet, p.URL+"/.well-known/oauth-authorization-server", "", "")
	var meta map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &meta))
	require.Equal(t, "http://identity.test", meta["issuer"])
	require.Equal(t, "http://identity.test/oauth2/token", meta["token_endpoint"])
	_, jwks := testutil.Do(t, http.MethodGet, p.URL+"/.well-known/jwks.json", "", "")
	p.Stop()

	for _, name := range []string{"identity.db", "key-secret"} {
		info, err := os.Stat(filepath.Join(data, name))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), name)
	}

	p = testutil.Start(t, run, "identity", env)
	_, again := testutil.Do(t, http.MethodGet, p.URL+"/.well-known/jwks.json", "", "")
	require.JSONEq(t, jwks, again, "signing keys survive a restart")

	status, _ := testutil.Do(t, http.MethodPost, p.URL+"/admin/rotate-keys", "", "")
	require.Equal(t, http.StatusNotFound, status, "admin endpoint is off without an admin secret")
}

// TestRun_RefusesBadConfigurationAtStart: a typo in the environment or a
// registry that could never work is a start-up error, not a silent default.
func TestRun_RefusesBadConfigurationAtStart(t *testing.T) {
	registry, err := filepath.Abs("../../deploy/registry.json")
	require.NoError(t, err)
	unusable := filepath.Join(t.TempDir(), "registry.json")
	require.NoError(t, os.WriteFile(unusable, []byte(`{"audiences": {"a": {"max_ttl": "1m"}},
	  "clients": [{"client_id": "c", "auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}}]}`), 0o600))
	longLived := filepath.Join(t.TempDir(), "registry.json")
	require.NoError(t, os.WriteFile(longLived, []byte(`{"audiences": {"a": {"max_ttl": "2h"}}, "clients": []}`), 0o600))
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"MalformedDuration":              {map[string]string{"LEEWAY": "5 seconds"}, `LEEWAY="5 seconds"`},
		"BadAdminHash":                   {map[string]string{"IDENTITY_ADMIN_SECRET_SHA256": "not-a-hash"}, "admin secret hash"},
		"NoUsableClientKey":              {map[string]string{"IDENTITY_REGISTRY": unusable}, "no usable key"},
		"TokensLongerThanVerifiersTake":  {map[string]string{"IDENTITY_REGISTRY": longLived}, "max_ttl of at most 1h0m0s"},
		"SharedDatabaseWithoutKeySecret": {map[string]string{"DATABASE_URL": "postgres://identity@127.0.0.1:1/identity"}, "IDENTITY_KEY_SECRET is required"},
		"DatabaseURLNotPostgres":         {map[string]string{"DATABASE_URL": "mysql://identity@127.0.0.1:1/identity", "IDENTITY_KEY_SECRET": strings.Repeat("s", 32)}, "want postgres://"},
		"ShortKeySecret":                 {map[string]string{"IDENTITY_KEY_SECRET": "short"}, "at least 32 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"IDENTITY_REGISTRY": registry, "DATA_DIR": t.TempDir(), "IDENTITY_ISSUER": "http://identity.test"}
			maps.Copy(env, tc.env)
			err := run(context.Background(), []string{"identity", "-addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, io.Discard)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
