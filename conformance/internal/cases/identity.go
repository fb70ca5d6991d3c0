package cases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// identityCases check the issuer profile: who may get which token, and
// what the token and the published keys look like.
const form = "application/x-www-form-urlencoded"

// refused judges a token request that must not get a token.
func refused(label string, status int, body []byte) attack.Verdict {
	obs := attack.Observation{Label: label, Status: status, Error: errorOf(body)}
	if status >= 200 && status < 300 {
		return attack.Verdict{Status: attack.Fail, Reason: label + ": token issued", Observations: []attack.Observation{obs}}
	}
	if status >= 500 {
		return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("%s: server error %d", label, status), Observations: []attack.Observation{obs}}
	}
	return attack.Verdict{Status: attack.Pass, Observations: []attack.Observation{obs}}
}

func identityCases() []attack.IdentityCase {
	return []attack.IdentityCase{
		{About: attack.About{ID: "IDP-01", Category: "issuer profile", Severity: attack.Critical, Expect: attack.Refuse, Source: "RFC 6749 §3.2.1",
			Title:   "Token request without client authentication",
			Explain: "Zero trust starts at the issuer: a token says who the caller is, so the issuer must make every caller prove it. An anonymous request must get no token."},
			Run: func(ctx context.Context, e *attack.Kit) attack.Verdict {
				s, b, err := e.Identity.Do(ctx, http.MethodPost, e.Identity.TokenURL, form, "grant_type=client_credentials&audience="+url.QueryEscape(targetAudience(e)))
				return refusedOrErr(refused("anonymous", s, b), err)
			}},
		{About: attack.About{ID: "IDP-02", Category: "issuer profile", Severity: attack.Critical, Expect: attack.Refuse, Source: "RFC 6749 §5.2",
			Title:   "Token request with a wrong client secret",
			Explain: "A client that cannot prove its identity is answered invalid_client, never with a token."},
			Run: func(ctx context.Context, e *attack.Kit) attack.Verdict {
				s, b, err := e.Identity.Do(ctx, http.MethodPost, e.Identity.TokenURL, form,
					"grant_type=client_credentials&audience="+url.QueryEscape(targetAudience(e)), [2]string{e.Identity.Config.ClientID, "wrong-" + attack.RandomID()})
				return refusedOrErr(refused("wrong secret", s, b), err)
			}},
		{About: attack.About{ID: "IDP-03", Category: "issuer profile", Severity: attack.Critical, Expect: attack.Refuse, Source: "RFC 9068 §2.2; seed scenario",
			Title:   "Caller chooses another service's sub",
			Explain: "sub must be the authenticated client. If a caller could ask for sub=careergpt-backend, every audit trail downstream would record a lie."},
			Run: checkRequestedSub},
		{About: attack.About{ID: "IDP-04", Category: "issuer profile", Severity: attack.High, Expect: attack.Refuse, Source: "RFC 8707 §2; least privilege",
			Title:   "Audience outside the client's policy",
			Explain: "The registry says which services each client may call. A token for any other audience must not be issued, or least privilege is only a wish."},
			Run: func(ctx context.Context, e *attack.Kit) attack.Verdict {
				aud := e.Identity.Config.ForbiddenAudience
				if aud == "" {
					return attack.Verdict{Status: attack.Skip, Reason: "identity.forbidden_audience not set in the target"}
				}
				form2 := "grant_type=client_credentials&audience=" + url.QueryEscape(aud)
				s, b, err := e.Identity.Do(ctx, http.MethodPost, e.Identity.TokenURL, form, form2, e.Identity.Basic())
				return refusedOrErr(refused("audience "+aud, s, b), err)
			}},
		{About: attack.About{ID: "IDP-05", Category: "issuer profile", Severity: attack.High, Expect: attack.Accept, Source: "RFC 9068 §2",
			Title:   "Issued tokens carry the RFC 9068 claims with a bounded lifetime",
			Explain: "An access token names its issuer, subject, audience, lifetime and a unique id, and says it is an access token (typ at+jwt) so it cannot be mistaken for an ID token."},
			Run: checkIssuedToken},
		{About: attack.About{ID: "IDP-06", Category: "issuer profile", Severity: attack.Medium, Expect: attack.Accept, Source: "RFC 9068 §2.2; RFC 7519 §4.1.7",
			Title:   "Every token gets a unique jti",
			Explain: "The jti is how a single-use service spots a replay and how an audit trail names a token without storing it. Two tokens must never share one."},
			Run: func(ctx context.Context, e *attack.Kit) attack.Verdict {
				seen := map[any]bool{}
				for range 5 {
					tok, err := e.Identity.Token(ctx, targetAudience(e), targetScope(e))
					if err != nil {
						return attack.Verdict{Status: attack.Fail, Reason: err.Error()}
					}
					_, c, err := attack.Decode(tok)
					if err != nil || c["jti"] == nil || seen[c["jti"]] {
						return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("jti %v missing or repeated", c["jti"])}
					}
					seen[c["jti"]] = true
				}
				return attack.Verdict{Status: attack.Pass}
			}},
		{About: attack.About{ID: "IDP-07", Category: "issuer profile", Severity: attack.Critical, Expect: attack.Accept, Source: "RFC 7517 §4, §9.3; RFC 7518 §6",
			Title:   "The JWKS holds public keys only",
			Explain: "The JWKS is public by design. A private parameter (d, p, q…) or a symmetric key (kty oct) in it hands every reader the power to sign tokens."},
			Run: checkPublicJWKS},
		{About: attack.About{ID: "IDP-08", Category: "issuer profile", Severity: attack.High, Expect: attack.Accept, Source: "RFC 8414 §3.3",
			Title:   "Metadata names the issuer it is for",
			Explain: "Resource servers may discover the JWKS from the issuer's metadata; they must be able to check that the metadata's issuer is exactly the one they trust."},
			Run: func(ctx context.Context, e *attack.Kit) attack.Verdict {
				if e.Identity.Metadata == nil {
					return attack.Verdict{Status: attack.Fail, Reason: "no RFC 8414 metadata at /.well-known/oauth-authorization-server"}
				}
				if e.Identity.Metadata["issuer"] != e.Identity.Config.Issuer {
					return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("metadata issuer %v, configured %s", e.Identity.Metadata["issuer"], e.Identity.Config.Issuer)}
				}
				if s, _ := e.Identity.Metadata["jwks_uri"].(string); s == "" {
					return attack.Verdict{Status: attack.Fail, Reason: "metadata has no jwks_uri"}
				}
				return attack.Verdict{Status: attack.Pass}
			}},
		{About: attack.About{ID: "IDP-09", Category: "issuer profile", Severity: attack.Low, Expect: attack.Refuse, Source: "RFC 6749 §5.2",
			Title:   "Unsupported grant type",
			Explain: "Service-to-service tokens come from the client credentials grant only; a password grant or anything else is answered unsupported_grant_type."},
			Run: func(ctx context.Context, e *attack.Kit) attack.Verdict {
				s, b, err := e.Identity.Do(ctx, http.MethodPost, e.Identity.TokenURL, form,
					"grant_type=password&username=a&password=b&audience="+url.QueryEscape(targetAudience(e)), e.Identity.Basic())
				v := refusedOrErr(refused("grant_type=password", s, b), err)
				if v.Status == attack.Pass && errorCode(b) != "unsupported_grant_type" {
					v.Status, v.Reason = attack.Fail, fmt.Sprintf("error is %q, not unsupported_grant_type", errorCode(b))
				}
				return v
			}},
		{About: attack.About{ID: "IDP-10", Category: "issuer profile", Severity: attack.Medium, Expect: attack.Refuse, Source: "RFC 6749 §10.10; OWASP ASVS V2.2",
			Title:   "Failed client authentication is rate-limited",
			Explain: "Without a limit, an attacker can guess client secrets as fast as the network allows. After repeated failures the issuer must slow the client down (429)."},
			Run: checkRateLimit},
		{About: attack.About{ID: "IDP-12", Category: "issuer profile", Severity: attack.High, Expect: attack.Accept, Source: "RFC 9449 §5, §6",
			Title:   "A token requested with a DPoP proof is bound to the proof's key",
			Explain: "An issuer that advertises DPoP must bind the token it issues to the key that signed the proof (cnf.jkt) and say so (token_type DPoP). Issuing a plain bearer token instead silently drops the protection the caller asked for."},
			Run: checkDPoPBinding},
		{About: attack.About{ID: "IDP-13", Category: "issuer profile", Severity: attack.Medium, Expect: attack.Refuse, Source: "RFC 9449 §11.1",
			Title:   "A DPoP proof replayed at the token endpoint is refused",
			Explain: "A proof works once: one copied from a token request must not get its copier a second token bound to the victim's key (and the victim's key proves nothing if it can be replayed)."},
			Run: checkProofReplayAtTokenEndpoint},
		{About: attack.About{ID: "IDP-11", Category: "issuer profile", Severity: attack.High, Expect: attack.Accept, Source: "OWASP ASVS V2.2.1; OWASP device cookies; RFC 6749 §10.10",
			Title:   "Others' failed attempts under a client's id do not lock that client out",
			Explain: "A rate limit keyed on the client id a request merely claims lets anyone lock any client out: a few requests a minute with its id and a wrong secret and the real service gets no tokens. Keying it on the address as well is not enough where the attacker shares the client's address (a proxy, a NAT gateway, a node), and exempting addresses that succeeded before fails after a restart, at another replica, or before the first success. A client that proves its credentials must get its token, whatever failures came before it."},
			Run: checkNoLockoutByClaimedID},
		{About: attack.About{ID: "IDP-14", Category: "issuer profile", Severity: attack.High, Expect: attack.Refuse, Source: "RFC 8707 §2; RFC 6749 §5.2 (invalid_target)",
			Title:   "Audiences spelt close to an allowed one: case, prefix, suffix, truncation, whitespace",
			Explain: "The audience is the one thing that makes a token useless elsewhere. An issuer that matches the requested audience loosely, and writes the request's spelling into the token, mints tokens for services nobody registered, which a resource server matching as loosely then accepts. Each is refused (invalid_target), or issued for the allowed audience exactly."},
			Run: checkAudienceNearMisses},
	}
}

