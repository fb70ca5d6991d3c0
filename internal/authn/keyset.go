package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/telemetry"
)

// KeySet resolves a key id to a verification key. Keys are only ever chosen
// by kid from the trusted set, never from the token's own headers.
type KeySet interface {
	// Key returns the key named kid, or an error wrapping ErrUnknownKey.
	Key(ctx context.Context, kid string) (jwk.Key, error)
}

// StaticKeySet is a fixed KeySet, for tests and pinned deployments.
type StaticKeySet map[string]jwk.Key

// NewStaticKeySet returns a StaticKeySet holding keys.
func NewStaticKeySet(keys ...jwk.Key) StaticKeySet {
	s := make(StaticKeySet, len(keys))
	for _, k := range keys {
		s[k.ID] = k
	}
	return s
}

// Key implements KeySet.
func (s StaticKeySet) Key(_ context.Context, kid string) (jwk.Key, error) {
	if k, ok := s[kid]; ok {
		return k, nil
	}
	return jwk.Key{}, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
}

// Limits of a RemoteKeySet.
const (
	// DefaultMinRefreshInterval bounds how often an unknown kid makes the set
	// refetch, so a flood of made-up kids cannot flood the issuer.
	DefaultMinRefreshInterval = 10 * time.Second
	// DefaultMaxKeyAge is how long fetched keys are used before a refetch is
	// attempted; if that refetch fails, the old keys stay in use.
	DefaultMaxKeyAge = 5 * time.Minute
	// maxJWKSBytes bounds a JWKS response.
	maxJWKSBytes = 1 << 20
)

// RemoteKeySetConfig configures a RemoteKeySet.
type RemoteKeySetConfig struct {
	// JWKSURL is the issuer's key set. If empty, it is discovered from
	// Issuer's RFC 8414 metadata, whose "issuer" must equal Issuer.
	JWKSURL string
	Issuer  string
	// Client makes the requests; it must have a timeout.
	Client             *http.Client
	MinRefreshInterval time.Duration
	MaxKeyAge          time.Duration
	Logger             *slog.Logger
	Now                func() time.Time
	// Metrics, if set, counts fetches and suppressed refetches.
	Metrics *Metrics
}

// RemoteKeySet is a KeySet backed by an issuer's JWKS over HTTP. It caches
// keys, refetches on an unknown kid at most once per MinRefreshInterval,
// lets concurrent lookups share one fetch, and keeps serving the keys it has
// while the issuer is unreachable.
type RemoteKeySet struct {
	cfg RemoteKeySetConfig

	mu          sync.Mutex
	jwksURL     string
	keys        map[string]jwk.Key
	fetchedAt   time.Time     // last successful fetch
	attemptedAt time.Time     // last fetch, successful or not
	inflight    chan struct{} // closed when the fetch under way ends
	lastErr     error         // of the last fetch
}

