package identity

import (
	"net/http"
	"regexp"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/telemetry"
)

// WIMSE workload identity tokens (draft-ietf-wimse-workload-creds-02). The
// draft leaves issuance to the deployment; this issuer borrows RFC 8693's
// vocabulary at its token endpoint: grant_type client_credentials,
// requested_token_type WITTokenType, the client authenticated as for an
// access token and a DPoP proof (RFC 9449 §4) showing it holds the key the
// WIT will carry in cnf.jwk. The answer's issued_token_type is
// WITTokenType, its token_type N_A (RFC 8693 §2.2.1: not an access token).
const (
	// WITTokenType names a WIT. No URN is registered for one yet, so it is
	// this project's own.
	WITTokenType = "urn:s2sjwt:params:oauth:token-type:wit"
	// WITTTL is a WIT's lifetime: longer than an access token's, since
	// every request proves the key anew, and within a verifier's default
	// bound on how far ahead exp may lie (authn.DefaultMaxLifetime).
	WITTTL = 30 * time.Minute
)

// workloadName is a client id fit for the path of a workload URI.
var workloadName = regexp.MustCompile(`^[a-zA-Z0-9_-][a-zA-Z0-9._-]*$`)

type witClaims struct {
	Issuer       string `json:"iss"`
	Subject      string `json:"sub"`
	ExpiresAt    int64  `json:"exp"`
	IssuedAt     int64  `json:"iat"`
	ID           string `json:"jti"`
	Confirmation struct {
		JWK jwk.Key `json:"jwk"`
	} `json:"cnf"`
}

func (c witClaims) GetExpirationTime() (*jwt.NumericDate, error) { return unixDate(c.ExpiresAt) }
func (c witClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return unixDate(c.IssuedAt) }
func (c witClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c witClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c witClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c witClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// issueWIT answers a request for a WIT: for the authenticated client, bound
// to the key its one DPoP proof shows.
func (s *server) issueWIT(r *http.Request, req *tokenRequest) (*tokenResponse, *oauthError) {
	if s.cfg.TrustDomain == "" {
		return nil, badRequest("invalid_request", "this issuer issues no workload identity tokens")
	}
	client, oerr := s.authenticate(r, req.cred)
	if oerr != nil {
		return nil, oerr
	}
	subject := client.SPIFFEID
	if subject == "" {
		if !workloadName.MatchString(client.ID) {
			return nil, badRequest("unauthorized_client", "this client's id cannot name a workload (wimse://trust-domain/client-id)")
		}
		subject = "wimse://" + s.cfg.TrustDomain + "/" + client.ID
	}
	proofs := r.Header.Values("DPoP")
	if len(proofs) != 1 {
		return nil, &oauthError{status: http.StatusBadRequest, code: "invalid_dpop_proof",
			description: "a workload identity token needs one DPoP proof of the key it will carry"}
	}
	key, oerr := s.provenKey(r, proofs[0])
	if oerr != nil {
		return nil, oerr
	}
	token, jti, kid, err := s.signWIT(r, subject, key)
	if err != nil {
		return nil, &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "try again later", cause: err}
	}
	s.deps.Logger.Info("workload identity token issued", "jti", jti, "sub", subject, "kid", kid, "ttl", WITTTL, telemetry.Attr(r.Context()))
	return &tokenResponse{AccessToken: token, TokenType: "N_A", ExpiresIn: int(WITTTL / time.Second), IssuedTokenType: WITTokenType}, nil
}

func (s *server) signWIT(r *http.Request, subject string, key jwk.Key) (token, jti, kid string, err error) {
	signer, err := s.deps.Keys.Signer(r.Context())
	if err != nil {
		return "", "", "", err
	}
	now := s.now()
	claims := witClaims{Issuer: s.cfg.Issuer, Subject: subject, ExpiresAt: now.Add(WITTTL).Unix(), IssuedAt: now.Unix(), ID: newTokenID()}
	key.ID = "" // the caller's kid says nothing to a verifier
	claims.Confirmation.JWK = key
	t := jwt.NewWithClaims(jwt.GetSigningMethod(signer.Algorithm), claims)
	t.Header["typ"] = authn.WITType
	t.Header["kid"] = signer.ID
	token, err = t.SignedString(signer.Signer)
	return token, claims.ID, signer.ID, err
}