// checkAudienceNearMisses is IDP-14: the audience near-misses of AUD-05..11,
// asked for at the token endpoint, judged on what is issued.
func checkAudienceNearMisses(ctx context.Context, e *attack.Kit) attack.Verdict {
	own := targetAudience(e)
	v := attack.Verdict{Status: attack.Pass}
	for _, aud := range []string{strings.ToUpper(own[:1]) + own[1:], own + ".evil.example", "evil-" + own, own[:len(own)-1], " " + own + " "} {
		s, b, err := e.Identity.Do(ctx, http.MethodPost, e.Identity.TokenURL, form,
			"grant_type=client_credentials&audience="+url.QueryEscape(aud), e.Identity.Basic())
		label := fmt.Sprintf("audience %q", aud)
		v.Observations = append(v.Observations, attack.Observation{Label: label, Status: s, Error: errorOf(b)})
		var problem string
		switch {
		case err != nil:
			problem = err.Error()
		case s >= 500:
			problem = fmt.Sprintf("server error %d", s)
		case s == http.StatusOK:
			var tr attack.TokenResponse
			_ = json.Unmarshal(b, &tr)
			if _, c, err := attack.Decode(tr.AccessToken); err != nil || audienceOf(c) != own {
				problem = fmt.Sprintf("issued a token for aud %v", c["aud"])
			}
		}
		if problem != "" {
			v.Status, v.Reason = attack.Fail, attack.JoinReason(v.Reason, label+": "+problem)
		}
	}
	return v
}

