package identity

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/httpx"
)

// routes is the identity service's whole HTTP API.
func (s *server) routes() http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", httpx.Healthz)
	r.Get("/readyz", httpx.Readyz(httpx.Check{Name: "signing key", Run: s.deps.Keys.Ready}))
	r.Post("/oauth2/token", s.handleIssueToken)
	r.Get("/.well-known/jwks.json", s.handleJWKS)
	r.Get("/.well-known/oauth-authorization-server", s.handleMetadata)
	r.Post("/admin/rotate-keys", s.handleRotateKeys)
	if s.deps.Status != nil {
		r.Get(StatusListPath, s.handleStatusList)
		r.Post("/admin/revoke", s.handleRevoke)
		r.Post("/admin/suspend", s.handleClientStatus(authn.StatusSuspended))
		r.Post("/admin/reinstate", s.handleClientStatus(authn.StatusValid))
	}
	return r
}
