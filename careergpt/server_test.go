package careergpt_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/careergpt"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

func newServer(t *testing.T) *careergpt.Server {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	// Peers that do not exist: these tests stop at the door.
	s, err := careergpt.NewServer(careergpt.Config{IdentityURL: "http://127.0.0.1:1", LoggingURL: "http://127.0.0.1:1",
		NotificationURL: "http://127.0.0.1:1", AllowedHosts: []string{"careergpt-ui"}},
		careergpt.Deps{Key: jwk.Key{ID: "k", Algorithm: jwk.EdDSA, Public: pub}, Signer: priv})
	require.NoError(t, err)
	return s
}

// TestServer_RefusesRequestsNotMeantForIt: CareerGPT acts with its own
// tokens, so a cross-site form and a rebound host name get nothing.
func TestServer_RefusesRequestsNotMeantForIt(t *testing.T) {
	s := newServer(t)
	tests := []struct {
		name, method, path, host string
		header                   map[string]string
		want                     int
	}{
		{"CrossSiteFormPost", http.MethodPost, "/v1/steps/replay", "127.0.0.1:9000",
			map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Content-Type": "application/x-www-form-urlencoded"}, http.StatusForbidden},
		{"ReboundHostReadsAudit", http.MethodGet, "/v1/audit", "attacker.example:9000", nil, http.StatusMisdirectedRequest},
		{"ReboundHostPlays", http.MethodPost, "/v1/scenario", "attacker.example", nil, http.StatusMisdirectedRequest},
		{"SameOriginPageAllowed", http.MethodPost, "/v1/steps/no-such-step", "127.0.0.1:9000",
			map[string]string{"Origin": "http://127.0.0.1:9000", "Sec-Fetch-Site": "same-origin"}, http.StatusNotFound},
		{"ConfiguredHostAllowed", http.MethodGet, "/app.js", "careergpt-ui:8080", nil, http.StatusOK},
		{"HostInCapitals", http.MethodGet, "/app.js", "LOCALHOST:9000", nil, http.StatusOK},
		{"ConfiguredHostInCapitals", http.MethodGet, "/app.js", "CareerGPT-UI", nil, http.StatusOK},
		{"LoopbackIPv6Allowed", http.MethodGet, "/style.css", "[::1]:9000", nil, http.StatusOK},
		{"PublicKeyForAnyHost", http.MethodGet, "/.well-known/jwks.json", "careergpt:8080", nil, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			req.Host = tt.host
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			require.Equal(t, tt.want, rec.Code, rec.Body.String())
		})
	}
}

// TestServer_QueuedActionLeavesWithItsCaller: while one action holds the
// scenario (here asleep in the expiry step), a caller that gives up is not
// kept waiting behind it.
func TestServer_QueuedActionLeavesWithItsCaller(t *testing.T) {
	identity := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// {"alg":"EdDSA"}.{"sub":"careergpt-backend","aud":"logging-service"}.sig: shaped like a token.
		_, _ = w.Write([]byte(`{"access_token":"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJjYXJlZXJncHQtYmFja2VuZCIsImF1ZCI6ImxvZ2dpbmctc2VydmljZSJ9.c2ln","token_type":"Bearer","expires_in":1}`))
	}))
	t.Cleanup(identity.Close)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	asleep, wake := make(chan struct{}), make(chan struct{})
	s, err := careergpt.NewServer(careergpt.Config{IdentityURL: identity.URL, LoggingURL: "http://127.0.0.1:1", NotificationURL: "http://127.0.0.1:1"},
		careergpt.Deps{Key: jwk.Key{ID: "k", Algorithm: jwk.EdDSA, Public: pub}, Signer: priv,
			Sleep: func(context.Context, time.Duration) error { close(asleep); <-wake; return nil }})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { _, _ = s.Play(context.Background(), "expired"); close(done) }()
	<-asleep

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.Play(ctx, "stolen")
	require.ErrorIs(t, err, context.Canceled)
	close(wake)
	<-done
}
