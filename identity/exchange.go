package identity

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/telemetry"
)

// Token exchange (RFC 8693): a client that received a caller's token asks
// for a token toward another service on that caller's behalf. The new
// token's sub is the caller's, its act names the client (and any actors
// before it), its client_id is the client.
const (
	TokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"
	// Token types (RFC 8693 §3): Identity's tokens are both.
	AccessTokenType = "urn:ietf:params:oauth:token-type:access_token"
	JWTTokenType    = "urn:ietf:params:oauth:token-type:jwt"
)

// exchangeRequest holds a token exchange's own parameters (RFC 8693 §2.1).
type exchangeRequest struct {
	subjectToken, subjectTokenType string
	actorToken, actorTokenType     string
	requestedTokenType             string
}

func isTokenType(t string) bool { return t == AccessTokenType || t == JWTTokenType }

// exchange issues a delegated token. Every subject token is exchanged at
// most once: it is the authority of one request to its audience, which
// needs one onward token; a second exchange would be a retry (which
// should come with a new request and a new token) or a copy taken from
// the actor's memory or logs.
func (s *server) exchange(r *http.Request, req *tokenRequest) (*tokenResponse, *oauthError) {
	actor, oerr := s.authenticate(r, req.cred)
	if oerr != nil {
		return nil, oerr
	}
	if len(actor.MayAct) == 0 {
		return nil, badRequest("unauthorized_client", "client may not use token exchange")
	}
	x := req.exchange
	if oerr := x.validate(); oerr != nil {
		return nil, oerr
	}
	subject, oerr := s.verifyIssued(r.Context(), "subject_token", x.subjectToken)
	if oerr != nil {
		return nil, oerr
	}
	if oerr := s.checkSubjectStatus(r.Context(), subject); oerr != nil {
		return nil, oerr
	}
	if x.actorToken != "" {
		if oerr := s.checkActorToken(r.Context(), actor, x.actorToken); oerr != nil {
			return nil, oerr
		}
	}
	g, oerr := s.delegate(actor, subject, req)
	if oerr != nil {
		return nil, oerr
	}
	if g.jkt, oerr = s.proofOfPossession(r, actor, g.audience); oerr != nil {
		return nil, oerr
	}
	if oerr := s.useUp(r.Context(), subject, actor); oerr != nil {
		return nil, oerr
	}
	token, jti, kid, err := s.sign(r.Context(), g)
	if err != nil {
		return nil, &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "try again later", cause: err}
	}
	s.deps.Logger.Info("token exchanged", "jti", jti, "subject_jti", subject.ID, "sub", g.subject, "act", actor.ID, "aud", g.audience,
		"scope", g.scope, "kid", kid, "ttl", g.ttl, "dpop_jkt", g.jkt, telemetry.Attr(r.Context()))
	s.metrics.tokenIssued(actor.ID, g.audience, g.jkt != "")
	resp := g.response(token)
	resp.IssuedTokenType = AccessTokenType
	return resp, nil
}

// validate checks the exchange's own parameters (RFC 8693 §2.1).
func (x exchangeRequest) validate() *oauthError {
	switch {
	case x.subjectToken == "" || x.subjectTokenType == "":
		return badRequest("invalid_request", "subject_token and subject_token_type are required")
	case !isTokenType(x.subjectTokenType):
		return badRequest("invalid_request", "subject_token_type must be access_token or jwt")
	case x.requestedTokenType != "" && !isTokenType(x.requestedTokenType):
		return badRequest("invalid_request", "requested_token_type must be access_token or jwt")
	case (x.actorToken == "") != (x.actorTokenType == ""), x.actorTokenType != "" && !isTokenType(x.actorTokenType):
		return badRequest("invalid_request", "actor_token needs an actor_token_type of access_token or jwt, and only with one")
	}
	return nil
}

// useUp marks subject exchanged, or refuses a second exchange of it.
// Last before signing: a request refused for anything else uses nothing.
func (s *server) useUp(ctx context.Context, subject *authn.Claims, actor *Client) *oauthError {
	first, err := s.deps.Replay.Use(ctx, "exchange:"+subject.ID, subject.ExpiresAt.Add(s.leeway()))
	if err != nil {
		return &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "try again later", cause: err}
	}
	if !first {
		return &oauthError{status: http.StatusBadRequest, code: "invalid_request", description: "subject_token was already exchanged",
			cause: fmt.Errorf("subject jti %s exchanged again by %q", subject.ID, actor.ID)}
	}
	return nil
}

