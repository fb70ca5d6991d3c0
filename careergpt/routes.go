package careergpt

import (
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/s2sjwt/s2sjwt/internal/httpx"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// routes is CareerGPT's whole HTTP API. It acts with CareerGPT's own
// tokens, so it answers only requests addressed to it by a name it expects
// (no DNS rebinding) and no cross-site browser request that changes state.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	// Public and read-only: Identity fetches the key as http://careergpt:8080.
	r.Get("/healthz", httpx.Healthz)
	r.Get("/readyz", httpx.Healthz)               // nothing to wait for: it finds its peers when it calls them
	r.Get("/.well-known/jwks.json", s.handleJWKS) // its client key, for private_key_jwt
	r.Group(func(r chi.Router) {
		r.Use(s.expectedHost, http.NewCrossOriginProtection().Handler)
		r.Post("/v1/advice", s.handleAdvice)
		r.Get("/v1/scenario", s.handleLastScenario)
		r.Post("/v1/scenario", s.handleRunScenario)
		r.Post("/v1/steps/{action}", s.handleAction)
		r.Get("/v1/audit", s.handleAudit)
		r.Get("/*", s.handlePage)
	})
	return r
}

func (s *Server) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	httpx.Encode(w, http.StatusOK, jwk.Set{Keys: []jwk.Key{s.deps.Key}})
}

// expectedHost refuses requests whose Host is not loopback or one of
// cfg.AllowedHosts: a page on attacker.example that resolves to this
// machine still sends Host: attacker.example.
func (s *Server) expectedHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(strings.Trim(host, "[]")) // host names are case-insensitive (RFC 4343)
		allowed := func(h string) bool { return strings.EqualFold(h, host) }
		if !slices.Contains([]string{"localhost", "127.0.0.1", "::1"}, host) && !slices.ContainsFunc(s.cfg.AllowedHosts, allowed) {
			httpx.Error(w, http.StatusMisdirectedRequest, "invalid_request", "unexpected Host header; add it to CAREERGPT_ALLOWED_HOSTS")
			return
		}
		next.ServeHTTP(w, r)
	})
}
