package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// identityCases check the issuer profile: who may get which token, and
// what the token and the published keys look like.
const form = "application/x-www-form-urlencoded"

// refused judges a token request that must not get a token.
func refused(label string, status int, body []byte) verdict {
	obs := Observation{Label: label, Status: status, Error: errorOf(body)}
	if status >= 200 && status < 300 {
		return verdict{Fail, label + ": token issued", []Observation{obs}}
	}
	if status >= 500 {
		return verdict{Fail, fmt.Sprintf("%s: server error %d", label, status), []Observation{obs}}
	}
	return verdict{Pass, "", []Observation{obs}}
}

func identityCases() []IdentityCase {
	return []IdentityCase{
		{About: About{ID: "IDP-01", Category: "issuer profile", Severity: Critical, Expect: Refuse, Source: "RFC 6749 §3.2.1",
			Title:   "Token request without client authentication",
			Explain: "Zero trust starts at the issuer: a token says who the caller is, so the issuer must make every caller prove it. An anonymous request must get no token."},
			Run: func(ctx context.Context, e *env) verdict {
				s, b, err := e.identity.do(ctx, http.MethodPost, e.identity.tokenURL, form, "grant_type=client_credentials&audience="+url.QueryEscape(e.targetAudience()))
				return refusedOrErr(refused("anonymous", s, b), err)
			}},
		{About: About{ID: "IDP-02", Category: "issuer profile", Severity: Critical, Expect: Refuse, Source: "RFC 6749 §5.2",
			Title:   "Token request with a wrong client secret",
			Explain: "A client that cannot prove its identity is answered invalid_client, never with a token."},
			Run: func(ctx context.Context, e *env) verdict {
				s, b, err := e.identity.do(ctx, http.MethodPost, e.identity.tokenURL, form,
					"grant_type=client_credentials&audience="+url.QueryEscape(e.targetAudience()), [2]string{e.identity.cfg.ClientID, "wrong-" + randomID()})
				return refusedOrErr(refused("wrong secret", s, b), err)
			}},
		{About: About{ID: "IDP-03", Category: "issuer profile", Severity: Critical, Expect: Refuse, Source: "RFC 9068 §2.2; seed scenario",
			Title:   "Caller chooses another service's sub",
			Explain: "sub must be the authenticated client. If a caller could ask for sub=careergpt-backend, every audit trail downstream would record a lie."},
			Run: checkRequestedSub},
		{About: About{ID: "IDP-04", Category: "issuer profile", Severity: High, Expect: Refuse, Source: "RFC 8707 §2; least privilege",
			Title:   "Audience outside the client's policy",
			Explain: "The registry says which services each client may call. A token for any other audience must not be issued, or least privilege is only a wish."},
			Run: func(ctx context.Context, e *env) verdict {
				aud := e.identity.cfg.ForbiddenAudience
				if aud == "" {
					return verdict{status: Skip, reason: "identity.forbidden_audience not set in the target"}
				}
				form2 := "grant_type=client_credentials&audience=" + url.QueryEscape(aud)
				s, b, err := e.identity.do(ctx, http.MethodPost, e.identity.tokenURL, form, form2, e.identity.basic())
				return refusedOrErr(refused("audience "+aud, s, b), err)
			}},
		{About: About{ID: "IDP-05", Category: "issuer profile", Severity: High, Expect: Accept, Source: "RFC 9068 §2",
			Title:   "Issued tokens carry the RFC 9068 claims with a bounded lifetime",
			Explain: "An access token names its issuer, subject, audience, lifetime and a unique id, and says it is an access token (typ at+jwt) so it cannot be mistaken for an ID token."},
			Run: checkIssuedToken},
		{About: About{ID: "IDP-06", Category: "issuer profile", Severity: Medium, Expect: Accept, Source: "RFC 9068 §2.2; RFC 7519 §4.1.7",
			Title:   "Every token gets a unique jti",
			Explain: "The jti is how a single-use service spots a replay and how an audit trail names a token without storing it. Two tokens must never share one."},
			Run: func(ctx context.Context, e *env) verdict {
				seen := map[any]bool{}
				for range 5 {
					tok, err := e.identity.token(ctx, e.targetAudience(), e.targetScope())
					if err != nil {
						return verdict{Fail, err.Error(), nil}
					}
					_, c, err := decode(tok)
					if err != nil || c["jti"] == nil || seen[c["jti"]] {
						return verdict{Fail, fmt.Sprintf("jti %v missing or repeated", c["jti"]), nil}
					}
					seen[c["jti"]] = true
				}
				return verdict{status: Pass}
			}},
		{About: About{ID: "IDP-07", Category: "issuer profile", Severity: Critical, Expect: Accept, Source: "RFC 7517 §4, §9.3; RFC 7518 §6",
			Title:   "The JWKS holds public keys only",
			Explain: "The JWKS is public by design. A private parameter (d, p, q…) or a symmetric key (kty oct) in it hands every reader the power to sign tokens."},
			Run: checkPublicJWKS},
		{About: About{ID: "IDP-08", Category: "issuer profile", Severity: High, Expect: Accept, Source: "RFC 8414 §3.3",
			Title:   "Metadata names the issuer it is for",
			Explain: "Resource servers may discover the JWKS from the issuer's metadata; they must be able to check that the metadata's issuer is exactly the one they trust."},
			Run: func(ctx context.Context, e *env) verdict {
				if e.identity.metadata == nil {
					return verdict{Fail, "no RFC 8414 metadata at /.well-known/oauth-authorization-server", nil}
				}
				if e.identity.metadata["issuer"] != e.identity.cfg.Issuer {
					return verdict{Fail, fmt.Sprintf("metadata issuer %v, configured %s", e.identity.metadata["issuer"], e.identity.cfg.Issuer), nil}
				}
				if s, _ := e.identity.metadata["jwks_uri"].(string); s == "" {
					return verdict{Fail, "metadata has no jwks_uri", nil}
				}
				return verdict{status: Pass}
			}},
		{About: About{ID: "IDP-09", Category: "issuer profile", Severity: Low, Expect: Refuse, Source: "RFC 6749 §5.2",
			Title:   "Unsupported grant type",
			Explain: "Service-to-service tokens come from the client credentials grant only; a password grant or anything else is answered unsupported_grant_type."},
			Run: func(ctx context.Context, e *env) verdict {
				s, b, err := e.identity.do(ctx, http.MethodPost, e.identity.tokenURL, form,
					"grant_type=password&username=a&password=b&audience="+url.QueryEscape(e.targetAudience()), e.identity.basic())
				v := refusedOrErr(refused("grant_type=password", s, b), err)
				if v.status == Pass && errorCode(b) != "unsupported_grant_type" {
					v.status, v.reason = Fail, fmt.Sprintf("error is %q, not unsupported_grant_type", errorCode(b))
				}
				return v
			}},
		{About: About{ID: "IDP-10", Category: "issuer profile", Severity: Medium, Expect: Refuse, Source: "RFC 6749 §10.10; OWASP ASVS V2.2",
			Title:   "Failed client authentication is rate-limited",
			Explain: "Without a limit, an attacker can guess client secrets as fast as the network allows. After repeated failures the issuer must slow the client down (429)."},
			Run: checkRateLimit},
		{About: About{ID: "IDP-12", Category: "issuer profile", Severity: High, Expect: Accept, Source: "RFC 9449 §5, §6",
			Title:   "A token requested with a DPoP proof is bound to the proof's key",
			Explain: "An issuer that advertises DPoP must bind the token it issues to the key that signed the proof (cnf.jkt) and say so (token_type DPoP). Issuing a plain bearer token instead silently drops the protection the caller asked for."},
			Run: checkDPoPBinding},
		{About: About{ID: "IDP-13", Category: "issuer profile", Severity: Medium, Expect: Refuse, Source: "RFC 9449 §11.1",
			Title:   "A DPoP proof replayed at the token endpoint is refused",
			Explain: "A proof works once: one copied from a token request must not get its copier a second token bound to the victim's key (and the victim's key proves nothing if it can be replayed)."},
			Run: checkProofReplayAtTokenEndpoint},
		{About: About{ID: "IDP-11", Category: "issuer profile", Severity: High, Expect: Accept, Source: "OWASP ASVS V2.2.1; OWASP device cookies; RFC 6749 §10.10",
			Title:   "Others' failed attempts under a client's id do not lock that client out",
			Explain: "A rate limit keyed on the client id a request merely claims lets anyone lock any client out: a few requests a minute with its id and a wrong secret and the real service gets no tokens. Keying it on the address as well is not enough where the attacker shares the client's address (a proxy, a NAT gateway, a node), and exempting addresses that succeeded before fails after a restart, at another replica, or before the first success. A client that proves its credentials must get its token, whatever failures came before it."},
			Run: checkNoLockoutByClaimedID},
	}
}

