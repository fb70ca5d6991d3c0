package identity

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/httpx"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/telemetry"
)

// maxTokenRequestBytes bounds a token request body.
const maxTokenRequestBytes = 16 << 10

// tokenRequest is a client credentials request in either accepted shape.
type tokenRequest struct {
	grantType string
	audience  string
	scope     string
	subject   string // seed JSON shape only; must be the authenticated client
	expiresIn string // optional: ask for a shorter lifetime than the cap
	cred      clientCredentials
	exchange  exchangeRequest // token exchange only
}

// oauthError is an RFC 6749 §5.2 error response.
type oauthError struct {
	status      int
	code        string
	description string
	cause       error // for the log only
	retryAfter  time.Duration
	quiet       bool // not logged: one of a flood already logged once
}

func (e *oauthError) Error() string { return e.code + ": " + e.description }

func badRequest(code, description string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: code, description: description}
}

// writeOAuthError is the one place token-endpoint failures become responses.
func (s *server) writeOAuthError(w http.ResponseWriter, r *http.Request, e *oauthError) {
	cause := ""
	if e.cause != nil {
		cause = httpx.LogBounded(e.cause.Error())
	}
	if !e.quiet {
		s.deps.Logger.Info("token request refused", "error", e.code, "reason", e.description, "cause", cause, "remote", r.RemoteAddr, telemetry.Attr(r.Context()))
	}
	s.metrics.requestRefused(e)
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(e.retryAfter))
	}
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="identity"`)
	}
	w.Header().Set("Pragma", "no-cache")
	httpx.Error(w, e.status, e.code, e.description)
}

func (s *server) handleIssueToken(w http.ResponseWriter, r *http.Request) {
	if s.nonces != nil {
		// Every answer carries the current nonce (RFC 9449 §8.2).
		w.Header().Set("DPoP-Nonce", s.nonces.current())
	}
	req, oerr := parseTokenRequest(w, r)
	if oerr == nil {
		var resp *tokenResponse
		resp, oerr = s.issue(r, req)
		if oerr == nil {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Pragma", "no-cache")
			httpx.Encode(w, http.StatusOK, resp)
			return
		}
	}
	s.writeOAuthError(w, r, oerr)
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
	// IssuedTokenType answers a token exchange (RFC 8693 §2.2.1).
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// authenticate proves the client. A correct secret always passes: the
// failure limiter only answers failures, per source, so nobody else's
// failures can refuse a client, while a flood of them is bounded in cost.
func (s *server) authenticate(r *http.Request, cred clientCredentials) (*Client, *oauthError) {
	invalid := func(cause error) *oauthError {
		return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", description: "client authentication failed", cause: cause}
	}
	if cred.hasBasic && len(cred.basicID) > MaxClientIDBytes {
		return nil, s.throttled(s.limiter.fail(sourceOf(r), ""), invalid(fmt.Errorf("%w: client id of %d bytes", errBadClient, len(cred.basicID))))
	}
	client, err := s.authenticateClient(r.Context(), cred)
	if err == nil {
		err = s.checkClientStatus(r.Context(), client)
	}
	switch {
	case errors.Is(err, errClientWithdrawn):
		return nil, &oauthError{status: http.StatusUnauthorized, code: "invalid_client", description: "client is suspended or revoked", cause: err}
	case errors.Is(err, errSeveralClientAuth):
		return nil, badRequest("invalid_request", "use exactly one client authentication method")
	case (errors.Is(err, errNoClientAuth) || errors.Is(err, errBadClient)) && cred.hasBasic:
		return nil, s.throttled(s.limiter.fail(sourceOf(r), cred.basicID), invalid(err))
	case errors.Is(err, errNoClientAuth), errors.Is(err, errBadClient):
		return nil, invalid(err)
	case err != nil:
		return nil, &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "try again later", cause: err}
	}
	return client, nil
}

// errClientWithdrawn is a caller that proved its credentials but was
// revoked or suspended: it gets no token (invalid_client).
var errClientWithdrawn = errors.New("identity: client revoked or suspended")

func (s *server) checkClientStatus(ctx context.Context, client *Client) error {
	if s.deps.Status == nil {
		return nil
	}
	st, err := s.deps.Status.clientStatus(ctx, client.ID)
	if err != nil {
		return err
	}
	if st != authn.StatusValid {
		return fmt.Errorf("%w: %q is %s", errClientWithdrawn, client.ID, statusNames[st])
	}
	return nil
}

// retryAfterSeconds is d as a Retry-After value, rounded up.
func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// throttled turns a failure over the limiter's bounds into 429 with
// Retry-After; the ones after the first over a bound are not logged.
func (s *server) throttled(t throttle, failure *oauthError) *oauthError {
	if t.wait <= 0 {
		return failure
	}
	return &oauthError{status: http.StatusTooManyRequests, code: "invalid_client", description: lockedOutMessage,
		retryAfter: t.wait, quiet: t.quiet, cause: fmt.Errorf("failures over the limit for %s: %w", t.wait.Round(time.Second), failure.cause)}
}

func (s *server) issue(r *http.Request, req *tokenRequest) (*tokenResponse, *oauthError) {
	switch {
	case req.grantType == "client_credentials" && req.exchange.requestedTokenType == WITTokenType:
		return s.issueWIT(r, req)
	case req.grantType == "client_credentials":
	case req.grantType == TokenExchangeGrant:
		return s.exchange(r, req)
	case req.grantType == "":
		return nil, badRequest("invalid_request", "grant_type is required")
	default:
		return nil, badRequest("unsupported_grant_type", "only client_credentials and token exchange are supported")
	}

	client, oerr := s.authenticate(r, req.cred)
	if oerr != nil {
		return nil, oerr
	}

	if req.subject != "" && req.subject != client.ID {
		// Zero trust: who the token names is who proved it, never who asked.
		return nil, &oauthError{status: http.StatusForbidden, code: "unauthorized_client",
			description: "sub must be the authenticated client", cause: fmt.Errorf("%q asked for sub %q", client.ID, req.subject)}
	}
	scope, ttl, oerr := s.grant(client, req)
	if oerr != nil {
		return nil, oerr
	}
	jkt, oerr := s.proofOfPossession(r, client, req.audience)
	if oerr != nil {
		return nil, oerr
	}
	g := grant{client: client, subject: client.Subject(), audience: req.audience, scope: scope, jkt: jkt, ttl: ttl}
	token, jti, kid, err := s.sign(r.Context(), g)
	if err != nil {
		return nil, &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "try again later", cause: err}
	}
	s.deps.Logger.Info("token issued", "jti", jti, "sub", g.subject, "aud", req.audience, "scope", scope, "kid", kid, "ttl", ttl, "dpop_jkt", jkt,
		telemetry.Attr(r.Context()))
	s.metrics.tokenIssued(client.ID, req.audience, jkt != "")
	return g.response(token), nil
}

// grant is one token to sign: what the registry let a request have.
type grant struct {
	client   *Client // who asked: the token's client_id
	subject  string  // sub: the client itself, or whom it acts for
	actor    *authn.Actor
	audience string
	scope    string
	jkt      string // the DPoP key the token is bound to, if any
	ttl      time.Duration
}

func (g grant) response(token string) *tokenResponse {
	tokenType := "Bearer"
	if g.jkt != "" {
		tokenType = "DPoP"
	}
	return &tokenResponse{AccessToken: token, TokenType: tokenType, ExpiresIn: int(g.ttl / time.Second), Scope: g.scope}
}

// grant is what the registry lets client have of what req asks: the scope,
// and the lifetime, capped by the audience's max_ttl.
func (s *server) grant(client *Client, req *tokenRequest) (scope string, ttl time.Duration, oerr *oauthError) {
	if len(client.Allow) == 0 {
		return "", 0, badRequest("unauthorized_client", "client may not use client_credentials")
	}
	if req.audience == "" {
		return "", 0, badRequest("invalid_target", "audience (or resource) is required")
	}
	allowed, ok := client.Allow[req.audience]
	if !ok {
		return "", 0, badRequest("invalid_target", "client may not get tokens for this audience")
	}
	if scope, oerr = grantScope(req.scope, allowed); oerr != nil {
		return "", 0, oerr
	}
	ttl, oerr = shorter(min(s.cfg.TokenTTL, time.Duration(s.cfg.Registry.Audiences[req.audience].MaxTTL)), req.expiresIn)
	return scope, ttl, oerr
}

// shorter is ttl, or expiresIn seconds if a client asked for less.
func shorter(ttl time.Duration, expiresIn string) (time.Duration, *oauthError) {
	if expiresIn == "" {
		return ttl, nil
	}
	secs, err := strconv.Atoi(expiresIn)
	if err != nil || secs < 1 {
		return 0, badRequest("invalid_request", "expires_in must be a positive number of seconds")
	}
	// Compare in seconds: secs*time.Second overflows past ~292 years.
	if secs < int(ttl/time.Second) {
		ttl = time.Duration(secs) * time.Second
	}
	return ttl, nil
}

// proofOfPossession checks the request's DPoP proof (RFC 9449 §5), if any,
// and returns the thumbprint to bind the token to; a client or audience
// that requires DPoP gets no token without one. Proofs are single-use.
func (s *server) proofOfPossession(r *http.Request, client *Client, audience string) (jkt string, oerr *oauthError) {
	invalid := func(description string, cause error) *oauthError {
		return &oauthError{status: http.StatusBadRequest, code: "invalid_dpop_proof", description: description, cause: cause}
	}
	proofs := r.Header.Values("DPoP")
	required := client.DPoP == DPoPRequired || s.cfg.Registry.Audiences[audience].DPoP == DPoPRequired
	off := client.DPoP == DPoPOff || s.cfg.Registry.Audiences[audience].DPoP == DPoPOff
	switch {
	case off && !required:
		return "", nil // proofs ignored: a bearer token
	case len(proofs) > 1:
		return "", invalid("send one DPoP proof", nil)
	case len(proofs) == 0 && required:
		return "", invalid("a DPoP proof is required for this client or audience", nil)
	case len(proofs) == 0:
		return "", nil
	}
	key, oerr := s.provenKey(r, proofs[0])
	if oerr != nil {
		return "", oerr
	}
	jkt, err := jwk.Thumbprint(key.Public)
	if err != nil {
		return "", &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "try again later", cause: err}
	}
	return jkt, nil
}

// provenKey checks a DPoP proof made for the token endpoint and returns
// the key it proves the client holds.
func (s *server) provenKey(r *http.Request, proof string) (jwk.Key, *oauthError) {
	invalid := func(description string, cause error) *oauthError {
		return &oauthError{status: http.StatusBadRequest, code: "invalid_dpop_proof", description: description, cause: cause}
	}
	key, err := s.proofs.ProvenKey(r.Context(), authn.DPoPRequest{Proof: proof, Method: r.Method, URL: s.tokenEndpoint})
	switch {
	case errors.Is(err, authn.ErrDPoPNonce):
		return key, &oauthError{status: http.StatusBadRequest, code: "use_dpop_nonce", description: "use the DPoP-Nonce this response carries", cause: err}
	case errors.Is(err, authn.ErrDPoPReplayed):
		return key, invalid("DPoP proof already used", err)
	case errors.Is(err, authn.ErrDPoPProof):
		return key, invalid("invalid DPoP proof", err)
	case err != nil:
		return key, &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "try again later", cause: err}
	}
	return key, nil
}

// grantScope returns the scope to grant: the requested one if every scope in
// it is allowed, or all allowed scopes if none was requested.
func grantScope(requested string, allowed []string) (string, *oauthError) {
	if requested == "" {
		return strings.Join(allowed, " "), nil
	}
	scopes := strings.Fields(requested)
	for _, sc := range scopes {
		if !slices.Contains(allowed, sc) {
			return "", badRequest("invalid_scope", "scope not allowed: "+sc)
		}
	}
	return strings.Join(slices.Compact(slices.Sorted(slices.Values(scopes))), " "), nil
}

// accessTokenClaims are the RFC 9068 claims, with "aud" as a single string.
type accessTokenClaims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	ExpiresAt int64  `json:"exp"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	ID        string `json:"jti"`
	ClientID  string `json:"client_id"`
	Scope     string `json:"scope,omitempty"`
	// Confirmation binds a DPoP token to its key's thumbprint.
	Confirmation *authn.Confirmation `json:"cnf,omitempty"`
	// Actor names who acts for Subject in an exchanged token (RFC 8693 §4.1).
	Actor *authn.Actor `json:"act,omitempty"`
	// Status names the token's entry in the issuer's status list.
	Status *statusClaim `json:"status,omitempty"`
}