// NewRemoteKeySet returns a RemoteKeySet; it fetches nothing until first used.
func NewRemoteKeySet(cfg RemoteKeySetConfig) (*RemoteKeySet, error) {
	if cfg.JWKSURL == "" && cfg.Issuer == "" {
		return nil, errors.New("authn: remote key set: JWKS URL or issuer is required")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second, Transport: telemetry.Transport(nil)}
	}
	if cfg.MinRefreshInterval == 0 {
		cfg.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if cfg.MaxKeyAge == 0 {
		cfg.MaxKeyAge = DefaultMaxKeyAge
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &RemoteKeySet{cfg: cfg, jwksURL: cfg.JWKSURL}, nil
}

// Ready reports whether the set holds keys fetched from the issuer; a set
// that never has fetches (bounded by ctx and the refresh interval) and
// says why not. A verifier without keys refuses every token, so its
// service is not ready.
func (r *RemoteKeySet) Ready(ctx context.Context) error {
	r.mu.Lock()
	fetched := !r.fetchedAt.IsZero()
	r.mu.Unlock()
	if fetched {
		return nil
	}
	if err := r.refresh(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrKeySetUnavailable, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fetchedAt.IsZero() {
		return fmt.Errorf("%w: no keys fetched yet", ErrKeySetUnavailable)
	}
	return nil
}

// Key implements KeySet. A known key is returned at once, even when the
// set is due for a refresh: the refresh runs in the background, so a slow
// or hung issuer never holds up a request whose key is cached. Only an
// unknown kid waits for a fetch, bounded by ctx and the client's timeout.
func (r *RemoteKeySet) Key(ctx context.Context, kid string) (jwk.Key, error) {
	r.mu.Lock()
	key, known := r.keys[kid]
	if known {
		if r.cfg.Now().Sub(r.fetchedAt) >= r.cfg.MaxKeyAge {
			r.startFetchLocked()
		}
		r.mu.Unlock()
		return key, nil
	}
	r.mu.Unlock()
	if err := r.refresh(ctx); err != nil {
		r.cfg.Logger.Warn("jwks refresh failed; keeping cached keys", "issuer", r.cfg.Issuer, "jwks_url", r.cfg.JWKSURL, "err", err)
	}
	r.mu.Lock()
	key, known = r.keys[kid]
	neverFetched := r.fetchedAt.IsZero()
	r.mu.Unlock()
	switch {
	case known:
		return key, nil
	case neverFetched:
		// Not the token's fault: say so, so the caller can answer 503.
		return jwk.Key{}, fmt.Errorf("%w: %q", ErrKeySetUnavailable, kid)
	}
	return jwk.Key{}, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
}

// refresh waits for the fetch under way, or for one it starts if the last
// attempt is at least MinRefreshInterval old, or does nothing.
func (r *RemoteKeySet) refresh(ctx context.Context) error {
	r.mu.Lock()
	ch := r.startFetchLocked()
	r.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.lastErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startFetchLocked returns the channel of the fetch under way, starting one
// if none is and the last attempt is old enough; nil if neither.
func (r *RemoteKeySet) startFetchLocked() chan struct{} {
	if r.inflight != nil {
		return r.inflight
	}
	now := r.cfg.Now()
	if !r.attemptedAt.IsZero() && now.Sub(r.attemptedAt) < r.cfg.MinRefreshInterval {
		r.cfg.Metrics.refetchSuppressed()
		return nil
	}
	ch := make(chan struct{})
	r.inflight, r.attemptedAt = ch, now
	// The fetch belongs to no request: one caller leaving fails no other.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Client.Timeout+time.Second)
		defer cancel()
		keys, err := r.fetch(ctx)
		r.mu.Lock()
		if err == nil {
			r.keys = keys
			r.fetchedAt = r.cfg.Now()
		}
		r.cfg.Metrics.fetched(err, len(keys), r.fetchedAt)
		r.lastErr = err
		r.inflight = nil
		r.mu.Unlock()
		close(ch)
	}()
	return ch
}

func (r *RemoteKeySet) fetch(ctx context.Context) (map[string]jwk.Key, error) {
	if r.jwksURL == "" {
		u, err := r.discover(ctx)
		if err != nil {
			return nil, err
		}
		r.jwksURL = u // only this goroutine fetches, others wait on inflight
	}
	var set jwk.Set
	if err := getJSON(ctx, r.cfg.Client, r.jwksURL, &set); err != nil {
		return nil, err
	}
	keys := make(map[string]jwk.Key, len(set.Keys))
	for _, k := range set.Keys {
		keys[k.ID] = k
	}
	return keys, nil
}

func (r *RemoteKeySet) discover(ctx context.Context) (string, error) {
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	u := r.cfg.Issuer + "/.well-known/oauth-authorization-server"
	if err := getJSON(ctx, r.cfg.Client, u, &meta); err != nil {
		return "", err
	}
	// RFC 8414 §3.3: metadata for another issuer must not be used.
	if meta.Issuer != r.cfg.Issuer || meta.JWKSURI == "" {
		return "", fmt.Errorf("authn: metadata at %s is for issuer %q", u, meta.Issuer)
	}
	return meta.JWKSURI, nil
}

func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("authn: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	// Refetches happen because keys may have changed: an HTTP cache between
	// here and the issuer must not answer with the set it already gave.
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("authn: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("authn: GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(v); err != nil {
		return fmt.Errorf("authn: GET %s: %w", url, err)
	}
	return nil
}
