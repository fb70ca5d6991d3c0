package main

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// BenchmarkHTTP measures single-use notifications over loopback from 64
// concurrent clients, each request with a fresh token minted before the
// timer starts, against GET /healthz of the same server, on SQLite and
// (with TEST_DATABASE_URL) PostgreSQL. The server is its own process,
// pinned to CPU 0; run the client on CPU 1:
//
//	taskset -c 1 go test -run '^$' -bench HTTP -benchtime 3s ./cmd/notification/
func BenchmarkHTTP(b *testing.B) {
	bin := testutil.BuildBinary(b)
	iss := testutil.NewIssuer(b)
	for _, backend := range testutil.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			env := append(backend.Env(b), "TRUSTED_ISSUER="+iss.URL, "JWKS_URL="+iss.JWKSURL())
			url, client := testutil.LoadServer(b, bin, env)
			b.Run("Send", func(b *testing.B) {
				tokens := make([]string, b.N)
				for i := range tokens {
					tokens[i] = iss.Token(b, "careergpt-backend", "notification-service", "notifications:send")
				}
				var next atomic.Int64
				b.ResetTimer()
				testutil.Load(b, client, http.MethodPost, url+"/v1/notifications", notificationBody, func(h http.Header) {
					h.Set("Content-Type", "application/json")
					h.Set("Authorization", "Bearer "+tokens[next.Add(1)-1])
				}, http.StatusAccepted)
			})
		})
	}
}
