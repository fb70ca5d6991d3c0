package telemetry_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/s2sjwt/s2sjwt/internal/telemetry"
)

// BenchmarkHandler is a request through the tracing wrapper against the
// bare handler, with spans recorded (as when exporting) and not (the
// default, no exporter): the differences are tracing's cost per request.
//
//	go test -run '^$' -bench Handler -count 6 ./internal/telemetry/
func BenchmarkHandler(b *testing.B) {
	bare := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, tc := range []struct {
		name    string
		sampler sdktrace.Sampler
		h       http.Handler
	}{
		{"bare", nil, bare},
		{"traced-unrecorded", sdktrace.NeverSample(), telemetry.Handler(bare, "logging")},
		{"traced-recorded", sdktrace.AlwaysSample(), telemetry.Handler(bare, "logging")},
	} {
		if tc.sampler != nil {
			telemetry.Install(sdktrace.NewTracerProvider(sdktrace.WithSampler(tc.sampler)))
		}
		b.Run(tc.name, func(b *testing.B) {
			h := tc.h
			req := httptest.NewRequest(http.MethodPost, "/v1/logs", nil)
			req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