// tokenEndpointProof is a DPoP proof for the identity's token endpoint, by
// the suite's proof key, and that key's thumbprint.
func tokenEndpointProof(e *attack.Kit) (proof, jkt string, err error) {
	if _, ok := e.Identity.Metadata["dpop_signing_alg_values_supported"]; !ok {
		return "", "", errNoDPoP
	}
	endpoint, _ := e.Identity.Metadata["token_endpoint"].(string)
	key, ok := e.Keys.Get(testissuer.Attacker, "ES256")
	if !ok {
		return "", "", fmt.Errorf("no ES256 proof key")
	}
	pub, err := json.Marshal(jwk.Key{Algorithm: key.Algorithm, Public: key.Signer.Public()})
	if err != nil {
		return "", "", err
	}
	proof, err = attack.Sign(key.Signer, key.Algorithm, map[string]any{"typ": "dpop+jwt", "alg": key.Algorithm, "jwk": json.RawMessage(pub)},
		map[string]any{"jti": attack.RandomID(), "htm": http.MethodPost, "htu": endpoint, "iat": time.Now().Unix()})
	if err != nil {
		return "", "", err
	}
	jkt, err = jwk.Thumbprint(key.Signer.Public())
	return proof, jkt, err
}

var errNoDPoP = errors.New("the identity does not advertise DPoP (dpop_signing_alg_values_supported)")

