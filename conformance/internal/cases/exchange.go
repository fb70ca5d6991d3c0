package cases

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/target"
)

// Token exchange (RFC 8693) names.
const (
	tokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"
	accessTokenType    = "urn:ietf:params:oauth:token-type:access_token"
)

// exchangeCases check an identity that advertises token exchange: the
// actor the target names exchanges tokens the suite's client got, and
// every exchange its policy cannot allow is refused.
func exchangeCases() []attack.IdentityCase {
	xc := func(id, title, explain, source string, sev attack.Severity, expect attack.Expectation, run func(ctx context.Context, e *attack.Kit, x *target.Exchange) attack.Verdict) attack.IdentityCase {
		return attack.IdentityCase{About: attack.About{ID: id, Category: "issuer profile", Severity: sev, Expect: expect, Source: source, Title: title, Explain: explain},
			Run: func(ctx context.Context, e *attack.Kit) attack.Verdict {
				x, v := exchangeTarget(e)
				if v != nil {
					return *v
				}
				return run(ctx, e, x)
			}}
	}
	return []attack.IdentityCase{
		xc("XCH-01", "An exchanged token names the caller in sub and the actor in act", "The actor exchanges a token the suite's client presented to it. The new token's sub must stay the caller (on whose behalf), its act must name the actor (who acts), its aud the service asked for, its scope no wider than asked, and it must not outlive the token it came from: otherwise an audit trail downstream records the wrong party, or a short-lived token buys a long one.",
			"RFC 8693 §2.2.1, §4.1", attack.High, attack.Accept, checkExchangedToken),
		xc("XCH-02", "A subject token issued for another service", "Only the service a token was presented to may exchange it. A token for another audience (stolen from that service, or sent to the wrong one) exchanged by this actor would let anyone who holds a token, and can get an actor's credentials, act for its caller anywhere.",
			"RFC 8693 §2.1, §5", attack.Critical, attack.Refuse, func(ctx context.Context, e *attack.Kit, x *target.Exchange) attack.Verdict {
				subject, v := subjectFor(ctx, e, x.Audience)
				if v != nil {
					return *v
				}
				return refusedExchange(ctx, e, x, "a token for "+x.Audience, subject, nil)
			}),
		xc("XCH-03", "An expired subject token", "An exchange extends what a token can do; an expired one has no power left to extend. The suite asks for a 1-second token and exchanges it once it expired, past the target's max_leeway.",
			"RFC 8693 §2.1; RFC 7519 §4.1.4", attack.High, attack.Refuse, checkExpiredSubject),
		xc("XCH-04", "A subject token signed by a key the issuer never published", "The identity must verify a subject token as any resource server would: a token with its own iss but another key's signature, or another issuer's, is a forgery, and exchanging it would launder the forgery into a real token.",
			"RFC 8693 §2.1; RFC 7515 §5.2", attack.Critical, attack.Refuse, func(ctx context.Context, e *attack.Kit, x *target.Exchange) attack.Verdict {
				v := attack.Verdict{Status: attack.Pass}
				for label, iss := range map[string]string{"its iss, another key": e.Identity.Config.Issuer, "another issuer": "https://issuer.attacker.example"} {
					forged, err := forgedSubject(e, x, iss)
					if err != nil {
						return attack.Verdict{Status: attack.Fail, Reason: "could not build the case: " + err.Error()}
					}
					v = worst(v, refusedExchange(ctx, e, x, label, forged, nil))
				}
				return v
			}),
		xc("XCH-05", "The same subject token exchanged twice", "A presented token is the authority of one request; one onward token is what that request needs. A second exchange of it is a retry that should carry a new token, or a copy taken from the actor's memory or logs.",
			"RFC 8693 §2.1; RFC 9068 §5", attack.High, attack.Refuse, func(ctx context.Context, e *attack.Kit, x *target.Exchange) attack.Verdict {
				subject, v := subjectFor(ctx, e, x.Received)
				if v != nil {
					return *v
				}
				if s, b, err := exchange(ctx, e, x, subject, nil); err != nil || s != http.StatusOK {
					return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("the first exchange was refused (%d %s %v)", s, errorOf(b), err)}
				}
				return refusedExchange(ctx, e, x, "second exchange", subject, nil)
			}),
		xc("XCH-06", "An exchange asking for a scope the caller does not have there", "Acting for a caller never gives more than the caller has: the exchanged token's scope is within both the actor's policy and the subject's own grant. Refused (invalid_scope), or issued without it.",
			"RFC 8693 §2.1; RFC 6749 §3.3", attack.High, attack.Refuse, checkWiderScope),
		xc("XCH-07", "A client with no exchange policy", "Token exchange is a grant a client is given, not one every client has: a client the registry lets act for nobody must get unauthorized_client, whatever token it presents.",
			"RFC 8693 §2.2.2; RFC 6749 §5.2", attack.High, attack.Refuse, func(ctx context.Context, e *attack.Kit, x *target.Exchange) attack.Verdict {
				subject, v := subjectFor(ctx, e, x.Received)
				if v != nil {
					return *v
				}
				s, b, err := exchangeAs(ctx, e, x, e.Identity.Basic(), subject, nil)
				return refusedOrErr(refused("the suite's own client as actor", s, b), err)
			}),
		xc("XCH-08", "An exchange toward an audience outside the actor's policy", "The policy says toward which services an actor may act for a caller. An exchange toward any other (identity.forbidden_audience) must be refused (invalid_target), or an actor compromised once can reach every service in the caller's name.",
			"RFC 8693 §2.2.2; RFC 8707", attack.High, attack.Refuse, func(ctx context.Context, e *attack.Kit, x *target.Exchange) attack.Verdict {
				aud := e.Identity.Config.ForbiddenAudience
				if aud == "" {
					return attack.Verdict{Status: attack.Skip, Reason: "identity.forbidden_audience not set in the target"}
				}
				subject, v := subjectFor(ctx, e, x.Received)
				if v != nil {
					return *v
				}
				return refusedExchange(ctx, e, x, "audience "+aud, subject, url.Values{"audience": {aud}, "scope": nil})
			}),
		xc("XCH-09", "An actor_token naming another client", "An actor_token says who is acting (RFC 8693 §2.1). One that names another client than the one authenticated lets a client claim to be acting as another; it must be refused, not ignored.",
			"RFC 8693 §2.1", attack.Medium, attack.Refuse, func(ctx context.Context, e *attack.Kit, x *target.Exchange) attack.Verdict {
				subject, v := subjectFor(ctx, e, x.Received)
				if v != nil {
					return *v
				}
				other, v := subjectFor(ctx, e, x.Received) // the suite's client's own: not the actor's
				if v != nil {
					return *v
				}
				return refusedExchange(ctx, e, x, "actor_token of the suite's client", subject,
					url.Values{"actor_token": {other}, "actor_token_type": {accessTokenType}})
			}),
	}
}