// delegate is what actor's rules let it have for subject's token: the
// audience, a scope within both the rule's and the subject's own allow
// for that audience, a lifetime within the subject token's, and the
// actor chain one longer.
func (s *server) delegate(actor *Client, subject *authn.Claims, req *tokenRequest) (grant, *oauthError) {
	received := subject.Audience[0] // one: Identity's tokens have one, and verifyIssued checked it
	if !actor.receives(received) {
		// Whoever holds a token presented to another service (or stolen
		// from it) cannot exchange it here.
		return grant{}, &oauthError{status: http.StatusBadRequest, code: "invalid_request", description: "subject_token was not issued for this client's service",
			cause: fmt.Errorf("%q presented a token for %q", actor.ID, received)}
	}
	// The subject is whom the token names, also when it was exchanged
	// before (its client_id is then the previous actor).
	own, ok := s.cfg.Registry.clientWithSubject(subject.Subject)
	var rule *MayAct
	if ok {
		rule, ok = actor.mayActFor(own.ID, received)
	}
	if !ok {
		return grant{}, badRequest("invalid_request", "client may not act for this subject_token's subject")
	}
	if req.audience == "" {
		return grant{}, badRequest("invalid_target", "audience (or resource) is required")
	}
	allowed := slices.DeleteFunc(slices.Clone(rule.Allow[req.audience]), func(sc string) bool { return !slices.Contains(own.Allow[req.audience], sc) })
	if len(allowed) == 0 {
		return grant{}, badRequest("invalid_target", "client may not get tokens for this audience on this subject's behalf")
	}
	scope, oerr := grantScope(req.scope, allowed)
	if oerr != nil {
		return grant{}, oerr
	}
	if len(subject.Actors())+1 > authn.MaxActorChain {
		return grant{}, badRequest("invalid_request", "subject_token's actor chain is already "+strconv.Itoa(authn.MaxActorChain)+" long")
	}
	ttl := min(s.cfg.TokenTTL, time.Duration(s.cfg.Registry.Audiences[req.audience].MaxTTL), subject.ExpiresAt.Sub(s.now()).Truncate(time.Second))
	if ttl < time.Second {
		return grant{}, badRequest("invalid_request", "subject_token expires within a second")
	}
	if ttl, oerr = shorter(ttl, req.expiresIn); oerr != nil {
		return grant{}, oerr
	}
	return grant{client: actor, subject: subject.Subject, actor: &authn.Actor{Subject: actor.Subject(), Prior: subject.Actor},
		audience: req.audience, scope: scope, ttl: ttl}, nil
}

// verifyIssued verifies a token Identity issued, for any audience of its
// registry, as the resource server it was for would.
func (s *server) verifyIssued(ctx context.Context, param, raw string) (*authn.Claims, *oauthError) {
	invalid := func(err error) *oauthError {
		return &oauthError{status: http.StatusBadRequest, code: "invalid_request", description: param + " refused: " + authn.Describe(err), cause: err}
	}
	t, err := authn.Parse(raw)
	if err != nil {
		return nil, invalid(err)
	}
	aud := t.UnverifiedClaims().Audience
	if len(aud) != 1 || s.issued[aud[0]] == nil {
		return nil, invalid(fmt.Errorf("%w: %q", authn.ErrAudience, aud))
	}
	claims, err := s.issued[aud[0]].VerifyParsed(ctx, t)
	if err != nil {
		return nil, invalid(err)
	}
	return claims, nil
}

// checkSubjectStatus refuses a subject token that was revoked or
// suspended, or whose caller was: Identity reads its own list directly.
func (s *server) checkSubjectStatus(ctx context.Context, subject *authn.Claims) *oauthError {
	if s.deps.Status == nil {
		return nil
	}
	// Nobody acts for a withdrawn caller.
	if own, ok := s.cfg.Registry.clientWithSubject(subject.Subject); ok {
		if err := s.checkClientStatus(ctx, own); errors.Is(err, errClientWithdrawn) {
			return &oauthError{status: http.StatusBadRequest, code: "invalid_request", description: "subject_token's caller was revoked or suspended", cause: err}
		} else if err != nil {
			return &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "try again later", cause: err}
		}
	}
	if subject.Status == nil {
		return nil
	}
	st, err := s.deps.Status.tokenStatus(ctx, subject.ID, subject.ClientID)
	switch {
	case err != nil:
		return &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "try again later", cause: err}
	case st != authn.StatusValid:
		return badRequest("invalid_request", "subject_token was "+statusNames[st])
	}
	return nil
}

// checkActorToken: an actor_token (RFC 8693 §2.1), when sent, is one of
// the actor's own tokens from this issuer; naming another client would
// let one client claim to be acting as another.
func (s *server) checkActorToken(ctx context.Context, actor *Client, raw string) *oauthError {
	claims, oerr := s.verifyIssued(ctx, "actor_token", raw)
	if oerr != nil {
		return oerr
	}
	if claims.ClientID != actor.ID || claims.Actor != nil {
		return &oauthError{status: http.StatusBadRequest, code: "invalid_request", description: "actor_token does not name the authenticated client",
			cause: fmt.Errorf("%q sent an actor_token of %q", actor.ID, claims.ClientID)}
	}
	return nil
}

// newIssuedVerifiers builds a verifier of Identity's own tokens for each
// audience: subject and actor tokens of exchanges. Any registered client
// may appear as a prior actor.
func newIssuedVerifiers(cfg Config, keys *KeyStore, now func() time.Time) (map[string]*authn.Verifier, error) {
	var actors []string
	for _, c := range cfg.Registry.Clients {
		actors = append(actors, c.Subject())
	}
	out := map[string]*authn.Verifier{}
	for aud := range cfg.Registry.Audiences {
		v, err := authn.NewVerifier(authn.Config{Issuer: cfg.Issuer, Audience: aud, KeySet: ownKeys{keys}, Leeway: cfg.Leeway, Now: now, Actors: actors})
		if err != nil {
			return nil, err
		}
		out[aud] = v
	}
	return out, nil
}

// ownKeys is the key store as the key set its tokens verify with.
type ownKeys struct{ ks *KeyStore }

func (k ownKeys) Key(ctx context.Context, kid string) (jwk.Key, error) {
	for _, key := range k.ks.PublicKeys(ctx) {
		if key.ID == kid {
			return key, nil
		}
	}
	return jwk.Key{}, fmt.Errorf("%w: %q", authn.ErrUnknownKey, kid)
}

func (s *server) leeway() time.Duration { return cmp.Or(s.cfg.Leeway, authn.DefaultLeeway) }
