package main

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// BenchmarkHTTP measures single-use notifications over loopback with 64
// concurrent clients, each request with a fresh token minted before the
// timer starts, against GET /healthz of the same process, on SQLite and
// (with TEST_DATABASE_URL) PostgreSQL:
//
//	go test -run '^$' -bench HTTP -benchtime 3s ./cmd/notification/
func BenchmarkHTTP(b *testing.B) {
	iss := testutil.NewIssuer(b)
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
			p := testutil.Start(b, run, "notification", env)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.Run("HealthzBaseline", func(b *testing.B) {
				testutil.Load(b, client, http.MethodGet, p.URL+"/healthz", "", nil, http.StatusOK)
			})
			b.Run("Send", func(b *testing.B) {
				tokens := make([]string, b.N)
				for i := range tokens {
					tokens[i] = iss.Token(b, "careergpt-backend", "notification-service", "notifications:send")
				}
				var next atomic.Int64
				b.ResetTimer()
				testutil.Load(b, client, http.MethodPost, p.URL+"/v1/notifications", notificationBody, func(h http.Header) {
					h.Set("Content-Type", "application/json")
					h.Set("Authorization", "Bearer "+tokens[next.Add(1)-1])
				}, http.StatusAccepted)
			})
		})
	}
}
