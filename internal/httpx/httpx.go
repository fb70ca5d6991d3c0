// Package httpx holds the HTTP plumbing every service here shares: serving
// with graceful shutdown, strict JSON decoding, and the healthcheck client.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// ShutdownTimeout bounds how long in-flight requests may run after a stop signal.
const ShutdownTimeout = 10 * time.Second

// newServer returns an http.Server with the timeouts every service uses.
func newServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// Serve serves h on ln until ctx ends, then shuts down gracefully. The caller
// listens first, so a bind error surfaces before anything runs and ":0"
// works in tests.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	srv := newServer(h, logger)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("httpx: shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Healthz answers a liveness probe.
func Healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok\n")
}

// readyTimeout bounds each readiness check: a hung dependency makes the
// answer "not ready", never a hung probe.
const readyTimeout = 2 * time.Second

// Check is one readiness condition: nil when met.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Readyz answers a readiness probe: 200 when every check passes, else 503
// with each check's state, so an operator sees which dependency is
// missing. Liveness stays Healthz: a service that is up but not ready
// must not be restarted for it.
func Readyz(checks ...Check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		states := make(map[string]string, len(checks))
		ready := true
		for _, c := range checks {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			err := c.Run(ctx)
			cancel()
			states[c.Name] = "ok"
			if err != nil {
				ready, states[c.Name] = false, LogBounded(err.Error())
			}
		}
		status := http.StatusOK
		if !ready {
			status = http.StatusServiceUnavailable
		}
		Encode(w, status, map[string]any{"ready": ready, "checks": states})
	}
}

// Healthcheck GETs url and fails unless it answers 200; it is the
// `healthcheck` subcommand, for images that have no shell or curl.
func Healthcheck(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck %s: %s", url, resp.Status)
	}
	return nil
}

// Errors from Decode, for the caller to map to its own error format.
var (
	ErrContentType = errors.New("content type must be application/json")
	ErrTooLarge    = errors.New("request body too large")
	ErrBadJSON     = errors.New("malformed JSON")
)

// Decode reads exactly one JSON object of at most maxBytes into v, refusing
// unknown fields so that a misspelt or forbidden field is an error, not
// silently dropped.
func Decode(w http.ResponseWriter, r *http.Request, maxBytes int64, v any) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return ErrContentType
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	// Anything after the value, even a lone } or ], makes the body malformed.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return decodeError(err)
		}
		return fmt.Errorf("%w: data after the JSON value", ErrBadJSON)
	}
	return nil
}

// ErrUnreadable is a body that could not be read (the connection failed);
// its cause stays in the log, it names socket addresses.
var ErrUnreadable = errors.New("request body could not be read")

func decodeError(err error) error {
	var tooLarge *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		return ErrTooLarge
	case errors.As(err, &syntax), errors.As(err, &typ), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		strings.HasPrefix(err.Error(), "json: unknown field"):
		return fmt.Errorf("%w: %w", ErrBadJSON, err)
	}
	return fmt.Errorf("%w: %w", ErrUnreadable, err)
}

// DecodeDescription is what a client is told about an error from Decode:
// what was wrong with the JSON, never the transport's error text.
func DecodeDescription(err error) string {
	if errors.Is(err, ErrUnreadable) {
		return ErrUnreadable.Error()
	}
	return err.Error()
}

// DecodeStatus is the HTTP status for an error from Decode.
func DecodeStatus(err error) int {
	switch {
	case errors.Is(err, ErrContentType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// Encode writes v as JSON with status.
func Encode(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Error writes {"error": code, "error_description": description}.
func Error(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Cache-Control", "no-store")
	Encode(w, status, map[string]string{"error": code, "error_description": description})
}

// RetryAfterUnavailable is the Retry-After of a 503: how soon a client
// may try again when this service could not reach what it depends on.
const RetryAfterUnavailable = "5"

// Unavailable answers 503 temporarily_unavailable with Retry-After: the
// request was fine, this service could not serve it now.
func Unavailable(w http.ResponseWriter, description string) {
	w.Header().Set("Retry-After", RetryAfterUnavailable)
	Error(w, http.StatusServiceUnavailable, "temporarily_unavailable", description)
}

// MaxLogValueBytes bounds text a caller chose (a claimed client id, a kid,
// an error quoting either) as it reaches a log line.
const MaxLogValueBytes = 256

// LogBounded cuts s to MaxLogValueBytes on a rune boundary, marking the
// cut, so that no request can write more than that to a log through it.
// slog's handlers quote and escape what remains.
func LogBounded(s string) string {
	if cut, ok := Truncate(s, MaxLogValueBytes); ok {
		return cut + fmt.Sprintf("…(cut at %d bytes)", MaxLogValueBytes)
	}
	return s
}

// Truncate returns s cut to at most n bytes without splitting a UTF-8
// sequence, and whether it cut anything. Invalid bytes are left to the
// caller's escaping.
func Truncate(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	end := n
	for end > 0 && end > n-utf8.UTFMax && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end], true
}