func refusedOrErr(v attack.Verdict, err error) attack.Verdict {
	if err != nil {
		return attack.Verdict{Status: attack.Fail, Reason: "no answer: " + err.Error()}
	}
	return v
}

func errorOf(body []byte) string {
	var r attack.TokenResponse
	_ = json.Unmarshal(body, &r)
	return strings.Trim(r.Error+": "+r.Description, ": ")
}

func errorCode(body []byte) string {
	var r attack.TokenResponse
	_ = json.Unmarshal(body, &r)
	return r.Error
}

// targetAudience is an audience the suite's client may get: the first
// resource server's.
func targetAudience(e *attack.Kit) string {
	if len(e.Target.ResourceServers) > 0 {
		return e.Target.ResourceServers[0].Audience
	}
	return "logging-service"
}

func targetScope(e *attack.Kit) string {
	if len(e.Target.ResourceServers) > 0 {
		return e.Target.ResourceServers[0].Scope
	}
	return ""
}

// checkIssuedToken is IDP-05.
func checkIssuedToken(ctx context.Context, e *attack.Kit) attack.Verdict {
	tok, err := e.Identity.Token(ctx, targetAudience(e), targetScope(e))
	if err != nil {
		return attack.Verdict{Status: attack.Fail, Reason: err.Error()}
	}
	h, c, err := attack.Decode(tok)
	if err != nil {
		return attack.Verdict{Status: attack.Fail, Reason: "issued token is not a compact JWS: " + err.Error()}
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
	if c["iss"] != e.Identity.Config.Issuer {
		problems = append(problems, fmt.Sprintf("iss %v is not %s", c["iss"], e.Identity.Config.Issuer))
	}
	if c["sub"] != e.Identity.Config.ClientID {
		problems = append(problems, fmt.Sprintf("sub %v is not the client %s", c["sub"], e.Identity.Config.ClientID))
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
		return attack.Verdict{Status: attack.Fail, Reason: strings.Join(problems, "; ")}
	}
	return attack.Verdict{Status: attack.Pass}
}

// checkPublicJWKS is IDP-07.
func checkPublicJWKS(ctx context.Context, e *attack.Kit) attack.Verdict {
	s, b, err := e.Identity.Do(ctx, http.MethodGet, e.Identity.JWKSURL, "", "")
	if err != nil || s != 200 {
		return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("JWKS not served: %d %v", s, err)}
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil || len(set.Keys) == 0 {
		return attack.Verdict{Status: attack.Fail, Reason: "JWKS is not a non-empty key set"}
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
		return attack.Verdict{Status: attack.Fail, Reason: strings.Join(problems, "; ")}
	}
	return attack.Verdict{Status: attack.Pass}
}

// checkNoLockoutByClaimedID is IDP-11. The failures and the valid requests
// come from one address that never succeeded before (a fresh loopback
// address where the identity is on loopback), so an issuer that lets a
// client through only from an address it already proved itself from fails:
// after a restart, at another replica or before its first token, that
// client would be locked out by anyone sharing its address.
func checkNoLockoutByClaimedID(ctx context.Context, e *attack.Kit) attack.Verdict {
	request := func(client *http.Client, label, secret string) (attack.Observation, bool) {
		s, b, err := e.Identity.DoWith(ctx, client, http.MethodPost, e.Identity.TokenURL, form,
			"grant_type=client_credentials&audience="+url.QueryEscape(targetAudience(e)), [2]string{e.Identity.Config.ClientID, secret})
		if err != nil {
			return attack.Observation{Label: label, Error: "no answer: " + err.Error()}, false
		}
		return attack.Observation{Label: label, Status: s, Error: errorOf(b)}, s == http.StatusOK
	}
	if o, ok := request(e.Identity.Client, "valid request before, from the suite's address", e.Identity.Config.ClientSecret); !ok {
		return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("inconclusive: the suite's client got no token to begin with (%d %s)", o.Status, o.Error), Observations: []attack.Observation{o}}
	}
	client, source, fresh := attack.FreshSourceClient(e.Identity.Client, e.Identity.TokenURL)
	defer client.CloseIdleConnections()
	where := "from " + source + ", an address it never succeeded from"
	if !fresh {
		where = "from the suite's address (the identity is not on loopback, so no fresh address could be used: an issuer that exempts addresses that succeeded before passes here)"
	}
	const rounds, failuresPerRound = 4, 5
	var obs []attack.Observation
	for round := range rounds {
		for i := range failuresPerRound {
			if o, _ := request(client, "failure", fmt.Sprintf("attacker-guess-%d-%d-%s", round, i, attack.RandomID())); o.Status == 0 {
				return attack.Verdict{Status: attack.Fail, Reason: o.Error}
			}
		}
		label := fmt.Sprintf("valid request after %d failures under its id, %s", (round+1)*failuresPerRound, where)
		o, ok := request(client, label, e.Identity.Config.ClientSecret)
		obs = append(obs, o)
		if !ok {
			return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("%s: refused (%d %s); anyone who knows the client id and shares its address (a proxy, a NAT gateway, a node) can deny it tokens", label, o.Status, o.Error), Observations: []attack.Observation{o}}
		}
	}
	return attack.Verdict{Status: attack.Pass, Observations: obs[len(obs)-1:]}
}

