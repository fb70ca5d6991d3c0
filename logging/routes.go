package logging

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/httpx"
)

// routes is the logging service's whole HTTP API.
func (s *server) routes() http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", httpx.Healthz)
	r.Get("/readyz", httpx.Readyz(
		httpx.Check{Name: "keys", Run: s.deps.Verifier.Ready},
		httpx.Check{Name: "database", Run: s.deps.Store.Ping}))
	r.Group(func(r chi.Router) {
		r.Use(authn.Authenticate(s.deps.Verifier, s.authnOptions()...))
		r.With(authn.RequireScope(ScopeWrite)).Post("/v1/logs", s.handleAppend)
		r.With(authn.RequireScope(ScopeRead)).Get("/v1/logs", s.handleList)
	})
	return r
}

func (s *server) authnOptions() []authn.Option {
	opts := []authn.Option{authn.WithLogger(s.deps.Logger)}
	if s.deps.DPoP != nil {
		opts = append(opts, authn.WithDPoP(*s.deps.DPoP))
	}
	if s.deps.WIMSE != nil {
		opts = append(opts, authn.WithWIMSE(*s.deps.WIMSE))
	}
	return opts
}
