package main

import (
	"io"
	"net/http"
	"strings"
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
	do := func(b *testing.B, method, path string, token func() string, want int) {
		b.SetParallelism(32) // 64 clients on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				var body io.Reader
				if token != nil {
					body = strings.NewReader(notificationBody)
				}
				req, _ := http.NewRequest(method, p.URL+path, body)
				if token != nil {
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+token())
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
	b.Run("HealthzBaseline", func(b *testing.B) { do(b, http.MethodGet, "/healthz", nil, http.StatusOK) })
	b.Run("Send", func(b *testing.B) {
		do(b, http.MethodPost, "/v1/notifications", func() string {
			return iss.Token(b, "careergpt-backend", "notification-service", "notifications:send")
		}, http.StatusAccepted)
	})
}
