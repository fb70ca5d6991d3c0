package identity

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/httpx"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

func (s *server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	// Cacheable for less than the publish lead: behind any HTTP cache a new
	// key is visible before it signs.
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(s.deps.Keys.MaxCacheAge().Seconds())))
	httpx.Encode(w, http.StatusOK, jwk.Set{Keys: s.deps.Keys.PublicKeys(r.Context())})
}

// handleMetadata serves RFC 8414 authorization server metadata.
func (s *server) handleMetadata(w http.ResponseWriter, _ *http.Request) {
	var scopes []string
	for _, a := range s.cfg.Registry.Audiences {
		scopes = append(scopes, a.Scopes...)
	}
	slices.Sort(scopes)
	httpx.Encode(w, http.StatusOK, map[string]any{
		"issuer":                                s.cfg.Issuer,
		"token_endpoint":                        s.cfg.tokenEndpoint(),
		"jwks_uri":                              s.cfg.Issuer + "/.well-known/jwks.json",
		"grant_types_supported":                 []string{"client_credentials"},
		"token_endpoint_auth_methods_supported": []string{PrivateKeyJWT, ClientSecretBasic},
		"token_endpoint_auth_signing_alg_values_supported": []string{jwk.EdDSA, jwk.ES256, jwk.RS256},
		"scopes_supported":                  slices.Compact(scopes),
		"dpop_signing_alg_values_supported": authn.DefaultAlgorithms,
	})
}

// adminClientID is the limiter's name for admin credentials: a client id
// no registry entry can have (it holds a NUL).
const adminClientID = "\x00admin"

// handleRotateKeys rotates the signing key on demand. It exists only when an
// admin secret is configured, and needs it on every call. Failures count in
// the same limiter as client secrets, and are logged (bounded like them).
func (s *server) handleRotateKeys(w http.ResponseWriter, r *http.Request) {
	if s.cfg.AdminSecretSHA256 == "" {
		http.NotFound(w, r)
		return
	}
	user, secret, ok := r.BasicAuth()
	if !ok || user != "admin" || !secretMatches(secret, s.cfg.AdminSecretSHA256) {
		t := s.limiter.fail(sourceOf(r), adminClientID)
		if !t.quiet {
			s.deps.Logger.Warn("admin authentication failed", "remote", r.RemoteAddr, "throttled", t.wait > 0)
		}
		if t.wait > 0 {
			w.Header().Set("Retry-After", retryAfterSeconds(t.wait))
			httpx.Error(w, http.StatusTooManyRequests, "too_many_requests", lockedOutMessage)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="identity-admin"`)
		httpx.Error(w, http.StatusUnauthorized, "unauthorized", "admin credentials required")
		return
	}
	kid, err := s.deps.Keys.Rotate(r.Context())
	if errors.Is(err, ErrTooManyKeys) {
		httpx.Error(w, http.StatusTooManyRequests, "too_many_keys", err.Error())
		return
	}
	if err != nil {
		s.deps.Logger.Error("key rotation failed", "err", err)
		httpx.Error(w, http.StatusInternalServerError, "server_error", "key rotation failed")
		return
	}
	s.deps.Logger.Info("signing key rotated on demand", "kid", kid)
	httpx.Encode(w, http.StatusOK, map[string]string{"kid": kid})
}
