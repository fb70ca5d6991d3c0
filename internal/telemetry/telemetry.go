// Package telemetry is the services' OpenTelemetry tracing: a W3C
// traceparent is continued on every request a service serves and sent on
// every call it makes, so one scenario step is one trace across
// CareerGPT, Identity, Notification and Logging. Spans are always made
// (their ids go into log lines); they leave the process only when the
// OpenTelemetry environment asks for it (OTEL_TRACES_EXPORTER=otlp, or an
// OTEL_EXPORTER_OTLP_ENDPOINT / _TRACES_ENDPOINT), over OTLP/HTTP, as the
// SDK's documented variables configure it. No exporter by default.
//
//	shutdown, err := telemetry.Setup(ctx, os.Getenv, "logging")
//	defer shutdown(context.Background())
//	handler = telemetry.Handler(handler, "logging")
//	client := &http.Client{Transport: telemetry.Transport(nil)}
package telemetry

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// Setup installs the process's tracer provider for service and the W3C
// propagator, with an OTLP exporter only if the environment configures
// one. shutdown flushes it. Once a provider is installed (by a test, or a
// process that runs several services) Setup leaves it.
func Setup(ctx context.Context, getenv func(string) string, service string) (shutdown func(context.Context) error, err error) {
	if installed.Load() {
		return func(context.Context) error { return nil }, nil
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service)))}
	if exporting(getenv) {
		exp, err := otlptracehttp.New(ctx) // reads the OTEL_EXPORTER_OTLP_* variables
		if err != nil {
			return nil, err
		}
		opts = append(opts, sdktrace.WithBatcher(exp)) // sampled as OTEL_TRACES_SAMPLER says (all by default)
	} else {
		// Nothing to export to: spans are not recorded, which costs a
		// fraction of recording them (docs/benchmarks.md), while trace ids
		// are still made, continued and sent, for log lines and the page.
		opts = append(opts, sdktrace.WithSampler(sdktrace.NeverSample()))
	}
	return Install(sdktrace.NewTracerProvider(opts...)), nil
}

// installed is whether a provider has been installed in this process.
var installed atomic.Bool

func exporting(getenv func(string) string) bool {
	return getenv("OTEL_TRACES_EXPORTER") == "otlp" ||
		getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Install makes tp the process's tracer provider (tests pass one with an
// in-memory exporter) and returns its shutdown.
func Install(tp *sdktrace.TracerProvider) func(context.Context) error {
	installed.Store(true)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return tp.Shutdown
}

// Handler continues the caller's trace (traceparent) in a span per
// request, named after the service and the method ("logging POST"): never
// after the path, which any caller chooses.
func Handler(h http.Handler, service string) http.Handler {
	return otelhttp.NewHandler(h, service, otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
		return service + " " + method(r.Method)
	}))
}

// method is a request method as a span name may carry it: one of HTTP's.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// Transport sends the current trace on each call, in a span of its own;
// nil base is http.DefaultTransport.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return otelhttp.NewTransport(base)
}

// TraceID is ctx's trace id, "" outside a trace: for log lines and pages.
func TraceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}

// Attr is the trace id as a log attribute, empty outside a trace.
func Attr(ctx context.Context) slog.Attr { return slog.String("trace_id", TraceID(ctx)) }
