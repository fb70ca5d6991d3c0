package identity

import (
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
	grants := []string{"client_credentials"}
	if s.cfg.Registry.HasTokenExchange() {
		grants = append(grants, TokenExchangeGrant)
	}
	httpx.Encode(w, http.StatusOK, map[string]any{
		"issuer":                                s.cfg.Issuer,
		"token_endpoint":                        s.cfg.tokenEndpoint(),
		"jwks_uri":                              s.cfg.Issuer + "/.well-known/jwks.json",
		"grant_types_supported":                 grants,
		"token_endpoint_auth_methods_supported": []string{PrivateKeyJWT, ClientSecretBasic},
		"token_endpoint_auth_signing_alg_values_supported": []string{jwk.EdDSA, jwk.ES256, jwk.RS256},
		"scopes_supported":                  slices.Compact(scopes),
		"dpop_signing_alg_values_supported": authn.DefaultAlgorithms,
	})
}
