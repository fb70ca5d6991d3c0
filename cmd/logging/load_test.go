package main

import (
	"io"
	"net/http"
	"strings"
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
	do := func(b *testing.B, method, path, body string, want int) {
		b.SetParallelism(32) // 64 clients on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest(method, p.URL+path, strings.NewReader(body))
				if body != "" {
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					b.Fatalf("%s %s: %d", method, path, resp.StatusCode)
				}
			}
		})
	}
	b.Run("HealthzBaseline", func(b *testing.B) { do(b, http.MethodGet, "/healthz", "", http.StatusOK) })
	b.Run("AppendLog", func(b *testing.B) { do(b, http.MethodPost, "/v1/logs", `{"message":"load"}`, http.StatusCreated) })
}
