package careergpt

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/logclient"
	"github.com/s2sjwt/s2sjwt/internal/telemetry"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

// ClientID is CareerGPT's registered client id and so the "sub" of its tokens.
const ClientID = "careergpt-backend"

// Audiences and scopes CareerGPT asks for.
const (
	LoggingAudience      = "logging-service"
	NotificationAudience = "notification-service"
	scopeLogsWrite       = "logs:write"
	scopeLogsRead        = "logs:read"
	scopeNotify          = "notifications:send"
)

// Config configures CareerGPT.
type Config struct {
	// IdentityURL is the trusted issuer; its token endpoint is /oauth2/token.
	IdentityURL     string
	LoggingURL      string
	NotificationURL string
	// NotificationReplicas, when it lists two or more URLs of Notification
	// replicas, adds a step: a token used at the first is replayed at the
	// second.
	NotificationReplicas []string
	// PeerLeeway is the resource servers' clock leeway; the expiry step
	// waits past it.
	PeerLeeway time.Duration
	// AllowedHosts are host names besides loopback that requests may be
	// addressed to (the Host header, without port).
	AllowedHosts []string
	// PlayOnStart plays the scenario once, when the server starts (Start),
	// after waiting up to PeersTimeout for the other services.
	PlayOnStart  bool
	PeersTimeout time.Duration
	// AdminSecret, the demo's operator credentials for Identity's admin
	// API, adds the revocation steps (Identity with a status list, and
	// resource servers that check it). Empty: they are left out.
	AdminSecret string
}

// Validate reports a missing URL.
func (c Config) Validate() error {
	if c.IdentityURL == "" || c.LoggingURL == "" || c.NotificationURL == "" {
		return errors.New("careergpt: identity, logging and notification URLs are required")
	}
	for _, u := range c.NotificationReplicas {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("careergpt: notification replica %q is not an http(s) URL", u)
		}
	}
	return nil
}

// Deps are CareerGPT's collaborators.
type Deps struct {
	// Key and Signer are CareerGPT's own client key (private_key_jwt).
	Key    jwk.Key
	Signer crypto.Signer
	// DPoPKey, if set, is a second key its Logging tokens are bound to
	// (RFC 9449); every Logging call carries a proof from it.
	DPoPKey crypto.Signer
	// WorkloadKey, if set, is a third key, which Identity issues CareerGPT
	// a WIMSE workload identity token for: every call to Notification then
	// carries that WIT and a proof (WPT) signed by it.
	WorkloadKey crypto.Signer
	HTTP        *http.Client
	Logger      *slog.Logger
	Now         func() time.Time
	// Sleep waits for the expiry step, or until ctx ends; tests replace it
	// with a clock jump.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Server is CareerGPT: an HTTP API and the scenario player.
type Server struct {
	cfg     Config
	deps    Deps
	tokens  *tokenclient.Client
	cached  *tokenclient.Cache
	logs    *logclient.Client
	rogue   rogueIssuer
	handler http.Handler
	jwks    *authn.RemoteKeySet

	mu       sync.Mutex
	last     *Outcome
	lastUsed *tokenclient.Token // the last Notification token presented
	runs     chan struct{}      // one scenario at a time (steps share tokens); a waiter can give up
}

// NewServer returns CareerGPT.
func NewServer(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Signer == nil {
		return nil, errors.New("careergpt: client key is required")
	}
	if cfg.PeerLeeway == 0 {
		cfg.PeerLeeway = authn.DefaultLeeway
	}
	if deps.HTTP == nil {
		deps.HTTP = &http.Client{Timeout: 10 * time.Second, Transport: telemetry.Transport(nil)}
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Sleep == nil {
		deps.Sleep = sleep
	}
	tokens := &tokenclient.Client{
		TokenURL: cfg.IdentityURL + "/oauth2/token", ClientID: ClientID,
		Key: deps.Key, Signer: deps.Signer, HTTP: deps.HTTP, Now: deps.Now, DPoPKey: deps.DPoPKey,
		WorkloadKey: deps.WorkloadKey,
	}
	cached := &tokenclient.Cache{Client: tokens}
	jwks, err := authn.NewRemoteKeySet(authn.RemoteKeySetConfig{
		JWKSURL: cfg.IdentityURL + "/.well-known/jwks.json", Client: deps.HTTP, Logger: deps.Logger, Now: deps.Now,
	})
	if err != nil {
		return nil, err
	}
	_, roguePriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, deps: deps, tokens: tokens, cached: cached, jwks: jwks,
		logs:  &logclient.Client{LoggingURL: cfg.LoggingURL, Tokens: cached, HTTP: deps.HTTP, DPoPKey: deps.DPoPKey},
		rogue: rogueIssuer{key: roguePriv},
		runs:  make(chan struct{}, 1),
	}
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// LastOutcome returns the outcome of the latest scenario run, if any.
func (s *Server) LastOutcome() (*Outcome, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.last != nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