// exchangeTarget is the target's exchange settings, or the verdict of a
// case that cannot run: N/A where the identity does not advertise the
// grant, skipped where the target does not say how to test it.
func exchangeTarget(e *attack.Kit) (*target.Exchange, *attack.Verdict) {
	grants, _ := e.Identity.Metadata["grant_types_supported"].([]any)
	switch {
	case !slices.Contains(grants, any(tokenExchangeGrant)):
		return nil, &attack.Verdict{Status: attack.NotApplicable, Reason: "the identity's metadata does not advertise token exchange (grant_types_supported)"}
	case e.Identity.Config.Exchange == nil:
		return nil, &attack.Verdict{Status: attack.Skip, Reason: "the identity advertises token exchange: name an actor in identity.exchange to test it"}
	}
	return e.Identity.Config.Exchange, nil
}

// subjectFor is the suite's client's token for audience: what a caller
// presents to the service that audience names.
func subjectFor(ctx context.Context, e *attack.Kit, audience string) (string, *attack.Verdict) {
	tok, err := e.Identity.Token(ctx, audience, "")
	if err != nil {
		return "", &attack.Verdict{Status: attack.Fail, Reason: "the suite's client got no token for " + audience + ": " + err.Error()}
	}
	return tok, nil
}

// exchange asks, as the target's actor, for x.Audience on behalf of
// subject's caller; extra sets (or, nil, removes) parameters.
func exchange(ctx context.Context, e *attack.Kit, x *target.Exchange, subject string, extra url.Values) (int, []byte, error) {
	return exchangeAs(ctx, e, x, [2]string{x.ActorID, x.ActorSecret}, subject, extra)
}

