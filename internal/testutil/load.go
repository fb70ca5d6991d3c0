package testutil

import (
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// Load sends requests from 64 concurrent clients for the benchmark's
// duration and fails on any other status than want. header, if set, adds
// headers per request (a fresh token, say).
func Load(b *testing.B, client *http.Client, method, url, body string, header func(http.Header), want int) {
	b.Helper()
	LoadBodies(b, client, method, url, func() string { return body }, header, want)
}

// LoadBodies is Load with a body per request from body.
func LoadBodies(b *testing.B, client *http.Client, method, url string, body func() string, header func(http.Header), want int) {
	b.Helper()
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(method, url, strings.NewReader(body()))
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

// LoadServer starts bin as a server of its own, pinned to CPU 0 where it
// can be (PinToFirstCPU), runs GET /healthz as the sub-benchmark
// "HealthzBaseline", and returns the server's URL and a client for the
// requests measured against that baseline.
func LoadServer(b *testing.B, bin string, env []string) (url string, client *http.Client) {
	b.Helper()
	_, url = StartBinary(b, bin, env, PinToFirstCPU()...)
	client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Run("HealthzBaseline", func(b *testing.B) {
		Load(b, client, http.MethodGet, url+"/healthz", "", nil, http.StatusOK)
	})
	return url, client
}