// tokenEndpointProof is a DPoP proof for the identity's token endpoint, by
// the suite's proof key, and that key's thumbprint.
func (e *env) tokenEndpointProof() (proof, jkt string, err error) {
	if _, ok := e.identity.metadata["dpop_signing_alg_values_supported"]; !ok {
		return "", "", errNoDPoP
	}
	endpoint, _ := e.identity.metadata["token_endpoint"].(string)
	key, ok := e.keys.Get(testissuer.Attacker, "ES256")
	if !ok {
		return "", "", fmt.Errorf("no ES256 proof key")
	}
	pub, err := json.Marshal(jwk.Key{Algorithm: key.Algorithm, Public: key.Signer.Public()})
	if err != nil {
		return "", "", err
	}
	proof, err = sign(key.Signer, key.Algorithm, map[string]any{"typ": "dpop+jwt", "alg": key.Algorithm, "jwk": json.RawMessage(pub)},
		map[string]any{"jti": randomID(), "htm": http.MethodPost, "htu": endpoint, "iat": time.Now().Unix()})
	if err != nil {
		return "", "", err
	}
	jkt, err = jwk.Thumbprint(key.Signer.Public())
	return proof, jkt, err
}

var errNoDPoP = errors.New("the identity does not advertise DPoP (dpop_signing_alg_values_supported)")

