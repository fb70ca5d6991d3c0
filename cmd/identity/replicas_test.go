package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/identity"
	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

// TestReplicas_RotationServedByEveryReplica: two Identity replicas on one
// PostgreSQL database publish the same keys; a rotation made at one is
// published by the other within a second, and once its publish lead has
// passed both sign with the new key.
func TestReplicas_RotationServedByEveryReplica(t *testing.T) {
	const adminSecret = "admin-secret-for-this-test-only-0123456789"
	const clientSecret = "conformance-only-not-a-real-secret-6f1c0e9a4b7d2c85"
	registry, err := filepath.Abs("../../conformance/targets/local-registry.json")
	require.NoError(t, err)
	env := map[string]string{
		"DATABASE_URL": dbtest.Postgres(t), "IDENTITY_KEY_SECRET": "identity-key-secret-for-tests-only-0123456789",
		"IDENTITY_REGISTRY": registry, "IDENTITY_ISSUER": "http://identity.test", "IDENTITY_PUBLISH_LEAD": "2s",
		"IDENTITY_ADMIN_SECRET_SHA256": identity.HashSecret(adminSecret),
	}
	a := testutil.Start(t, run, "identity", testutil.WithEnv(env, "DATA_DIR", t.TempDir()))
	b := testutil.Start(t, run, "identity", testutil.WithEnv(env, "DATA_DIR", t.TempDir()))
	require.Equal(t, jwksKIDs(t, a.URL), jwksKIDs(t, b.URL), "one first key, not one per replica")

	req, _ := http.NewRequest(http.MethodPost, a.URL+"/admin/rotate-keys", nil)
	req.SetBasicAuth("admin", adminSecret)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var rotated struct {
		KID string `json:"kid"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&rotated))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	require.Eventually(t, func() bool { return strings.Contains(strings.Join(jwksKIDs(t, b.URL), " "), rotated.KID) },
		3*time.Second, 50*time.Millisecond, "the other replica publishes the new key")
	require.Eventually(t, func() bool {
		return tokenKID(t, a.URL, clientSecret) == rotated.KID && tokenKID(t, b.URL, clientSecret) == rotated.KID
	}, 5*time.Second, 100*time.Millisecond, "both sign with it after the publish lead")
}

func jwksKIDs(t *testing.T, base string) []string {
	t.Helper()
	_, body := testutil.Do(t, http.MethodGet, base+"/.well-known/jwks.json", "", "")
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &set))
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KID)
	}
	return kids
}

// tokenKID gets a token at base and returns the kid it was signed with.
func tokenKID(t *testing.T, base, secret string) string {
	t.Helper()
	resp := testutil.RequestToken(t, base, "conformance-suite", secret, "logging-service")
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	parsed, _, err := jwt.NewParser().ParseUnverified(tok.AccessToken, jwt.MapClaims{})
	require.NoError(t, err)
	kid, _ := parsed.Header["kid"].(string)
	return kid
}

// TestReplicas_DPoPNonceFromOneWorksAtTheOther: with nonces on, a client's
// first request gets a nonce from one replica and its retry, carrying it,
// reaches the other (as behind a load balancer); the other accepts it.
func TestReplicas_DPoPNonceFromOneWorksAtTheOther(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	kid, err := jwk.Thumbprint(pub)
	require.NoError(t, err)
	clientKey := jwk.Key{ID: kid, Algorithm: jwk.EdDSA, Public: pub}
	registry, err := json.Marshal(map[string]any{
		"audiences": map[string]any{"logging-service": map[string]any{"max_ttl": "5m", "scopes": []string{"logs:write"}}},
		"clients": []any{map[string]any{"client_id": "replica-client", "auth_method": "private_key_jwt",
			"jwks": jwk.Set{Keys: []jwk.Key{clientKey}}, "allow": map[string]any{"logging-service": []string{"logs:write"}}}},
	})
	require.NoError(t, err)
	registryPath := filepath.Join(t.TempDir(), "registry.json")
	require.NoError(t, os.WriteFile(registryPath, registry, 0o600))
	env := map[string]string{
		"DATABASE_URL": dbtest.Postgres(t), "IDENTITY_KEY_SECRET": "identity-key-secret-for-tests-only-0123456789",
		"IDENTITY_REGISTRY": registryPath, "IDENTITY_ISSUER": "http://identity.test", "IDENTITY_DPOP_NONCE": "true",
	}
	a := testutil.Start(t, run, "identity", testutil.WithEnv(env, "DATA_DIR", t.TempDir()))
	b := testutil.Start(t, run, "identity", testutil.WithEnv(env, "DATA_DIR", t.TempDir()))

	_, dpopKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	balancer := &alternate{backends: []string{a.URL, b.URL}}
	client := &tokenclient.Client{TokenURL: "http://identity.test/oauth2/token", ClientID: "replica-client",
		Key: clientKey, Signer: priv, DPoPKey: dpopKey, HTTP: &http.Client{Transport: balancer}}
	for range 4 {
		tok, err := client.Token(context.Background(), tokenclient.Request{Audience: "logging-service", DPoP: true})
		require.NoError(t, err)
		require.Equal(t, "DPoP", tok.Type)
	}
	require.Equal(t, 8, balancer.sent, "every token took a nonce round trip, across replicas")
}

// alternate sends each request to the next of its backends in turn.
type alternate struct {
	backends []string
	sent     int
}

func (l *alternate) RoundTrip(r *http.Request) (*http.Response, error) {
	target, err := url.Parse(l.backends[l.sent%len(l.backends)])
	if err != nil {
		return nil, err
	}
	l.sent++
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = target.Scheme, target.Host
	return http.DefaultTransport.RoundTrip(r)
}

// TestReplicas_CorrectSecretAfterFailuresAtBoth: ten failures under a
// client's id from its own address at each of two replicas, neither of
// which saw it succeed, and its correct secret gets a token at both.
func TestReplicas_CorrectSecretAfterFailuresAtBoth(t *testing.T) {
	const clientSecret = "conformance-only-not-a-real-secret-6f1c0e9a4b7d2c85"
	registry, err := filepath.Abs("../../conformance/targets/local-registry.json")
	require.NoError(t, err)
	env := map[string]string{
		"DATABASE_URL": dbtest.Postgres(t), "IDENTITY_KEY_SECRET": "identity-key-secret-for-tests-only-0123456789",
		"IDENTITY_REGISTRY": registry, "IDENTITY_ISSUER": "http://identity.test",
	}
	replicas := []*testutil.Process{
		testutil.Start(t, run, "identity", testutil.WithEnv(env, "DATA_DIR", t.TempDir())),
		testutil.Start(t, run, "identity", testutil.WithEnv(env, "DATA_DIR", t.TempDir())),
	}
	post := func(base, secret string) int {
		resp := testutil.RequestToken(t, base, "conformance-suite", secret, "logging-service")
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, r := range replicas {
		for i := range 10 {
			require.Contains(t, []int{401, 429}, post(r.URL, fmt.Sprintf("attacker-guess-%02d-0123456789abcdef0123456789", i)))
		}
	}
	for _, r := range replicas {
		require.Equal(t, http.StatusOK, post(r.URL, clientSecret))
	}
}
