package testissuer_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

func TestLoadKeys_SameKeysAfterRestart(t *testing.T) {
	dir := t.TempDir()
	first, err := testissuer.LoadKeys(dir)
	require.NoError(t, err)
	again, err := testissuer.LoadKeys(dir)
	require.NoError(t, err)
	require.Equal(t, first.Trusted(), again.Trusted())
	require.Len(t, first.Trusted(), 5*len(testissuer.Algorithms))
	for _, k := range first.Trusted() {
		kid, err := jwk.Thumbprint(k.Public)
		require.NoError(t, err)
		require.Equal(t, kid, k.ID, "kid is the RFC 7638 thumbprint")
	}
	other, err := testissuer.LoadKeys(t.TempDir())
	require.NoError(t, err)
	require.NotEqual(t, first.Trusted()[0].ID, other.Trusted()[0].ID)
}

func TestServer_DiscoveryAndBoundedFetchLog(t *testing.T) {
	keys, err := testissuer.NewKeys()
	require.NoError(t, err)
	srv, err := testissuer.NewServer(keys.Documents("https://issuer.test"))
	require.NoError(t, err)
	get := func(path string) map[string]any {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		require.Equal(t, http.StatusOK, rec.Code, path)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc), path)
		return doc
	}
	for path, issuer := range map[string]string{
		"/.well-known/oauth-authorization-server":       "https://issuer.test",
		"/.well-known/openid-configuration":             "https://issuer.test",
		"/.well-known/oauth-authorization-server/other": "https://issuer.test/other",
		"/other/.well-known/openid-configuration":       "https://issuer.test/other",
	} {
		doc := get(path)
		require.Equal(t, issuer, doc["issuer"], path)
		require.Equal(t, issuer+"/jwks.json", doc["jwks_uri"], path)
	}
	require.Len(t, get("/jwks.json")["keys"], 20)
	require.Len(t, get(testissuer.AboutPath)["kids"], 20)

	long := "/attacker/" + strings.Repeat("a", 10_000)
	for range 1500 {
		get(long)
	}
	hits := srv.Hits()
	require.Len(t, hits.Attacker, 1000, "the fetch log keeps the last 1,000")
	require.Len(t, hits.Attacker[0], 256, "each path cut to 256 bytes")
	require.True(t, hits.HasPath(long))
	require.Equal(t, 1, hits.JWKS)
}

// TestLoadKeys_CompletesAnOlderDirectory: keys a newer suite needs are
// added; the keys already there stay, so servers that trust them go on.
func TestLoadKeys_CompletesAnOlderDirectory(t *testing.T) {
	dir := t.TempDir()
	keys, err := testissuer.LoadKeys(dir)
	require.NoError(t, err)
	path := filepath.Join(dir, "signing-keys.json")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var stored []map[string]any
	require.NoError(t, json.Unmarshal(data, &stored))
	older, _ := json.Marshal(stored[:4]) // as if written before the other roles existed
	require.NoError(t, os.WriteFile(path, older, 0o600))

	again, err := testissuer.LoadKeys(dir)
	require.NoError(t, err)
	for _, role := range []string{testissuer.Primary} {
		for _, alg := range testissuer.Algorithms {
			before, _ := keys.Get(role, alg)
			after, ok := again.Get(role, alg)
			require.True(t, ok)
			require.Equal(t, before.ID, after.ID, "%s %s kept", role, alg)
		}
	}
	_, ok := again.Get(testissuer.NoUse, "ES256")
	require.True(t, ok, "missing roles are made")
}

// TestServer_PublishNeedsAControlMAC: a publish request signed under the
// control token is taken once; the token itself as a bearer token, a MAC
// under another token, a replayed or stale request, and a body changed
// after signing are all refused.
func TestServer_PublishNeedsAControlMAC(t *testing.T) {
	keys, err := testissuer.NewKeys()
	require.NoError(t, err)
	srv, err := testissuer.NewServer(keys.Documents("https://issuer.test"))
	require.NoError(t, err)
	key, err := testissuer.NewKey("ES256")
	require.NoError(t, err)
	body, err := json.Marshal(jwk.Set{Keys: []jwk.Key{key.Public()}})
	require.NoError(t, err)
	publish := func(sign func(*http.Request), send []byte) int {
		req := httptest.NewRequest(http.MethodPost, testissuer.PublishPath, bytes.NewReader(send))
		sign(req)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec.Code
	}
	now := time.Now()
	var signed *http.Request
	valid := func(r *http.Request) { testissuer.SignControl(r, keys.ControlToken, body, now); signed = r }
	require.Equal(t, http.StatusNoContent, publish(valid, body))
	replay := func(r *http.Request) { r.Header.Set("Authorization", signed.Header.Get("Authorization")) }
	require.Equal(t, http.StatusUnauthorized, publish(replay, body), "the same request again")
	require.Equal(t, http.StatusUnauthorized, publish(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+keys.ControlToken) }, body))
	require.Equal(t, http.StatusUnauthorized, publish(func(r *http.Request) { testissuer.SignControl(r, "another-token", body, now) }, body))
	require.Equal(t, http.StatusUnauthorized, publish(func(r *http.Request) {
		testissuer.SignControl(r, keys.ControlToken, body, now.Add(-2*testissuer.ControlWindow))
	}, body), "stale")
	other, err := json.Marshal(jwk.Set{Keys: []jwk.Key{keys.Trusted()[0].Key}})
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, publish(valid, other), "a body changed after signing")
}

// TestServer_PublishesPS256Keys: a PS256 key published over HTTP (KEY-11
// under -alg all at a long-lived issuer) is taken and served with its alg;
// it was answered 400 while the key parser took every RSA key as RS256.
func TestServer_PublishesPS256Keys(t *testing.T) {
	keys, err := testissuer.NewKeys()
	require.NoError(t, err)
	srv, err := testissuer.NewServer(keys.Documents("https://issuer.test"))
	require.NoError(t, err)
	key, err := testissuer.NewKey("PS256")
	require.NoError(t, err)
	body, err := json.Marshal(jwk.Set{Keys: []jwk.Key{key.Public()}})
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, testissuer.PublishPath, bytes.NewReader(body))
	testissuer.SignControl(req, keys.ControlToken, body, time.Now())
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())

	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, testissuer.JWKSPath, nil))
	require.Contains(t, rec.Body.String(), `"kid":"`+key.ID+`"`)
	require.Contains(t, rec.Body.String(), `"alg":"PS256"`)
}
