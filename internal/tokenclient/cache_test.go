package tokenclient_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

// tokenServer answers token requests as behave says, counting them.
func tokenServer(t *testing.T, behave func(w http.ResponseWriter)) (*tokenclient.Cache, *atomic.Int32, *testutil.Clock) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		behave(w)
	}))
	t.Cleanup(srv.Close)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	clock := testutil.NewClock(time.Now())
	c := &tokenclient.Client{TokenURL: srv.URL, ClientID: "c", Key: jwk.Key{ID: "k", Algorithm: jwk.EdDSA, Public: priv.Public()},
		Signer: priv, HTTP: &http.Client{Timeout: 10 * time.Second}, Now: clock.Now}
	return &tokenclient.Cache{Client: c}, &n, clock
}

var req = tokenclient.Request{Audience: "logging-service"}

// TestCache_HungIssuerQueuesNobody: while one token request hangs, other
// callers share it and each leaves when its own context ends.
func TestCache_HungIssuerQueuesNobody(t *testing.T) {
	release := make(chan struct{})
	cache, requests, _ := tokenServer(t, func(w http.ResponseWriter) {
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"t","token_type":"Bearer","expires_in":300}`))
	})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			_, err := cache.Token(ctx, req)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
		})
	}
	wg.Wait()
	require.Equal(t, int32(1), requests.Load(), "20 callers, one request in flight")
	close(release)
	require.Eventually(t, func() bool {
		tok, err := cache.Token(context.Background(), req)
		return err == nil && tok.AccessToken == "t"
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, int32(1), requests.Load(), "the shared request's token is cached")
}

// TestCache_FailureBacksOff: after a failed request, callers get its error
// at once, without a new request, until the backoff has passed.
func TestCache_FailureBacksOff(t *testing.T) {
	cache, requests, clock := tokenServer(t, func(w http.ResponseWriter) {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
	})
	_, err := cache.Token(context.Background(), req)
	require.Error(t, err)
	for range 10 {
		_, err := cache.Token(context.Background(), req)
		require.Error(t, err)
	}
	require.Equal(t, int32(1), requests.Load())
	clock.Advance(3 * time.Second)
	_, err = cache.Token(context.Background(), req)
	require.Error(t, err)
	require.Equal(t, int32(2), requests.Load())
}

// TestLoadOrCreateKey_ReplicasStartingAtOnce: replicas sharing a data
// directory that start together all end up with the same key.
func TestLoadOrCreateKey_ReplicasStartingAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "client-key.pem")
	kids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range kids {
		wg.Go(func() {
			key, _, err := tokenclient.LoadOrCreateKey(path, jwk.EdDSA)
			require.NoError(t, err)
			kids[i] = key.ID
		})
	}
	wg.Wait()
	for _, kid := range kids {
		require.Equal(t, kids[0], kid)
	}
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}
