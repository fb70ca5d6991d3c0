package vulnerable

import (
	"crypto/ed25519"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ExchangeConfig lets Actor exchange Subject's tokens for Received toward
// Audience, with at most Scopes (RFC 8693).
type ExchangeConfig struct {
	Actor, Subject, Received, Audience string
	Scopes                             []string
}

const tokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"

// handleExchange is the token-exchange grant, correct unless the flaw is
// one of its own.
func (id *identity) handleExchange(w http.ResponseWriter, r *http.Request) {
	x := id.cfg.Exchange
	refuse := func(status int, code string) { writeJSONBody(w, status, map[string]string{"error": code}) }
	client, status := id.authenticate(r)
	switch {
	case status != 0:
		refuse(status, "invalid_client")
		return
	case x == nil || client != x.Actor && !id.has(NoExchangePolicy):
		refuse(http.StatusBadRequest, "unauthorized_client")
		return
	}
	subject, ok := id.verifyIssued(r.PostForm.Get("subject_token"), id.has(ExchangesUnverified), id.has(ExchangesExpired))
	switch {
	case !ok:
		refuse(http.StatusBadRequest, "invalid_request")
		return
	case subject["aud"] != x.Received && !id.has(ExchangesAnyAudienceToken), subject["sub"] != x.Subject:
		refuse(http.StatusBadRequest, "invalid_request")
		return
	case r.PostForm.Get("audience") != x.Audience && !id.has(ExchangesForAnyAudience):
		refuse(http.StatusBadRequest, "invalid_target")
		return
	}
	if actor := r.PostForm.Get("actor_token"); actor != "" && !id.has(IgnoresActorToken) {
		if c, ok := id.verifyIssued(actor, false, false); !ok || c["client_id"] != client {
			refuse(http.StatusBadRequest, "invalid_request")
			return
		}
	}
	scope := r.PostForm.Get("scope")
	for _, sc := range strings.Fields(scope) {
		if !slices.Contains(x.Scopes, sc) && !id.has(WidensScope) {
			refuse(http.StatusBadRequest, "invalid_scope")
			return
		}
	}
	jti, _ := subject["jti"].(string)
	id.mu.Lock()
	again := id.exchanged[jti]
	id.exchanged[jti] = true
	id.mu.Unlock()
	if again && !id.has(ExchangesTwice) {
		refuse(http.StatusBadRequest, "invalid_request")
		return
	}
	now := time.Now()
	exp := min(now.Add(5*time.Minute).Unix(), int64(subject["exp"].(float64)))
	if id.has(ExchangeOutlivesSubject) {
		exp = now.Add(10 * time.Minute).Unix()
	}
	claims := jwt.MapClaims{"iss": id.cfg.Issuer, "sub": subject["sub"], "aud": r.PostForm.Get("audience"), "act": map[string]any{"sub": client},
		"iat": now.Unix(), "exp": exp, "jti": newJTI(now), "client_id": client}
	if scope != "" {
		claims["scope"] = scope
	}
	switch {
	case id.has(ExchangeSubIsActor):
		claims["sub"] = client
	case id.has(ExchangeNoAct):
		delete(claims, "act")
	}
	raw := id.sign(claims)
	writeJSONBody(w, http.StatusOK, map[string]any{"access_token": raw, "token_type": "Bearer", "expires_in": exp - now.Unix(),
		"issued_token_type": "urn:ietf:params:oauth:token-type:access_token"})
}

// verifyIssued checks a token this identity issued: its signature (unless
// unverified), iss and exp (unless expiredOK), and returns its claims.
func (id *identity) verifyIssued(raw string, unverified, expiredOK bool) (jwt.MapClaims, bool) {
	claims := jwt.MapClaims{}
	var err error
	if unverified {
		_, _, err = jwt.NewParser().ParseUnverified(raw, claims)
	} else {
		opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer(id.cfg.Issuer)}
		if expiredOK {
			opts = append(opts, jwt.WithoutClaimsValidation())
		}
		_, err = jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return id.key.Public().(ed25519.PublicKey), nil }, opts...)
	}
	_, hasExp := claims["exp"].(float64)
	return claims, err == nil && hasExp
}