func refusedOrErr(v verdict, err error) verdict {
	if err != nil {
		return verdict{Fail, "no answer: " + err.Error(), nil}
	}
	return v
}

func errorOf(body []byte) string {
	var r tokenResponse
	_ = json.Unmarshal(body, &r)
	return strings.Trim(r.Error+": "+r.Description, ": ")
}

func errorCode(body []byte) string {
	var r tokenResponse
	_ = json.Unmarshal(body, &r)
	return r.Error
}

// targetAudience is an audience the suite's client may get: the first
// resource server's.
func (e *env) targetAudience() string {
	if len(e.target.ResourceServers) > 0 {
		return e.target.ResourceServers[0].Audience
	}
	return "logging-service"
}

func (e *env) targetScope() string {
	if len(e.target.ResourceServers) > 0 {
		return e.target.ResourceServers[0].Scope
	}
	return ""
}

// checkIssuedToken is IDP-05.
func checkIssuedToken(ctx context.Context, e *env) verdict {
	tok, err := e.identity.token(ctx, e.targetAudience(), e.targetScope())
	if err != nil {
		return verdict{Fail, err.Error(), nil}
	}
	h, c, err := decode(tok)
	if err != nil {
		return verdict{Fail, "issued token is not a compact JWS: " + err.Error(), nil}
	}
	var problems []string
	if typ, _ := h["typ"].(string); !strings.EqualFold(strings.TrimPrefix(strings.ToLower(typ), "application/"), "at+jwt") {
		problems = append(problems, fmt.Sprintf("typ is %q, not at+jwt", typ))
	}
	for _, name := range []string{"alg", "kid"} {
		if s, _ := h[name].(string); s == "" {
			problems = append(problems, "header lacks "+name)
		}
	}
	for _, name := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id"} {
		if _, ok := c[name]; !ok {
			problems = append(problems, "no "+name)
		}
	}
	if c["iss"] != e.identity.cfg.Issuer {
		problems = append(problems, fmt.Sprintf("iss %v is not %s", c["iss"], e.identity.cfg.Issuer))
	}
	if c["sub"] != e.identity.cfg.ClientID {
		problems = append(problems, fmt.Sprintf("sub %v is not the client %s", c["sub"], e.identity.cfg.ClientID))
	}
	exp, _ := c["exp"].(float64)
	iat, _ := c["iat"].(float64)
	if life := time.Duration(exp-iat) * time.Second; life <= 0 || life > time.Hour {
		problems = append(problems, fmt.Sprintf("lifetime %s is not within (0, 1h]", life))
	}
	if h["alg"] == "none" || strings.HasPrefix(fmt.Sprint(h["alg"]), "HS") {
		problems = append(problems, fmt.Sprintf("signed with %v: resource servers would need the secret", h["alg"]))
	}
	if len(problems) > 0 {
		return verdict{Fail, strings.Join(problems, "; "), nil}
	}
	return verdict{status: Pass}
}

