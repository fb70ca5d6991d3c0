package identity_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/s2sjwt/s2sjwt/identity"
	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// BenchmarkIssueToken measures the token endpoint's handler for a
// client_secret_basic request (form parsing, client authentication, policy,
// claims, EdDSA signature) against a bare Ed25519 signature of a token-sized
// message, in the same run; and with a status list, whose slot is stored
// durably before the token is returned, one request at a time and 64 at
// once. Run on one core for issuance per core:
//
//	go test -run '^$' -bench 'IssueToken' -benchmem -cpu 1 ./identity/
func BenchmarkIssueToken(b *testing.B) {
	reg := &identity.Registry{
		Audiences: map[string]identity.Audience{"logging-service": {MaxTTL: identity.Duration(5 * time.Minute), Scopes: []string{"logs:write"}}},
		Clients: []identity.Client{{ID: "suite", AuthMethod: identity.ClientSecretBasic, SecretSHA256: identity.HashSecret(secret),
			Allow: map[string][]string{"logging-service": {"logs:write"}}}},
	}
	db := openDB(b, dbtest.SQLite(b))
	keys := openKeys(b, db, identity.KeyStoreConfig{RotationInterval: time.Hour, Retain: time.Hour})
	cfg := identity.Config{Issuer: "http://identity.test", Registry: reg}
	deps := identity.Deps{Keys: keys, Replay: testutil.Replay(b, db, nil)}
	h, err := identity.NewServer(cfg, deps)
	if err != nil {
		b.Fatal(err)
	}
	deps.Status = identity.NewStatusList(db, 0, nil)
	withStatus, err := identity.NewServer(cfg, deps)
	if err != nil {
		b.Fatal(err)
	}
	const body = "grant_type=client_credentials&audience=logging-service"
	b.Run("RawEd25519Sign", func(b *testing.B) {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		msg := []byte(strings.Repeat("x", 330)) // about a token's signing input
		b.ReportAllocs()
		for b.Loop() {
			ed25519.Sign(priv, msg)
		}
	})
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"Handler", h}, {"HandlerWithStatusList", withStatus}} {
		h := tc.h
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if rec := issue(h, body); rec.Code != http.StatusOK {
					b.Fatal(rec.Code, rec.Body.String())
				}
			}
		})
	}
	// Concurrent requests share the slots' commits (group commit): 64
	// requests in flight per core.
	b.Run("StatusListConcurrent", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(64)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if rec := issue(withStatus, body); rec.Code != http.StatusOK {
					b.Error(rec.Code, rec.Body.String())
					return
				}
			}
		})
	})
}

// issue makes one client_secret_basic token request of h as "suite".
func issue(h http.Handler, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("suite", secret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// BenchmarkExchange is a token exchange (RFC 8693) at the handler against
// the client credentials grant, in the same run: verifying the subject
// token and storing its use durably (the single-exchange rule) is what an
// exchange adds. Each exchange gets a fresh subject token, issued with the
// timer stopped.
//
//	go test -run '^$' -bench 'Exchange' -benchmem -cpu 1 ./identity/
func BenchmarkExchange(b *testing.B) {
	e := newEnv(b, withDelegation)
	post := func(body string, basic ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(basic[0], basic[1])
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code, rec.Body.String())
		}
		return rec
	}
	b.Run("ClientCredentials", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			post("grant_type=client_credentials&audience=logging-service", notificationBasic...)
		}
	})
	b.Run("Exchange", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			subject := e.careergptToken(b, "notification-service")
			b.StartTimer()
			post(exchangeBody(subject), notificationBasic...)
		}
	})
}