// checkDPoPBinding is IDP-12.
func checkDPoPBinding(ctx context.Context, e *attack.Kit) attack.Verdict {
	_, jkt, b, v := firstProofUse(ctx, e)
	if v != nil {
		return *v
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	_ = json.Unmarshal(b, &tr)
	_, c, err := attack.Decode(tr.AccessToken)
	cnf, _ := c["cnf"].(map[string]any)
	switch {
	case err != nil:
		return attack.Verdict{Status: attack.Fail, Reason: "issued token is not a compact JWS: " + err.Error()}
	case cnf["jkt"] != jkt:
		return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("cnf.jkt is %v, not the proof key's thumbprint %s", cnf["jkt"], jkt)}
	case !strings.EqualFold(tr.TokenType, "DPoP"):
		return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("token_type %q, not DPoP", tr.TokenType)}
	}
	return attack.Verdict{Status: attack.Pass}
}

// checkRequestedSub is IDP-03: a sub asked for in the form (RFC 6749
// §3.2 makes token requests form-encoded, so a form-only endpoint is
// tested too) and in the seed's JSON shape. Each must be refused, or
// answered with a token whose sub is the client's own.
func checkRequestedSub(ctx context.Context, e *attack.Kit) attack.Verdict {
	other := e.Identity.Config.OtherSubject
	if other == "" {
		other = "careergpt-backend"
	}
	aud := targetAudience(e)
	v := attack.Verdict{Status: attack.Pass}
	for _, req := range []struct{ label, contentType, body string }{
		{"form sub=" + other, form, "grant_type=client_credentials&audience=" + url.QueryEscape(aud) + "&sub=" + url.QueryEscape(other)},
		{"JSON sub=" + other, "application/json", fmt.Sprintf(`{"sub":%q,"aud":%q}`, other, aud)},
	} {
		s, b, err := e.Identity.Do(ctx, http.MethodPost, e.Identity.TokenURL, req.contentType, req.body, e.Identity.Basic())
		obs := attack.Observation{Label: req.label, Status: s, Error: errorOf(b)}
		var problem string
		switch {
		case err != nil:
			problem = err.Error()
		case s == http.StatusOK:
			// Issuing is right only if the requested sub was ignored.
			var tr attack.TokenResponse
			_ = json.Unmarshal(b, &tr)
			if _, c, err := attack.Decode(tr.AccessToken); err != nil || c["sub"] != e.Identity.Config.ClientID {
				problem = fmt.Sprintf("issued a token with sub %v, not the authenticated client %s", c["sub"], e.Identity.Config.ClientID)
			}
		case s >= 500:
			problem = fmt.Sprintf("server error %d", s)
		}
		v.Observations = append(v.Observations, obs)
		if problem != "" {
			v.Status, v.Reason = attack.Fail, attack.JoinReason(v.Reason, req.label+": "+problem)
		}
	}
	return v
}

