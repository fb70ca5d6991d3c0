package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
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

	info, err := os.Stat(filepath.Join(data, "signing-keys.json"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	p = testutil.Start(t, run, "identity", env)
	_, again := testutil.Do(t, http.MethodGet, p.URL+"/.well-known/jwks.json", "", "")
	require.JSONEq(t, jwks, again, "signing keys survive a restart")

	status, _ := testutil.Do(t, http.MethodPost, p.URL+"/admin/rotate-keys", "", "")
	require.Equal(t, http.StatusNotFound, status, "admin endpoint is off without an admin secret")
}