// checkPublicJWKS is IDP-07.
func checkPublicJWKS(ctx context.Context, e *env) verdict {
	s, b, err := e.identity.do(ctx, http.MethodGet, e.identity.jwksURL, "", "")
	if err != nil || s != 200 {
		return verdict{Fail, fmt.Sprintf("JWKS not served: %d %v", s, err), nil}
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil || len(set.Keys) == 0 {
		return verdict{Fail, "JWKS is not a non-empty key set", nil}
	}
	var problems []string
	for _, k := range set.Keys {
		for _, p := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
			if _, ok := k[p]; ok {
				problems = append(problems, fmt.Sprintf("key %v has private parameter %q", k["kid"], p))
			}
		}
		if k["kty"] == "oct" {
			problems = append(problems, fmt.Sprintf("key %v is symmetric", k["kid"]))
		}
		if k["kid"] == nil {
			problems = append(problems, "a key has no kid")
		}
		if use, ok := k["use"]; ok && use != "sig" {
			problems = append(problems, fmt.Sprintf("key %v has use %v", k["kid"], use))
		}
	}
	if len(problems) > 0 {
		return verdict{Fail, strings.Join(problems, "; "), nil}
	}
	return verdict{status: Pass}
}

// checkNoLockoutByClaimedID is IDP-11. The failures and the valid requests
// come from one address that never succeeded before (a fresh loopback
// address where the identity is on loopback), so an issuer that lets a
// client through only from an address it already proved itself from fails:
// after a restart, at another replica or before its first token, that
// client would be locked out by anyone sharing its address.
func checkNoLockoutByClaimedID(ctx context.Context, e *env) verdict {
	request := func(client *http.Client, label, secret string) (Observation, bool) {
		s, b, err := e.identity.doWith(ctx, client, http.MethodPost, e.identity.tokenURL, form,
			"grant_type=client_credentials&audience="+url.QueryEscape(e.targetAudience()), [2]string{e.identity.cfg.ClientID, secret})
		if err != nil {
			return Observation{Label: label, Error: "no answer: " + err.Error()}, false
		}
		return Observation{Label: label, Status: s, Error: errorOf(b)}, s == http.StatusOK
	}
	if o, ok := request(e.identity.client, "valid request before, from the suite's address", e.identity.cfg.ClientSecret); !ok {
		return verdict{Fail, fmt.Sprintf("inconclusive: the suite's client got no token to begin with (%d %s)", o.Status, o.Error), []Observation{o}}
	}
	client, source, fresh := freshSourceClient(e.identity.client, e.identity.tokenURL)
	defer client.CloseIdleConnections()
	where := "from " + source + ", an address it never succeeded from"
	if !fresh {
		where = "from the suite's address (the identity is not on loopback, so no fresh address could be used: an issuer that exempts addresses that succeeded before passes here)"
	}
	const rounds, failuresPerRound = 4, 5
	var obs []Observation
	for round := range rounds {
		for i := range failuresPerRound {
			if o, _ := request(client, "failure", fmt.Sprintf("attacker-guess-%d-%d-%s", round, i, randomID())); o.Status == 0 {
				return verdict{Fail, o.Error, nil}
			}
		}
		label := fmt.Sprintf("valid request after %d failures under its id, %s", (round+1)*failuresPerRound, where)
		o, ok := request(client, label, e.identity.cfg.ClientSecret)
		obs = append(obs, o)
		if !ok {
			return verdict{Fail, fmt.Sprintf("%s: refused (%d %s); anyone who knows the client id and shares its address (a proxy, a NAT gateway, a node) can deny it tokens", label, o.Status, o.Error), []Observation{o}}
		}
	}
	return verdict{Pass, "", obs[len(obs)-1:]}
}

