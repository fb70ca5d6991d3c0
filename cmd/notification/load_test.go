package main

import (
	"net/http"
	"testing"

	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// BenchmarkHTTP measures single-use notifications over loopback with 64
// concurrent clients, each request with a fresh token (minted by the
// client, as part of the measured loop), against GET /healthz:
//
//	go test -run '^$' -bench HTTP -benchtime 3s ./cmd/notification/
func BenchmarkHTTP(b *testing.B) {
	iss := testutil.NewIssuer(b)
	p := testutil.Start(b, run, "notification", map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(), "DATA_DIR": b.TempDir()})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Run("HealthzBaseline", func(b *testing.B) {
		testutil.Load(b, client, http.MethodGet, p.URL+"/healthz", "", nil, http.StatusOK)
	})
	b.Run("Send", func(b *testing.B) {
		testutil.Load(b, client, http.MethodPost, p.URL+"/v1/notifications", notificationBody, func(h http.Header) {
			h.Set("Content-Type", "application/json")
			h.Set("Authorization", "Bearer "+iss.Token(b, "careergpt-backend", "notification-service", "notifications:send"))
		}, http.StatusAccepted)
	})
}
