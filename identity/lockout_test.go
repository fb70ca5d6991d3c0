package identity_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/identity"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

// from returns a client whose requests leave from the loopback address ip,
// so one test can play a client and an attacker on another host.
func (e *env) from(ip string) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
}

func (e *env) postWith(tb testing.TB, client *http.Client, user, password string) int {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/token",
		strings.NewReader("grant_type=client_credentials&audience=logging-service"))
	require.NoError(tb, err)
	req.Header.Set("Content-Type", form)
	req.SetBasicAuth(user, password)
	resp, err := client.Do(req)
	require.NoError(tb, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestLockout_AttackerCannotLockOutAClient: failures under a client's id
// run alongside that client's valid requests, and every valid request
// succeeds: for a private_key_jwt client, and for a secret client that has
// proved its secret from its address before, even when the attacker shares
// that address.
func TestLockout_AttackerCannotLockOutAClient(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	require.Equal(t, 200, e.postWith(t, e.srv.Client(), "suite", secret), "the client proves its secret once")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, victim := range []string{"suite", "careergpt-backend"} {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					// Not postWith: require may not stop the test from this goroutine.
					req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
					req.Header.Set("Content-Type", form)
					req.SetBasicAuth(victim, "guess")
					if resp, err := e.srv.Client().Do(req); err == nil {
						resp.Body.Close()
					}
				}
			}
		})
	}
	for i := range 30 {
		require.Equal(t, 200, e.postWith(t, e.srv.Client(), "suite", secret), "valid secret request %d refused", i)
		_, err := e.client.Token(ctx, tokenclient.Request{Audience: "logging-service"})
		require.NoError(t, err, "valid private_key_jwt request %d refused", i)
	}
	close(stop)
	wg.Wait()
}

// TestLockout_FailuresCountPerSource: an attacker on another address locks
// out only itself, even for a client that never authenticated before.
func TestLockout_FailuresCountPerSource(t *testing.T) {
	e := newEnv(t)
	attacker := e.from("127.0.0.2")
	for range identity.MaxAuthFailures {
		require.Equal(t, 401, e.postWith(t, attacker, "suite", "guess"))
	}
	require.Equal(t, 429, e.postWith(t, attacker, "suite", secret), "the attacker's address waits, right secret or not")
	require.Equal(t, 200, e.postWith(t, e.srv.Client(), "suite", secret), "the client's address does not")
}

// TestLockout_RotatingIDsBuysNoGuesses: one address guessing many client
// ids is stopped after MaxSourceFailures.
func TestLockout_RotatingIDsBuysNoGuesses(t *testing.T) {
	e := newEnv(t)
	attacker := e.from("127.0.0.3")
	for i := range identity.MaxSourceFailures {
		require.Equal(t, 401, e.postWith(t, attacker, fmt.Sprintf("client-%d", i), "guess"))
	}
	require.Equal(t, 429, e.postWith(t, attacker, "suite", secret))
}

// TestLockout_AttackerSizedInputIsBounded: 10,000 requests with 20 KB client
// ids grow neither memory nor logs with the ids' size.
func TestLockout_AttackerSizedInputIsBounded(t *testing.T) {
	e := newEnv(t)
	const n, idBytes = 10_000, 20 << 10
	body := "grant_type=client_credentials&audience=logging-service"
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		req.RemoteAddr = fmt.Sprintf("198.51.100.%d:1234", i%250)
		req.Header.Set("Content-Type", form)
		req.SetBasicAuth(fmt.Sprintf("%05d", i)+strings.Repeat("x", idBytes), "guess")
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		require.Contains(t, []int{401, 429}, rec.Code)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap growth after %d requests with %d-byte client ids: %d KiB; log: %d KiB", n, idBytes, growth>>10, len(e.logs.String())>>10)
	require.Less(t, growth, int64(8<<20), "ids are neither kept nor grow the tables")
	require.Less(t, len(e.logs.String()), n*600, "each refusal logs at most a bounded line")
	require.Equal(t, 200, e.postWith(t, e.srv.Client(), "suite", secret))
}
