package main

import (
	"net/http"
	"testing"

	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// BenchmarkHTTP measures Logging over loopback from 64 concurrent
// clients: POST /v1/logs with a token (verification and a durable append)
// against GET /healthz of the same server, on SQLite and (with
// TEST_DATABASE_URL) PostgreSQL. The server is its own process, pinned to
// CPU 0; run the client on CPU 1:
//
//	taskset -c 1 go test -run '^$' -bench HTTP -benchtime 3s ./cmd/logging/
func BenchmarkHTTP(b *testing.B) {
	bin := testutil.BuildBinary(b)
	iss := testutil.NewIssuer(b)
	tok := iss.Token(b, "careergpt-backend", "logging-service", "logs:write")
	for _, backend := range testutil.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			env := append(backend.Env(b), "TRUSTED_ISSUER="+iss.URL, "JWKS_URL="+iss.JWKSURL())
			url, client := testutil.LoadServer(b, bin, env)
			b.Run("AppendLog", func(b *testing.B) {
				testutil.Load(b, client, http.MethodPost, url+"/v1/logs", `{"message":"load"}`, func(h http.Header) {
					h.Set("Content-Type", "application/json")
					h.Set("Authorization", "Bearer "+tok)
				}, http.StatusCreated)
			})
		})
	}
}
