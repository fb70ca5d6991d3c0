package careergpt_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"testing"

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