func exchangeAs(ctx context.Context, e *attack.Kit, x *target.Exchange, client [2]string, subject string, extra url.Values) (int, []byte, error) {
	params := url.Values{"grant_type": {tokenExchangeGrant}, "subject_token": {subject}, "subject_token_type": {accessTokenType}, "audience": {x.Audience}}
	if x.Scope != "" {
		params.Set("scope", x.Scope)
	}
	for k, v := range extra {
		if v == nil {
			params.Del(k)
		} else {
			params[k] = v
		}
	}
	return e.Identity.Do(ctx, http.MethodPost, e.Identity.TokenURL, form, params.Encode(), client)
}

// refusedExchange is the verdict of an exchange that must not issue a token.
func refusedExchange(ctx context.Context, e *attack.Kit, x *target.Exchange, label, subject string, extra url.Values) attack.Verdict {
	s, b, err := exchange(ctx, e, x, subject, extra)
	return refusedOrErr(refused(label, s, b), err)
}

// worst keeps the first failing verdict, with every observation.
func worst(a, b attack.Verdict) attack.Verdict {
	obs := append(a.Observations, b.Observations...)
	if a.Status == attack.Pass {
		a = b
	}
	a.Observations = obs
	return a
}

func checkExchangedToken(ctx context.Context, e *attack.Kit, x *target.Exchange) attack.Verdict {
	subject, v := subjectFor(ctx, e, x.Received)
	if v != nil {
		return *v
	}
	_, sc, _ := attack.Decode(subject)
	s, b, err := exchange(ctx, e, x, subject, nil)
	if err != nil || s != http.StatusOK {
		return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("the exchange was refused (%d %s %v)", s, errorOf(b), err)}
	}
	var tr struct {
		AccessToken     string `json:"access_token"`
		IssuedTokenType string `json:"issued_token_type"`
	}
	_ = json.Unmarshal(b, &tr)
	_, c, err := attack.Decode(tr.AccessToken)
	act, _ := c["act"].(map[string]any)
	exp, _ := c["exp"].(float64)
	subjectExp, _ := sc["exp"].(float64)
	var problems []string
	switch {
	case err != nil:
		return attack.Verdict{Status: attack.Fail, Reason: "the exchanged token is not a compact JWS: " + err.Error()}
	case tr.IssuedTokenType == "":
		problems = append(problems, "no issued_token_type in the response (RFC 8693 §2.2.1)")
	}
	if c["sub"] != sc["sub"] {
		problems = append(problems, fmt.Sprintf("sub is %v, not the caller's %v", c["sub"], sc["sub"]))
	}
	if act["sub"] != x.Actor() {
		problems = append(problems, fmt.Sprintf("act is %v, not {\"sub\": %q}", c["act"], x.Actor()))
	}
	if !audienceIs(c["aud"], x.Audience) {
		problems = append(problems, fmt.Sprintf("aud is %v, not %s", c["aud"], x.Audience))
	}
	if scope, _ := c["scope"].(string); x.Scope != "" && !slices.Equal(strings.Fields(scope), strings.Fields(x.Scope)) {
		problems = append(problems, fmt.Sprintf("scope is %q, not the %q asked for", scope, x.Scope))
	}
	if exp == 0 || exp > subjectExp {
		problems = append(problems, fmt.Sprintf("exp %v outlives the subject token's %v", c["exp"], sc["exp"]))
	}
	if len(problems) > 0 {
		return attack.Verdict{Status: attack.Fail, Reason: strings.Join(problems, "; ")}
	}
	return attack.Verdict{Status: attack.Pass}
}

