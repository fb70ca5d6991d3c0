package identity

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/telemetry"
)

// DefaultTokenTTL is the lifetime of an access token unless its audience's
// max_ttl is shorter. Short tokens make a stolen one worth little.
const DefaultTokenTTL = 5 * time.Minute

// Config configures the identity service.
type Config struct {
	// Issuer is this service's "iss" and base URL, e.g. http://identity:8080.
	Issuer   string
	Registry *Registry
	// TokenTTL is the default access-token lifetime; DefaultTokenTTL if zero.
	TokenTTL time.Duration
	// Leeway for client assertions' time claims.
	Leeway time.Duration
	// DPoPNonce makes DPoP proofs at the token endpoint carry a nonce this
	// service handed out (RFC 9449 §8), so a proof cannot be made ahead of
	// time; requests without it get use_dpop_nonce and a DPoP-Nonce.
	DPoPNonce bool
	// DPoPNonceKey makes the nonces; replicas must share it, so that a nonce
	// one hands out works at every other. Random when empty.
	DPoPNonceKey []byte
	// AdminSecretSHA256 enables POST /admin/rotate-keys for HTTP Basic
	// "admin" with this secret. Empty disables the endpoint.
	AdminSecretSHA256 string
	// TrustDomain, if set, makes this issuer issue Workload Identity
	// Tokens (WITs) to its clients, named wimse://TrustDomain/client-id
	// (or by their SPIFFE ID): requested_token_type WITTokenType.
	TrustDomain string
}

// Validate reports a missing or inconsistent setting.
func (c Config) Validate() error {
	if c.Issuer == "" || strings.HasSuffix(c.Issuer, "/") {
		return errors.New("identity: issuer URL is required, without a trailing slash")
	}
	if c.Registry == nil {
		return errors.New("identity: registry is required")
	}
	if c.TrustDomain != "" {
		if _, err := authn.WorkloadIdentity(c.TrustDomain); err != nil {
			return fmt.Errorf("identity: trust domain: %w", err)
		}
	}
	if c.AdminSecretSHA256 != "" && !isSHA256Hex(c.AdminSecretSHA256) {
		return errors.New("identity: the admin secret hash must be 64 hex digits (SHA-256)")
	}
	return c.Registry.Validate()
}

func (c Config) tokenEndpoint() string { return c.Issuer + "/oauth2/token" }

// Deps are the identity service's collaborators.
type Deps struct {
	Keys *KeyStore
	// Replay remembers client-assertion ids, so an assertion works once.
	Replay     authn.ReplayGuard
	Logger     *slog.Logger
	HTTPClient *http.Client
	Now        func() time.Time
	// Metrics, if set, gets the token endpoint's counters.
	Metrics prometheus.Registerer
	// Status, if set, gives every token an entry in the issuer's status
	// list, served at StatusListPath, and enables the admin endpoints that
	// revoke tokens and callers.
	Status *StatusList
}

type server struct {
	cfg                Config
	deps               Deps
	metrics            *metrics
	assertionVerifiers map[string]*authn.Verifier
	issued             map[string]*authn.Verifier // Identity's own tokens, by audience
	limiter            *authLimiter
	proofs             authn.ProofChecker // DPoP proofs at the token endpoint
	nonces             *nonces            // nil unless Config.DPoPNonce
	tokenEndpoint      *url.URL           // what DPoP proofs' htu must name
}

func (s *server) now() time.Time { return s.deps.Now() }

// NewServer returns the identity service's HTTP handler.
func NewServer(cfg Config, deps Deps) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Keys == nil || deps.Replay == nil {
		return nil, errors.New("identity: key store and replay store are required")
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.HTTPClient == nil {
		deps.HTTPClient = &http.Client{Timeout: 5 * time.Second, Transport: telemetry.Transport(nil)}
	}
	verifiers, err := newAssertionVerifiers(cfg, deps)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	s := &server{cfg: cfg, deps: deps, assertionVerifiers: verifiers, limiter: newAuthLimiter(deps.Now), metrics: newMetrics(deps.Metrics),
		proofs: authn.ProofChecker{Replay: deps.Replay, Leeway: cfg.Leeway, Now: deps.Now}}
	if s.issued, err = newIssuedVerifiers(cfg, deps.Keys, deps.Now); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if s.tokenEndpoint, err = url.Parse(cfg.tokenEndpoint()); err != nil {
		return nil, fmt.Errorf("identity: issuer URL: %w", err)
	}
	if cfg.DPoPNonce {
		s.nonces = newNonces(cfg.DPoPNonceKey, deps.Now)
		s.proofs.Nonce = s.nonces.valid
	}
	return s.routes(), nil
}
