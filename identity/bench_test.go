package identity_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/s2sjwt/s2sjwt/identity"
	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/replay"
)

// BenchmarkIssueToken measures the token endpoint's handler for a
// client_secret_basic request (form parsing, client authentication, policy,
// claims, EdDSA signature) against a bare Ed25519 signature of a token-sized
// message, in the same run. Run on one core for issuance per core:
//
//	go test -run '^$' -bench 'IssueToken' -benchmem -cpu 1 ./identity/
func BenchmarkIssueToken(b *testing.B) {
	clientPub, clientPriv, _ := ed25519.GenerateKey(rand.Reader)
	clientKey := jwk.Key{ID: "bench-client", Algorithm: jwk.EdDSA, Public: clientPub}
	reg := &identity.Registry{
		Audiences: map[string]identity.Audience{"logging-service": {MaxTTL: identity.Duration(5 * time.Minute), Scopes: []string{"logs:write"}}},
		Clients: []identity.Client{{ID: "suite", AuthMethod: identity.ClientSecretBasic, SecretSHA256: identity.HashSecret(secret),
			Allow: map[string][]string{"logging-service": {"logs:write"}}},
			{ID: "careergpt-backend", AuthMethod: identity.PrivateKeyJWT, JWKS: &jwk.Set{Keys: []jwk.Key{clientKey}},
				Allow: map[string][]string{"logging-service": {"logs:write"}}}},
	}
	newHandler := func(b *testing.B, url string) http.Handler {
		db := openDB(b, url)
		keys := openKeys(b, db, identity.KeyStoreConfig{RotationInterval: time.Hour, Retain: time.Hour})
		h, err := identity.NewServer(identity.Config{Issuer: "http://identity.test", Registry: reg}, identity.Deps{Keys: keys, Replay: replay.New(db, nil)})
		if err != nil {
			b.Fatal(err)
		}
		return h
	}
	const body = "grant_type=client_credentials&audience=logging-service"
	// post sends one token request and fails the benchmark unless it gets a token.
	post := func(b *testing.B, h http.Handler, form string, basic bool) {
		req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth("suite", secret)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
	// assertions signs n client assertions, before the timer starts: the
	// client's cost is not the endpoint's.
	assertions := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			var id [16]byte
			_, _ = rand.Read(id[:])
			now := time.Now()
			a := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.RegisteredClaims{Issuer: "careergpt-backend", Subject: "careergpt-backend",
				Audience: jwt.ClaimStrings{"http://identity.test/oauth2/token"}, ID: fmt.Sprintf("%x", id),
				IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))})
			a.Header["kid"] = clientKey.ID
			signed, _ := a.SignedString(clientPriv)
			out[i] = body + "&client_assertion_type=" + url.QueryEscape(identity.JWTBearerAssertion) + "&client_assertion=" + signed
		}
		return out
	}

	b.Run("RawEd25519Sign", func(b *testing.B) {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		msg := []byte(strings.Repeat("x", 330)) // about a token's signing input
		b.ReportAllocs()
		for b.Loop() {
			ed25519.Sign(priv, msg)
		}
	})
	// Parallel: 64 concurrent requests on 2 cores, as a busy identity sees
	// them. private_key_jwt verifies an assertion and stores its jti
	// durably (group-committed), on SQLite and (with TEST_DATABASE_URL)
	// PostgreSQL.
	for _, backend := range []struct {
		name string
		url  func(testing.TB) string
	}{{"SQLite", dbtest.SQLite}, {"Postgres", dbtest.Postgres}} {
		b.Run(backend.name, func(b *testing.B) {
			h := newHandler(b, backend.url(b))
			b.Run("ClientSecretBasicParallel", func(b *testing.B) {
				b.SetParallelism(32)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						post(b, h, body, true)
					}
				})
			})
			b.Run("PrivateKeyJWTParallel", func(b *testing.B) {
				forms := assertions(b.N)
				var next atomic.Int64
				b.ResetTimer()
				b.SetParallelism(32)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						post(b, h, forms[next.Add(1)-1], false)
					}
				})
			})
		})
	}
	b.Run("Handler", func(b *testing.B) {
		h := newHandler(b, dbtest.SQLite(b))
		b.ReportAllocs()
		for b.Loop() {
			post(b, h, body, true)
		}
	})
}