func audienceIs(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		return len(a) == 1 && a[0] == want
	}
	return false
}

// checkExpiredSubject is XCH-03: a 1-second subject token, exchanged once
// it is past exp by more than the target's max_leeway.
func checkExpiredSubject(ctx context.Context, e *attack.Kit, x *target.Exchange) attack.Verdict {
	params := url.Values{"grant_type": {"client_credentials"}, "audience": {x.Received}, "expires_in": {"1"}}
	s, b, err := e.Identity.Do(ctx, http.MethodPost, e.Identity.TokenURL, form, params.Encode(), e.Identity.Basic())
	var tr attack.TokenResponse
	_ = json.Unmarshal(b, &tr)
	if err != nil || s != http.StatusOK {
		return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("no short-lived token (%d %s %v)", s, errorOf(b), err)}
	}
	_, c, _ := attack.Decode(tr.AccessToken)
	exp, _ := c["exp"].(float64)
	until := time.Unix(int64(exp), 0).Add(maxLeeway(e) + time.Second)
	if time.Until(until) > 2*time.Minute {
		return attack.Verdict{Status: attack.Skip, Reason: fmt.Sprintf("the identity does not issue short-lived tokens on request (expires_in=1 gave exp %v)", c["exp"])}
	}
	select {
	case <-ctx.Done():
		return attack.Verdict{Status: attack.Fail, Reason: ctx.Err().Error()}
	case <-time.After(time.Until(until)):
	}
	return refusedExchange(ctx, e, x, "expired subject token", tr.AccessToken, nil)
}

func maxLeeway(e *attack.Kit) time.Duration {
	if d, err := time.ParseDuration(e.Target.MaxLeeway); err == nil && e.Target.MaxLeeway != "" {
		return d
	}
	return target.DefaultMaxLeeway
}

// checkWiderScope is XCH-06.
func checkWiderScope(ctx context.Context, e *attack.Kit, x *target.Exchange) attack.Verdict {
	if x.WiderScope == "" {
		return attack.Verdict{Status: attack.Skip, Reason: "identity.exchange.wider_scope not set in the target"}
	}
	subject, failed := subjectFor(ctx, e, x.Received)
	if failed != nil {
		return *failed
	}
	s, b, err := exchange(ctx, e, x, subject, url.Values{"scope": {x.WiderScope}})
	v := refusedOrErr(refused("scope "+x.WiderScope, s, b), err)
	if s == http.StatusOK {
		var tr attack.TokenResponse
		_ = json.Unmarshal(b, &tr)
		_, c, _ := attack.Decode(tr.AccessToken)
		if scope, _ := c["scope"].(string); !slices.Contains(strings.Fields(scope), x.WiderScope) {
			v.Status, v.Reason = attack.Pass, "" // issued within the policy
		}
	}
	return v
}

// forgedSubject is a subject token in every claim like the identity's,
// for the actor's service, signed by the suite's attacker key.
func forgedSubject(e *attack.Kit, x *target.Exchange, iss string) (string, error) {
	k, err := e.Attacker("ES256")
	if err != nil {
		return "", err
	}
	now := time.Now()
	return attack.Sign(k.Signer, k.Algorithm, map[string]any{"alg": k.Algorithm, "typ": "at+jwt", "kid": k.ID},
		map[string]any{"iss": iss, "sub": e.Identity.Config.ClientID, "aud": x.Received, "client_id": e.Identity.Config.ClientID,
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(), "jti": attack.RandomID()})
}