// checkDPoPBinding is IDP-12.
func checkDPoPBinding(ctx context.Context, e *env) verdict {
	_, jkt, b, v := firstProofUse(ctx, e)
	if v != nil {
		return *v
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	_ = json.Unmarshal(b, &tr)
	_, c, err := decode(tr.AccessToken)
	cnf, _ := c["cnf"].(map[string]any)
	switch {
	case err != nil:
		return verdict{Fail, "issued token is not a compact JWS: " + err.Error(), nil}
	case cnf["jkt"] != jkt:
		return verdict{Fail, fmt.Sprintf("cnf.jkt is %v, not the proof key's thumbprint %s", cnf["jkt"], jkt), nil}
	case !strings.EqualFold(tr.TokenType, "DPoP"):
		return verdict{Fail, fmt.Sprintf("token_type %q, not DPoP", tr.TokenType), nil}
	}
	return verdict{status: Pass}
}

// checkRequestedSub is IDP-03.
func checkRequestedSub(ctx context.Context, e *env) verdict {
	other := e.identity.cfg.OtherSubject
	if other == "" {
		other = "careergpt-backend"
	}
	body := fmt.Sprintf(`{"sub":%q,"aud":%q}`, other, e.targetAudience())
	s, b, err := e.identity.do(ctx, http.MethodPost, e.identity.tokenURL, "application/json", body, e.identity.basic())
	v := refusedOrErr(refused("JSON sub="+other, s, b), err)
	if v.status == Fail && s == http.StatusOK {
		// Issuing is acceptable only if the sub was ignored.
		var tr tokenResponse
		_ = json.Unmarshal(b, &tr)
		if _, c, err := decode(tr.AccessToken); err == nil && c["sub"] == e.identity.cfg.ClientID {
			return verdict{Pass, "", v.observations}
		}
	}
	return v
}

// checkRateLimit is IDP-10.
func checkRateLimit(ctx context.Context, e *env) verdict {
	client := "conformance-ratelimit-" + randomID()[:8]
	var obs []Observation
	for i := range 20 {
		s, b, err := e.identity.do(ctx, http.MethodPost, e.identity.tokenURL, form,
			"grant_type=client_credentials&audience="+url.QueryEscape(e.targetAudience()), [2]string{client, "guess-" + fmt.Sprint(i)})
		if err != nil {
			return verdict{Fail, err.Error(), obs}
		}
		obs = append(obs, Observation{Label: fmt.Sprintf("guess %d", i+1), Status: s, Error: errorOf(b)})
		if s == http.StatusTooManyRequests {
			return verdict{Pass, "", obs[len(obs)-1:]}
		}
	}
	return verdict{Fail, "20 failed authentications in a row and never a 429", obs[len(obs)-1:]}
}

// checkProofReplayAtTokenEndpoint is IDP-13.
func checkProofReplayAtTokenEndpoint(ctx context.Context, e *env) verdict {
	proof, _, _, v := firstProofUse(ctx, e)
	if v != nil {
		return *v
	}
	s, b, err := e.identity.tokenWithProof(ctx, e.targetAudience(), proof)
	return refusedOrErr(refused("the same proof again", s, b), err)
}

// firstProofUse asks for a token with a fresh DPoP proof and returns the
// proof, its key's thumbprint and the answer, or the verdict that ends the
// case: not applicable without DPoP, failed when the request is refused.
func firstProofUse(ctx context.Context, e *env) (proof, jkt string, body []byte, v *verdict) {
	proof, jkt, err := e.tokenEndpointProof()
	if errors.Is(err, errNoDPoP) {
		return "", "", nil, &verdict{status: NotApplicable, reason: err.Error()}
	} else if err != nil {
		return "", "", nil, &verdict{Fail, "could not build a proof: " + err.Error(), nil}
	}
	s, b, err := e.identity.tokenWithProof(ctx, e.targetAudience(), proof)
	if err != nil || s != http.StatusOK {
		return "", "", nil, &verdict{Fail, fmt.Sprintf("the token request with a proof was refused (%d %s %v)", s, errorOf(b), err), nil}
	}
	return proof, jkt, b, nil
}
