package careergpt

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/s2sjwt/s2sjwt/internal/httpx"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// routes is CareerGPT's whole HTTP API.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", httpx.Healthz)
	r.Get("/.well-known/jwks.json", s.handleJWKS) // its client key, for private_key_jwt
	r.Post("/v1/advice", s.handleAdvice)
	r.Get("/v1/scenario", s.handleLastScenario)
	r.Post("/v1/scenario", s.handleRunScenario)
	r.Post("/v1/steps/{action}", s.handleAction)
	r.Get("/v1/audit", s.handleAudit)
	r.Get("/*", s.handlePage)
	return r
}

func (s *Server) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	httpx.Encode(w, http.StatusOK, jwk.Set{Keys: []jwk.Key{s.deps.Key}})
}
