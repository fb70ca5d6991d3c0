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
}

// NewRemoteKeySet returns a RemoteKeySet; it fetches nothing until first used.
func NewRemoteKeySet(cfg RemoteKeySetConfig) (*RemoteKeySet, error) {
	if cfg.JWKSURL == "" && cfg.Issuer == "" {
		return nil, errors.New("authn: remote key set: JWKS URL or issuer is required")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
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

// Key implements KeySet.
func (r *RemoteKeySet) Key(ctx context.Context, kid string) (jwk.Key, error) {
	r.mu.Lock()
	key, known := r.keys[kid]
	fresh := r.cfg.Now().Sub(r.fetchedAt) < r.cfg.MaxKeyAge
	r.mu.Unlock()
	if known && fresh {
		return key, nil
	}
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

// refresh waits for the fetch under way, or starts one if the last attempt
// is at least MinRefreshInterval old, or does nothing.
func (r *RemoteKeySet) refresh(ctx context.Context) error {
	r.mu.Lock()
	if ch := r.inflight; ch != nil {
		r.mu.Unlock()
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	now := r.cfg.Now()
	if !r.attemptedAt.IsZero() && now.Sub(r.attemptedAt) < r.cfg.MinRefreshInterval {
		r.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	r.inflight = ch
	r.attemptedAt = now
	r.mu.Unlock()

	// The fetch outlives the request that triggered it, so one cancelled
	// caller does not fail the others waiting on it.
	fetchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Client.Timeout+time.Second)
	defer cancel()
	keys, err := r.fetch(fetchCtx)

	r.mu.Lock()
	if err == nil {
		r.keys = keys
		r.fetchedAt = r.cfg.Now()
	}
	r.inflight = nil
	r.mu.Unlock()
	close(ch)
	return err
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
