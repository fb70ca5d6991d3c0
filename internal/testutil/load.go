package testutil

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Load sends requests from 64 concurrent clients (on 2 cores) for the
// benchmark's duration and fails on any other status than want. header,
// if set, adds headers per request (a fresh token, say).
func Load(b *testing.B, client *http.Client, method, url, body string, header func(http.Header), want int) {
	b.Helper()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(method, url, strings.NewReader(body))
			if header != nil {
				header(req.Header)
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				b.Fatalf("%s %s: %d", method, url, resp.StatusCode)
			}
		}
	})
}
