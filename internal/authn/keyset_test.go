package authn_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// jwksServer serves a mutable key set and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []jwk.Key
	down    bool
	fetches atomic.Int32
}

func newJWKSServer(tb testing.TB, keys ...jwk.Key) *jwksServer {
	tb.Helper()
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/.well-known/oauth-authorization-server" {
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": s.URL, "jwks_uri": s.URL + "/jwks"})
			return
		}
		time.Sleep(10 * time.Millisecond) // widen the window for concurrent lookups
		_ = json.NewEncoder(w).Encode(jwk.Set{Keys: s.keys})
	}))
	tb.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(down bool, keys ...jwk.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down, s.keys = down, keys
}

func newKey(tb testing.TB, kid string) jwk.Key {
	tb.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(tb, err)
	return jwk.Key{ID: kid, Algorithm: jwk.EdDSA, Public: pub}
}

func TestRemoteKeySet(t *testing.T) {
	ctx := context.Background()
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")

	t.Run("UnknownKidRefreshesAtMostOncePerInterval", func(t *testing.T) {
		srv := newJWKSServer(t, k1)
		clk := testutil.NewClock(testNow)
		ks, err := authn.NewRemoteKeySet(authn.RemoteKeySetConfig{JWKSURL: srv.URL, Now: clk.Now})
		require.NoError(t, err)
		_, err = ks.Key(ctx, "k1")
		require.NoError(t, err)
		for range 20 {
			_, err = ks.Key(ctx, "made-up")
			require.ErrorIs(t, err, authn.ErrUnknownKey)
		}
		require.Equal(t, int32(1), srv.fetches.Load(), "made-up kids within the interval must not refetch")

		srv.set(false, k1, k2) // rotation at the issuer
		clk.Advance(authn.DefaultMinRefreshInterval)
		got, err := ks.Key(ctx, "k2")
		require.NoError(t, err)
		require.Equal(t, "k2", got.ID)
		require.Equal(t, int32(2), srv.fetches.Load())
	})

	t.Run("ConcurrentLookupsShareOneFetch", func(t *testing.T) {
		srv := newJWKSServer(t, k1)
		ks, err := authn.NewRemoteKeySet(authn.RemoteKeySetConfig{JWKSURL: srv.URL})
		require.NoError(t, err)
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				_, err := ks.Key(ctx, "k1")
				require.NoError(t, err)
			})
		}
		wg.Wait()
		require.Equal(t, int32(1), srv.fetches.Load())
	})

	t.Run("KeysSurviveIssuerOutage", func(t *testing.T) {
		srv := newJWKSServer(t, k1)
		clk := testutil.NewClock(testNow)
		ks, err := authn.NewRemoteKeySet(authn.RemoteKeySetConfig{JWKSURL: srv.URL, Now: clk.Now})
		require.NoError(t, err)
		_, err = ks.Key(ctx, "k1")
		require.NoError(t, err)
		srv.set(true)
		clk.Advance(authn.DefaultMaxKeyAge + time.Second)
		_, err = ks.Key(ctx, "k1")
		require.NoError(t, err, "a cached key must outlive an identity outage")
	})

	t.Run("NeverFetchedIsUnavailable", func(t *testing.T) {
		srv := newJWKSServer(t)
		srv.set(true)
		ks, err := authn.NewRemoteKeySet(authn.RemoteKeySetConfig{JWKSURL: srv.URL})
		require.NoError(t, err)
		_, err = ks.Key(ctx, "k1")
		require.ErrorIs(t, err, authn.ErrKeySetUnavailable)
	})

	t.Run("DiscoversJWKSFromMetadata", func(t *testing.T) {
		srv := newJWKSServer(t, k1)
		ks, err := authn.NewRemoteKeySet(authn.RemoteKeySetConfig{Issuer: srv.URL})
		require.NoError(t, err)
		_, err = ks.Key(ctx, "k1")
		require.NoError(t, err)
	})

	t.Run("RefusesMetadataOfAnotherIssuer", func(t *testing.T) {
		srv := newJWKSServer(t, k1)
		ks, err := authn.NewRemoteKeySet(authn.RemoteKeySetConfig{Issuer: srv.URL + "/other"})
		require.NoError(t, err)
		_, err = ks.Key(ctx, "k1")
		require.Error(t, err)
	})
}

// TestRemoteKeySet_HungIssuerHoldsUpNoCachedKey: once keys are due for a
// refresh and the issuer stops answering, a lookup of a cached key returns
// while the refetch is still hanging; it does not wait for it.
func TestRemoteKeySet_HungIssuerHoldsUpNoCachedKey(t *testing.T) {
	key := newKey(t, "k1")
	release := make(chan struct{})
	var hung atomic.Bool
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if hung.Load() {
			<-release // a frozen issuer: accepts, never answers
		}
		_ = json.NewEncoder(w).Encode(jwk.Set{Keys: []jwk.Key{key}})
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	clock := testutil.NewClock(time.Now())
	ks, err := authn.NewRemoteKeySet(authn.RemoteKeySetConfig{JWKSURL: srv.URL, Now: clock.Now,
		MinRefreshInterval: time.Second, MaxKeyAge: time.Minute, Client: &http.Client{Timeout: time.Hour}})
	require.NoError(t, err)
	_, err = ks.Key(context.Background(), "k1")
	require.NoError(t, err)

	hung.Store(true)
	clock.Advance(2 * time.Minute)
	for range 100 {
		got, err := ks.Key(context.Background(), "k1")
		require.NoError(t, err)
		require.Equal(t, "k1", got.ID)
	}
	require.Eventually(t, func() bool { return fetches.Load() == 2 }, 5*time.Second, time.Millisecond,
		"one background refetch, still hanging, while 100 lookups were answered")

	// An unknown kid waits for that fetch, but no longer than its caller allows.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = ks.Key(ctx, "k2")
	require.Error(t, err)
}