func (c accessTokenClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return unixDate(c.ExpiresAt)
}
func (c accessTokenClaims) GetIssuedAt() (*jwt.NumericDate, error)  { return unixDate(c.IssuedAt) }
func (c accessTokenClaims) GetNotBefore() (*jwt.NumericDate, error) { return unixDate(c.NotBefore) }
func (c accessTokenClaims) GetIssuer() (string, error)              { return c.Issuer, nil }
func (c accessTokenClaims) GetSubject() (string, error)             { return c.Subject, nil }
func (c accessTokenClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings{c.Audience}, nil
}

func unixDate(sec int64) (*jwt.NumericDate, error) { return jwt.NewNumericDate(time.Unix(sec, 0)), nil }

// sign issues g's token: an RFC 9068 access token, or a SPIFFE JWT-SVID
// (typ JWT, sub its SPIFFE ID) for a client with one calling for itself.
// Both carry the same claims; a JWT-SVID's extra ones are allowed by its
// standard (§3).
func (s *server) sign(ctx context.Context, g grant) (token, jti, kid string, err error) {
	key, err := s.deps.Keys.Signer(ctx)
	if err != nil {
		return "", "", "", err
	}
	typ := authn.AccessTokenType
	if g.client.SPIFFEID != "" && g.actor == nil {
		if key.Algorithm == jwk.EdDSA {
			return "", "", "", errors.New("a JWT-SVID cannot be signed with EdDSA (JWT-SVID §2.1): set IDENTITY_ALG to ES256 or RS256")
		}
		typ = "JWT"
	}
	jti = newTokenID()
	now := s.now()
	claims := accessTokenClaims{
		Issuer: s.cfg.Issuer, Subject: g.subject, Audience: g.audience,
		ExpiresAt: now.Add(g.ttl).Unix(), IssuedAt: now.Unix(), NotBefore: now.Unix(),
		ID: jti, ClientID: g.client.ID, Scope: g.scope, Confirmation: confirmation(g.jkt), Actor: g.actor,
	}
	if s.deps.Status != nil {
		// The slot stays the token's until no verifier could still take it.
		idx, err := s.deps.Status.allocate(ctx, jti, g.client.ID, now.Add(g.ttl+authn.MaxLeeway))
		if err != nil {
			return "", "", "", err
		}
		claims.Status = &statusClaim{StatusList: authn.StatusRef{Index: idx, URI: s.cfg.Issuer + StatusListPath}}
	}
	t := jwt.NewWithClaims(jwt.GetSigningMethod(key.Algorithm), claims)
	t.Header["typ"] = typ
	t.Header["kid"] = key.ID
	token, err = t.SignedString(key.Signer)
	return token, jti, key.ID, err
}

