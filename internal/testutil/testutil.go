// Package testutil helps tests run real service binaries' run functions and
// mint tokens from a throwaway issuer.
package testutil

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/httpx"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/replay"
	"github.com/s2sjwt/s2sjwt/internal/runner"
)

// Issuer is a test token issuer serving its JWKS over HTTP.
type Issuer struct {
	URL  string
	key  ed25519.PrivateKey
	kid  string
	srv  *httptest.Server
	jwks jwk.Set

	hung    atomic.Bool
	release chan struct{}
}

// Hang makes the issuer accept requests and never answer them, as a frozen
// process would, until the test ends.
func (iss *Issuer) Hang() { iss.hung.Store(true) }

// Unhang makes the issuer answer again; requests already hung stay so.
func (iss *Issuer) Unhang() { iss.hung.Store(false) }

// NewIssuer starts an issuer whose URL is also its "iss".
func NewIssuer(tb testing.TB) *Issuer {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(tb, err)
	iss := &Issuer{key: priv, kid: "test-key"}
	iss.jwks = jwk.Set{Keys: []jwk.Key{{ID: iss.kid, Algorithm: jwk.EdDSA, Public: pub}}}
	iss.release = make(chan struct{})
	iss.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if iss.hung.Load() {
			<-iss.release
		}
		httpx.Encode(w, http.StatusOK, iss.jwks)
	}))
	tb.Cleanup(func() { close(iss.release); iss.srv.Close() })
	iss.URL = iss.srv.URL
	return iss
}

// JWKSURL is where the issuer's keys are.
func (iss *Issuer) JWKSURL() string { return iss.URL + "/jwks" }

// Token mints a valid access token for aud with scope; extra claims
// override the defaults.
func (iss *Issuer) Token(tb testing.TB, sub, aud, scope string, extra ...any) string {
	tb.Helper()
	now := time.Now()
	var id [16]byte
	_, _ = rand.Read(id[:])
	claims := jwt.MapClaims{
		"iss": iss.URL, "sub": sub, "aud": aud, "scope": scope, "client_id": sub,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Minute).Unix(),
		"jti": base64.RawURLEncoding.EncodeToString(id[:]),
	}
	for i := 0; i+1 < len(extra); i += 2 {
		claims[extra[i].(string)] = extra[i+1]
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["typ"] = "at+jwt"
	t.Header["kid"] = iss.kid
	s, err := t.SignedString(iss.key)
	require.NoError(tb, err)
	return s
}

// SyncBuffer is an io.Writer safe for a service and its test to share.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Clock is a settable clock for tests.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var listening = regexp.MustCompile(`msg=listening .*addr=(\S+)`)

// Process is a running service started by Start.
type Process struct {
	URL    string
	Output interface{ String() string }
	stop   func()
}

// Stop ends the process and waits for it to shut down.
func (p *Process) Stop() { p.stop() }

// WithEnv returns a copy of env with the given key, value pairs set.
func WithEnv(env map[string]string, pairs ...string) map[string]string {
	out := maps.Clone(env)
	for i := 0; i+1 < len(pairs); i += 2 {
		out[pairs[i]] = pairs[i+1]
	}
	return out
}

// Start runs a binary's run function with args[0]=name, the given
// environment, and "-addr 127.0.0.1:0"; it returns once /healthz answers.
func Start(tb testing.TB, run runner.RunFunc, name string, env map[string]string, args ...string) *Process {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{name, "-addr", "127.0.0.1:0"}, args...), func(k string) string { return env[k] }, out)
	}()
	var stopOnce sync.Once
	p := &Process{Output: out, stop: func() {
		stopOnce.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(tb, err, out.String())
			case <-time.After(15 * time.Second):
				tb.Errorf("%s did not stop", name)
			}
		})
	}}
	tb.Cleanup(p.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			tb.Fatalf("%s exited early: %v\n%s", name, err, out.String())
		default:
		}
		if m := listening.FindStringSubmatch(out.String()); m != nil {
			p.URL = "http://" + m[1]
			if httpx.Healthcheck(ctx, p.URL+"/healthz") == nil {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("%s not healthy in time:\n%s", name, out.String())
	return nil
}

// Do sends a request with an optional bearer token and JSON body and
// returns status and body.
func Do(tb testing.TB, method, url, token, body string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(method, url, bytes.NewBufferString(body))
	require.NoError(tb, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// RequestToken asks the token endpoint at base (an Identity's URL) for a
// token for audience, as clientID with secret (client_secret_basic).
func RequestToken(tb testing.TB, base, clientID, secret, audience string) *http.Response {
	tb.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "audience": {audience}}
	req, err := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(form.Encode()))
	require.NoError(tb, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(tb, err)
	return resp
}

// Scrape returns the Prometheus text a service serves at addr's /metrics.
func Scrape(tb testing.TB, addr string) string {
	tb.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(tb, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return string(body)
}

// Replay opens a replay store on db, which holds replay.Schema.
func Replay(tb testing.TB, db *database.DB, now func() time.Time) *replay.Store {
	tb.Helper()
	s, err := replay.New(context.Background(), db, now)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
