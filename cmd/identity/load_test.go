package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s2sjwt/s2sjwt/identity"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// BenchmarkTokenEndpoint measures the token endpoint over loopback from 64
// concurrent clients: private_key_jwt (an assertion to verify and its jti
// to store durably; the assertions are signed before the timer starts)
// against client_secret_basic of the same server, on SQLite and (with
// TEST_DATABASE_URL) PostgreSQL. The server is its own process, pinned to
// CPU 0; run the client on CPU 1:
//
//	taskset -c 1 go test -run '^$' -bench TokenEndpoint -benchtime 3s ./cmd/identity/
func BenchmarkTokenEndpoint(b *testing.B) {
	const secret = "load-benchmark-secret-not-a-real-one-0123456789"
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	kid, _ := jwk.Thumbprint(pub)
	registry := map[string]any{
		"audiences": map[string]any{"logging-service": map[string]any{"max_ttl": "5m", "scopes": []string{"logs:write"}}},
		"clients": []any{
			map[string]any{"client_id": "bench-basic", "auth_method": "client_secret_basic", "secret_sha256": identity.HashSecret(secret),
				"allow": map[string]any{"logging-service": []string{"logs:write"}}},
			map[string]any{"client_id": "bench-jwt", "auth_method": "private_key_jwt",
				"jwks":  jwk.Set{Keys: []jwk.Key{{ID: kid, Algorithm: jwk.EdDSA, Public: pub}}},
				"allow": map[string]any{"logging-service": []string{"logs:write"}}},
		},
	}
	data, err := json.Marshal(registry)
	if err != nil {
		b.Fatal(err)
	}
	registryPath := filepath.Join(b.TempDir(), "registry.json")
	if err := os.WriteFile(registryPath, data, 0o600); err != nil {
		b.Fatal(err)
	}
	bin := testutil.BuildBinary(b)
	const form = "grant_type=client_credentials&audience=logging-service"
	for _, backend := range testutil.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			env := append(backend.Env(b), "IDENTITY_REGISTRY="+registryPath, "IDENTITY_ISSUER=http://identity.test",
				"IDENTITY_KEY_SECRET=load-benchmark-key-secret-0123456789-0123456789")
			_, base := testutil.StartBinary(b, bin, env, testutil.PinToFirstCPU()...)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.Run("ClientSecretBasicBaseline", func(b *testing.B) {
				testutil.Load(b, client, http.MethodPost, base+"/oauth2/token", form, func(h http.Header) {
					h.Set("Content-Type", "application/x-www-form-urlencoded")
					h.Set("Authorization", "Basic "+basicAuth("bench-basic", secret))
				}, http.StatusOK)
			})
			b.Run("PrivateKeyJWT", func(b *testing.B) {
				bodies := make([]string, b.N)
				for i := range bodies {
					bodies[i] = form + "&client_assertion_type=" + url.QueryEscape(identity.JWTBearerAssertion) +
						"&client_assertion=" + assertion(b, priv, kid)
				}
				var next atomic.Int64
				b.ResetTimer()
				testutil.LoadBodies(b, client, http.MethodPost, base+"/oauth2/token", func() string { return bodies[next.Add(1)-1] }, func(h http.Header) {
					h.Set("Content-Type", "application/x-www-form-urlencoded")
				}, http.StatusOK)
			})
		})
	}
}

func assertion(b *testing.B, priv ed25519.PrivateKey, kid string) string {
	var id [16]byte
	_, _ = rand.Read(id[:])
	now := time.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.RegisteredClaims{Issuer: "bench-jwt", Subject: "bench-jwt",
		Audience: jwt.ClaimStrings{"http://identity.test/oauth2/token"}, ID: fmt.Sprintf("%x", id),
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(4 * time.Minute))})
	t.Header["kid"] = kid
	signed, err := t.SignedString(priv)
	if err != nil {
		b.Fatal(err)
	}
	return signed
}

func basicAuth(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(id + ":" + secret))
}
