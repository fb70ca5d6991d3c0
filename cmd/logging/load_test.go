package main

import (
	"net/http"
	"testing"

	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// BenchmarkHTTP measures Logging over loopback with 64 concurrent clients:
// POST /v1/logs with a token (verification and a durable append) against
// GET /healthz in the same run, on SQLite and (with TEST_DATABASE_URL)
// PostgreSQL, the ratio being what docs/benchmarks.md records:
//
//	go test -run '^$' -bench HTTP -benchtime 3s ./cmd/logging/
func BenchmarkHTTP(b *testing.B) {
	iss := testutil.NewIssuer(b)
	tok := iss.Token(b, "careergpt-backend", "logging-service", "logs:write")
	for _, backend := range []struct {
		name string
		env  func(testing.TB) map[string]string
	}{
		{"SQLite", func(tb testing.TB) map[string]string { return map[string]string{} }},
		{"Postgres", func(tb testing.TB) map[string]string { return map[string]string{"DATABASE_URL": dbtest.Postgres(tb)} }},
	} {
		b.Run(backend.name, func(b *testing.B) {
			env := backend.env(b)
			env["TRUSTED_ISSUER"], env["JWKS_URL"], env["DATA_DIR"] = iss.URL, iss.JWKSURL(), b.TempDir()
			p := testutil.Start(b, run, "logging", env)
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
		})
	}
}
