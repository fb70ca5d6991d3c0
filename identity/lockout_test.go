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

// TestLockout_AttackerCannotLockOutAClient: failures under a client's id,
// from the client's own address, run alongside that client's valid
// requests, and every valid request succeeds, for a private_key_jwt client
// and for a secret client that never authenticated before.
func TestLockout_AttackerCannotLockOutAClient(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

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

// wrongSecret is a guess as long as a generated secret, so it is compared.
const wrongSecret = "attacker-guess-0123456789abcdef0123456789"

// TestLockout_CorrectSecretNeedsNoHistory: a client whose address already
// holds ten failures under its id gets its token at once, on a freshly
// started Identity (nothing remembered) and at a second replica, neither of
// which ever saw it succeed.
func TestLockout_CorrectSecretNeedsNoHistory(t *testing.T) {
	t.Run("FreshStart", func(t *testing.T) {
		e := newEnv(t)
		for range 10 {
			require.Contains(t, []int{401, 429}, e.postWith(t, e.srv.Client(), "suite", wrongSecret))
		}
		require.Equal(t, 200, e.postWith(t, e.srv.Client(), "suite", secret))
	})
	t.Run("OtherReplica", func(t *testing.T) {
		a := newEnv(t)
		b := a.replica(t)
		for _, e := range []*env{a, b} {
			for range 10 {
				e.postWith(t, e.srv.Client(), "suite", wrongSecret)
			}
		}
		require.Equal(t, 200, b.postWith(t, b.srv.Client(), "suite", secret))
		require.Equal(t, 200, a.postWith(t, a.srv.Client(), "suite", secret))
	})
}

// TestLockout_GuessingFromTheClientsAddressIsThrottled: 2,000 wrong
// secrets from the address the client itself uses get 429 past the
// source's limit, and cost a bounded number of log lines, while the
// client's own requests, interleaved, all succeed.
func TestLockout_GuessingFromTheClientsAddressIsThrottled(t *testing.T) {
	e := newEnv(t)
	require.Equal(t, 200, e.postWith(t, e.srv.Client(), "suite", secret))
	throttled := 0
	for i := range 2000 {
		switch status := e.postWith(t, e.srv.Client(), "suite", fmt.Sprintf("guess-%04d-%s", i, wrongSecret)); status {
		case 429:
			throttled++
		default:
			require.Equal(t, 401, status)
		}
		if i%100 == 0 {
			require.Equal(t, 200, e.postWith(t, e.srv.Client(), "suite", secret), "the client, after %d guesses", i)
		}
	}
	require.Equal(t, 2000-identity.MaxAuthFailures, throttled)
	refusals := strings.Count(e.logs.String(), "token request refused")
	t.Logf("%d of 2000 guesses throttled, %d refusals logged", throttled, refusals)
	// One line per failure until throttled, then one per bound crossed
	// (the client id's, the address's, everyone's).
	require.Equal(t, identity.MaxAuthFailures+3, refusals)
}

// TestLockout_AdminFailuresAreThrottledAndLogged: wrong admin secrets are
// logged and, past the limit, answered 429; the right one still rotates.
func TestLockout_AdminFailuresAreThrottledAndLogged(t *testing.T) {
	const adminSecret = "admin-secret-for-this-test-only-0123456789"
	e := newEnv(t, func(c *identity.Config) { c.AdminSecretSHA256 = identity.HashSecret(adminSecret) })
	rotate := func(password string) int {
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/admin/rotate-keys", nil)
		require.NoError(t, err)
		req.SetBasicAuth("admin", password)
		resp, err := e.srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	statuses := map[int]int{}
	for i := range 2000 {
		statuses[rotate(fmt.Sprintf("wrong-%d", i))]++
	}
	require.Equal(t, identity.MaxAuthFailures, statuses[401], "answered 401 until the limit")
	require.Equal(t, 2000-identity.MaxAuthFailures, statuses[429])
	logged := strings.Count(e.logs.String(), "admin authentication failed")
	require.Equal(t, identity.MaxAuthFailures+3, logged, "each failure logged until throttled, then one line per bound crossed")
	require.Equal(t, 200, rotate(adminSecret))
}

// TestLockout_FailuresCountPerSource: an attacker's failures slow down
// only its own address; the client's address is not charged.
func TestLockout_FailuresCountPerSource(t *testing.T) {
	e := newEnv(t)
	attacker := e.from("127.0.0.2")
	for range identity.MaxAuthFailures {
		require.Equal(t, 401, e.postWith(t, attacker, "suite", wrongSecret))
	}
	require.Equal(t, 429, e.postWith(t, attacker, "suite", wrongSecret), "the attacker's address waits")
	require.Equal(t, 200, e.postWith(t, e.srv.Client(), "suite", secret), "the client's address does not")
}

// TestLockout_RotatingIDsBuysNoGuesses: one address guessing many client
// ids is stopped after MaxSourceFailures.
func TestLockout_RotatingIDsBuysNoGuesses(t *testing.T) {
	e := newEnv(t)
	attacker := e.from("127.0.0.3")
	for i := range identity.MaxSourceFailures {
		require.Equal(t, 401, e.postWith(t, attacker, fmt.Sprintf("client-%d", i), wrongSecret))
	}
	require.Equal(t, 429, e.postWith(t, attacker, "suite", wrongSecret))
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
