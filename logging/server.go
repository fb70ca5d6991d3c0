package logging

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/authn"
)

// Scopes the logging service checks.
const (
	ScopeWrite = "logs:write"
	ScopeRead  = "logs:read"
)

// Audience is this service's identifier in tokens' "aud".
const Audience = "logging-service"

// Deps are the logging service's collaborators.
type Deps struct {
	Verifier *authn.Verifier
	Store    *Store
	// DPoP, if set, accepts DPoP-bound tokens with their proofs.
	DPoP *authn.DPoPConfig
	// WIMSE, if set, accepts WIMSE workload credentials (WIT and WPT).
	WIMSE  *authn.WIMSEConfig
	Logger *slog.Logger
	Now    func() time.Time
}

type server struct{ deps Deps }

// NewServer returns the logging service's HTTP handler.
func NewServer(deps Deps) (http.Handler, error) {
	if deps.Verifier == nil || deps.Store == nil {
		return nil, errors.New("logging: verifier and store are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &server{deps: deps}
	return s.routes(), nil
}