// checkRateLimit is IDP-10.
func checkRateLimit(ctx context.Context, e *attack.Kit) attack.Verdict {
	client := "conformance-ratelimit-" + attack.RandomID()[:8]
	var obs []attack.Observation
	for i := range 20 {
		s, b, err := e.Identity.Do(ctx, http.MethodPost, e.Identity.TokenURL, form,
			"grant_type=client_credentials&audience="+url.QueryEscape(targetAudience(e)), [2]string{client, "guess-" + fmt.Sprint(i)})
		if err != nil {
			return attack.Verdict{Status: attack.Fail, Reason: err.Error(), Observations: obs}
		}
		obs = append(obs, attack.Observation{Label: fmt.Sprintf("guess %d", i+1), Status: s, Error: errorOf(b)})
		if s == http.StatusTooManyRequests {
			return attack.Verdict{Status: attack.Pass, Observations: obs[len(obs)-1:]}
		}
	}
	return attack.Verdict{Status: attack.Fail, Reason: "20 failed authentications in a row and never a 429", Observations: obs[len(obs)-1:]}
}

// checkProofReplayAtTokenEndpoint is IDP-13.
func checkProofReplayAtTokenEndpoint(ctx context.Context, e *attack.Kit) attack.Verdict {
	proof, _, _, v := firstProofUse(ctx, e)
	if v != nil {
		return *v
	}
	s, b, err := e.Identity.TokenWithProof(ctx, targetAudience(e), proof)
	return refusedOrErr(refused("the same proof again", s, b), err)
}

// firstProofUse asks for a token with a fresh DPoP proof and returns the
// proof, its key's thumbprint and the answer, or the verdict that ends the
// case: not applicable without DPoP, failed when the request is refused.
func firstProofUse(ctx context.Context, e *attack.Kit) (proof, jkt string, body []byte, v *attack.Verdict) {
	proof, jkt, err := tokenEndpointProof(e)
	if errors.Is(err, errNoDPoP) {
		return "", "", nil, &attack.Verdict{Status: attack.NotApplicable, Reason: err.Error()}
	} else if err != nil {
		return "", "", nil, &attack.Verdict{Status: attack.Fail, Reason: "could not build a proof: " + err.Error()}
	}
	s, b, err := e.Identity.TokenWithProof(ctx, targetAudience(e), proof)
	if err != nil || s != http.StatusOK {
		return "", "", nil, &attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("the token request with a proof was refused (%d %s %v)", s, errorOf(b), err)}
	}
	return proof, jkt, b, nil
}
