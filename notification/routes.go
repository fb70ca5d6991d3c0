package notification

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/httpx"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// routes is the notification service's whole HTTP API.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", httpx.Healthz)
	r.Get("/readyz", httpx.Readyz(
		httpx.Check{Name: "keys", Run: s.deps.Verifier.Ready},
		httpx.Check{Name: "database", Run: s.deps.DB.PingContext}))
	if s.deps.PublicKey != nil {
		r.Get("/.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
			httpx.Encode(w, http.StatusOK, jwk.Set{Keys: []jwk.Key{*s.deps.PublicKey}})
		})
	}
	r.Group(func(r chi.Router) {
		// Single use is enforced by handleSend, in the transaction that
		// stores the notification: a token is used if and only if its
		// notification is stored.
		opts := []authn.Option{authn.WithLogger(s.deps.Logger)}
		if s.deps.DPoP != nil {
			opts = append(opts, authn.WithDPoP(*s.deps.DPoP))
		}
		if s.deps.WIMSE != nil {
			opts = append(opts, authn.WithWIMSE(*s.deps.WIMSE))
		}
		r.Use(authn.Authenticate(s.deps.Verifier, opts...))
		r.With(authn.RequireScope(ScopeSend)).Post("/v1/notifications", s.handleSend)
		if s.deps.ExchangeProbes && s.deps.Audit != nil {
			r.With(authn.RequireScope(ScopeSend)).Post("/v1/exchange-probes", s.handleExchangeProbes)
		}
	})
	return r
}
