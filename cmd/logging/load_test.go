package main

import (
	"net/http"
	"testing"

	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// BenchmarkHTTP measures Logging over loopback with 64 concurrent clients:
// POST /v1/logs with a token (verification and a durable append) against
// GET /healthz in the same run, the ratio being what docs/benchmarks.md
// records:
//
//	go test -run '^$' -bench HTTP -benchtime 3s ./cmd/logging/
func BenchmarkHTTP(b *testing.B) {
	iss := testutil.NewIssuer(b)
	p := testutil.Start(b, run, "logging", map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(), "DATA_DIR": b.TempDir()})
	tok := iss.Token(b, "careergpt-backend", "logging-service", "logs:write")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Run("HealthzBaseline", func(b *testing.B) {
		testutil.Load(b, client, http.MethodGet, p.URL+"/healthz", "", nil, http.StatusOK)
	})
	b.Run("AppendLog", func(b *testing.B) {
		testutil.Load(b, client, http.MethodPost, p.URL+"/v1/logs", `{"message":"load"}`, func(h http.Header) {
			h.Set("Content-Type", "application/json")
			h.Set("Authorization", "Bearer "+tok)
		}, http.StatusCreated)
	})
}