// newTokenID returns 128 random bits, base64url encoded.
func newTokenID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func parseTokenRequest(w http.ResponseWriter, r *http.Request) (*tokenRequest, *oauthError) {
	req := &tokenRequest{}
	id, secret, hasBasic, err := basicCredentials(r)
	if err != nil {
		return nil, badRequest("invalid_request", "malformed Basic credentials")
	}
	req.cred = clientCredentials{basicID: id, basicSecret: secret, hasBasic: hasBasic}

	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/x-www-form-urlencoded":
		r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequestBytes)
		if err := r.ParseForm(); err != nil {
			return nil, badRequest("invalid_request", "malformed or oversized form body")
		}
		form := r.PostForm
		for name, values := range form {
			if len(values) > 1 { // RFC 6749 §3.2
				return nil, badRequest("invalid_request", "parameter repeated: "+name)
			}
		}
		audience, resource := form.Get("audience"), form.Get("resource")
		if audience != "" && resource != "" && audience != resource {
			return nil, badRequest("invalid_target", "audience and resource name different targets")
		}
		req.grantType = form.Get("grant_type")
		req.audience = cmp.Or(audience, resource)
		req.scope = form.Get("scope")
		req.expiresIn = form.Get("expires_in")
		req.cred.assertionType = form.Get("client_assertion_type")
		req.cred.assertion = form.Get("client_assertion")
		req.cred.clientIDParam = form.Get("client_id")
		req.exchange = exchangeRequest{
			subjectToken: form.Get("subject_token"), subjectTokenType: form.Get("subject_token_type"),
			actorToken: form.Get("actor_token"), actorTokenType: form.Get("actor_token_type"),
			requestedTokenType: form.Get("requested_token_type"),
		}
	case "application/json":
		// The seed's shape: {"sub": "careergpt-backend", "aud": "logging-service"}.
		var body struct {
			GrantType     string `json:"grant_type"`
			Sub           string `json:"sub"`
			Aud           string `json:"aud"`
			Scope         string `json:"scope"`
			AssertionType string `json:"client_assertion_type"`
			Assertion     string `json:"client_assertion"`
		}
		if err := httpx.Decode(w, r, maxTokenRequestBytes, &body); err != nil {
			return nil, badRequest("invalid_request", "malformed or oversized JSON body")
		}
		req.grantType = body.GrantType
		if req.grantType == "" {
			req.grantType = "client_credentials"
		}
		req.subject, req.audience, req.scope = body.Sub, body.Aud, body.Scope
		req.cred.assertionType, req.cred.assertion = body.AssertionType, body.Assertion
	default:
		return nil, badRequest("invalid_request", "content type must be application/x-www-form-urlencoded or application/json")
	}
	return req, nil
}

func confirmation(jkt string) *authn.Confirmation {
	if jkt == "" {
		return nil
	}
	return &authn.Confirmation{JKT: jkt}
}
