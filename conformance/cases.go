package conformance

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// Categories, in report order.
var Categories = []string{
	"control", "mission", "audience", "issuer", "time", "signature", "key selection",
	"type and header", "subject", "replay", "format and cost", "issuer profile",
}

// Catalogue returns every case, controls first.
func Catalogue() []Case {
	cases := append(controlCases(), missionCases()...)
	cases = append(cases, audienceCases()...)
	cases = append(cases, issuerCases()...)
	cases = append(cases, timeCases()...)
	cases = append(cases, signatureCases()...)
	cases = append(cases, keyCases()...)
	cases = append(cases, headerCases()...)
	cases = append(cases, subjectCases()...)
	cases = append(cases, replayCases()...)
	cases = append(cases, formatCases()...)
	cases = append(cases, rfc6750Case)
	return append(cases, identityCases()...)
}

// finalControlID runs after every attack: the server still works.
const finalControlID = "CTRL-06"

// baseControlID is the control every attack's verdict rests on.
const baseControlID = "CTRL-01"

func controlCases() []Case {
	return []Case{
		{ID: baseControlID, Category: "control", Severity: High, Expect: Accept, Source: "RFC 9068 §4",
			Title:   "A valid token is accepted",
			Explain: "The positive control. Every attack below is this token with one thing wrong; if this one is refused, no refusal below means anything.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				raw, _, _, err := e.base(ctx, rs)
				return []attempt{bearer("valid token", raw)}, err
			}},
		{ID: "CTRL-02", Category: "control", Severity: Medium, Expect: Accept, Source: "RFC 7519 §4.1.3",
			Title:    "aud as an array that contains the service",
			Explain:  "aud may be a string or an array of strings; a token for several audiences that include this service is for this service.",
			attempts: forged(func(_ *testIssuer, _, c map[string]any) { c["aud"] = []any{"some-other-service", c["aud"]} })},
		{ID: "CTRL-03", Category: "control", Severity: Medium, Expect: Accept, Source: "RFC 7519 §4.1.5-6",
			Title:   "iat and nbf 2 s in the future, within clock-skew leeway",
			Explain: "Clocks drift. A token minted by an issuer whose clock runs 2 s ahead is still valid; leeway exists so that such a token is not refused.",
			attempts: forged(func(_ *testIssuer, _, c map[string]any) {
				t := time.Now().Add(2 * time.Second).Unix()
				c["iat"], c["nbf"] = t, t
			})},
		{ID: "CTRL-04", Category: "control", Severity: High, Expect: Accept, Source: "RFC 7517 §4.5",
			Title:   "A token signed by the issuer's second (rotated) key",
			Explain: "Issuers rotate keys and publish old and new side by side. A verifier must pick the key by kid from the whole set, or every rotation becomes an outage.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				if e.issuer == nil {
					return nil, errNeedsTestIssuer
				}
				k := e.issuer.rotated
				tok, err := sign(k.signer, k.alg, e.issuer.header(k), e.issuer.claims(rs, time.Now()))
				return []attempt{bearer("rotated kid", tok)}, err
			}},
		{ID: "CTRL-05", Category: "control", Severity: Medium, Expect: Accept, Source: "RFC 7519 §4.3; RFC 7515 §4",
			Title:   "Extra claims and extra header parameters",
			Explain: "Tokens may carry claims and headers a verifier does not know; unless listed in crit, they are ignored, not a reason to refuse.",
			attempts: forged(func(_ *testIssuer, h, c map[string]any) {
				h["x-trace"] = "conformance"
				c["tenant"], c["roles"] = "acme", []string{"reader"}
			})},
		{ID: finalControlID, Category: "control", Severity: High, Expect: Accept, Source: "availability",
			Title:   "A fresh valid token still works after all attacks",
			Explain: "A server that survives the attacks by falling over, or by locking everyone out, has not passed them.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				raw, _, _, err := e.base(ctx, rs)
				return []attempt{bearer("fresh token", raw)}, err
			}},
		{ID: "CTRL-07", Category: "control", Severity: Low, Expect: Accept, Source: "RFC 9068 §2.1; RFC 7515 §4.1.9",
			Title:    "typ application/at+jwt (the full media type)",
			Explain:  "typ may carry the full media type; application/at+jwt and at+jwt name the same thing.",
			attempts: forged(func(_ *testIssuer, h, _ map[string]any) { h["typ"] = "application/at+jwt" })},
		{ID: "CTRL-08", Category: "control", Severity: Low, Expect: Accept, Source: "RFC 9110 §11.1",
			Title:   "Authorization scheme in lower case (bearer)",
			Explain: "HTTP authentication scheme names are case-insensitive; 'bearer' is 'Bearer'.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				raw, _, _, err := e.base(ctx, rs)
				return []attempt{{label: "bearer scheme", authorization: "bearer " + raw}}, err
			}},
	}
}

// otherAudience is another resource server's audience, for stolen tokens.
func (e *env) otherServer(rs *ResourceServer) *ResourceServer {
	for i := range e.target.ResourceServers {
		if other := &e.target.ResourceServers[i]; other.Audience != rs.Audience {
			return other
		}
	}
	return nil
}

func missionCases() []Case {
	return []Case{
		{ID: "M-01", Category: "mission", Severity: High, Expect: Refuse, Source: "RFC 7519 §4.1.3; RFC 8725 §3.9",
			Title:   "Stolen token: valid, but for another service",
			Explain: "A token for Logging, stolen from Logging's traffic, is sent here. It is genuine in every way but aud. Checking aud is what makes a stolen token useless anywhere but where it was meant to go.",
			check: func(ctx context.Context, e *env, rs *ResourceServer) verdict {
				owner := e.otherServer(rs)
				// The token is the owner's in every way, its scope included.
				raw, _, _, err := e.baseFor(ctx, rs, "some-other-service")
				aud := "some-other-service"
				if owner != nil {
					aud = owner.Audience
					raw, _, _, err = e.base(ctx, owner)
				}
				if err != nil {
					return skipOrFail(err)
				}
				v := judge(Refuse, []Observation{e.send(ctx, rs, bearer("token for "+aud, raw))})
				if v.status == Pass && owner != nil {
					// The same token must work where it belongs, or this
					// refusal proves nothing.
					ctrl := e.send(ctx, owner, bearer("same token at "+owner.Name, raw))
					v.observations = append(v.observations, ctrl)
					if ctrl.Status < 200 || ctrl.Status >= 300 {
						return verdict{Fail, fmt.Sprintf("inconclusive: %s refused the token too (%d %s)", owner.Name, ctrl.Status, ctrl.Error), v.observations}
					}
				}
				return v
			}},
		{ID: "M-02", Category: "mission", Severity: High, Expect: Refuse, Source: "RFC 7519 §4.1.4",
			Title:   "Expired token (10 minutes ago)",
			Explain: "exp bounds how long a token works. Past it (plus a small leeway for clock skew) the token is refused, so a leaked token has a short life.",
			attempts: forged(func(_ *testIssuer, _, c map[string]any) {
				now := time.Now()
				c["iat"], c["nbf"], c["exp"] = now.Add(-15*time.Minute).Unix(), now.Add(-15*time.Minute).Unix(), now.Add(-10*time.Minute).Unix()
			})},
		{ID: "M-03", Category: "mission", Severity: High, Expect: Refuse, Source: "RFC 7519 §4.1.3",
			Title:    "Wrong audience",
			Explain:  "aud names a service that does not exist here. Only tokens whose aud names this service may be accepted.",
			attempts: forged(func(_ *testIssuer, _, c map[string]any) { c["aud"] = "unrelated-service" })},
		{ID: "M-04", Category: "mission", Severity: Critical, Expect: Refuse, Source: "RFC 7519 §4.1.1; RFC 8725 §3.8",
			Title:    "Wrong issuer, signed with a trusted key",
			Explain:  "The issuer is the trust anchor. A token naming another issuer is refused even when its signature verifies, because keys can be shared or mixed up between issuers.",
			attempts: forged(func(_ *testIssuer, _, c map[string]any) { c["iss"] = "https://evil-issuer.example" })},
	}
}

func audienceCases() []Case {
	aud := func(id, title, explain string, sev Severity, value func(own string) any) Case {
		return Case{ID: id, Category: "audience", Severity: sev, Expect: Refuse, Source: "RFC 7519 §4.1.3; RFC 9068 §4",
			Title: title, Explain: explain,
			attempts: forged(func(_ *testIssuer, _, c map[string]any) {
				if v := value(c["aud"].(string)); v == nil {
					delete(c, "aud")
				} else {
					c["aud"] = v
				}
			})}
	}
	return []Case{
		aud("AUD-01", "aud missing", "A token without aud is for anyone; an access token must say whom it is for.", High, func(string) any { return nil }),
		aud("AUD-02", "aud is an empty string", "An empty aud names no service, so it cannot name this one.", High, func(string) any { return "" }),
		aud("AUD-03", "aud is an empty array", "An empty list of audiences names no service.", High, func(string) any { return []any{} }),
		aud("AUD-04", "aud array without the service", "Being one of several named audiences counts; being absent from the list does not.", High,
			func(string) any { return []any{"billing-service", "search-service"} }),
		aud("AUD-05", "aud differs in letter case", "Audience values compare exactly: Logging-Service is not logging-service.", High,
			func(own string) any { return strings.ToUpper(own[:1]) + own[1:] }),
		aud("AUD-06", "aud has the service as a prefix", "A prefix match (startsWith) would let logging-service.evil.example through.", High,
			func(own string) any { return own + ".evil.example" }),
		aud("AUD-07", "aud has the service as a suffix", "A suffix or contains match would let evil-logging-service through.", High,
			func(own string) any { return "evil-" + own }),
		aud("AUD-08", "aud is a truncated service name", "A match on a shortened value means the comparison is not exact.", High,
			func(own string) any { return own[:len(own)-1] }),
		aud("AUD-09", "aud is a number", "aud is a string or an array of strings; anything else is malformed.", Medium, func(string) any { return 42 }),
		aud("AUD-10", "aud array holds an object with the service", "A verifier that stringifies array members could match {\"aud\":\"…\"}.", Medium,
			func(own string) any { return []any{map[string]any{"aud": own}} }),
		aud("AUD-11", "aud has surrounding whitespace", "Trimming before comparing is not exact comparison.", Medium,
			func(own string) any { return " " + own + " " }),
	}
}

func issuerCases() []Case {
	iss := func(id, title, explain string, sev Severity, change func(ti *testIssuer, c map[string]any)) Case {
		return Case{ID: id, Category: "issuer", Severity: sev, Expect: Refuse, Source: "RFC 7519 §4.1.1; RFC 8725 §3.8",
			Title: title, Explain: explain,
			attempts: forged(func(ti *testIssuer, _, c map[string]any) { change(ti, c) })}
	}
	return []Case{
		iss("ISS-01", "iss missing", "Without iss nobody vouches for the token; the trust anchor is absent.", High,
			func(_ *testIssuer, c map[string]any) { delete(c, "iss") }),
		iss("ISS-02", "iss differs in letter case", "Issuer identifiers compare exactly, as strings.", High,
			func(ti *testIssuer, c map[string]any) { c["iss"] = strings.ToUpper(ti.url) }),
		iss("ISS-03", "iss with a trailing slash", "https://id.example/ and https://id.example are different issuers (RFC 8414 §3.3).", High,
			func(ti *testIssuer, c map[string]any) { c["iss"] = ti.url + "/" }),
		iss("ISS-04", "iss is a number", "iss is a string; a verifier that converts types may compare garbage.", Medium,
			func(_ *testIssuer, c map[string]any) { c["iss"] = 1 }),
		{ID: "ISS-05", Category: "issuer", Severity: Critical, Expect: Refuse, Source: "RFC 8725 §3.8",
			Title:   "Another issuer's token, signed with that issuer's key",
			Explain: "A genuine token from a different issuer (its own key, its own iss) is refused: trusting one issuer means trusting only its keys.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				if e.issuer == nil {
					return nil, errNeedsTestIssuer
				}
				k := e.issuer.other
				c := e.issuer.claims(rs, time.Now())
				c["iss"] = e.issuer.url + "/other"
				tok, err := sign(k.signer, k.alg, e.issuer.header(k), c)
				return []attempt{bearer("other issuer", tok)}, err
			}},
	}
}

func timeCases() []Case {
	tc := func(id, title, explain string, sev Severity, change func(c map[string]any, now time.Time)) Case {
		return Case{ID: id, Category: "time", Severity: sev, Expect: Refuse, Source: "RFC 7519 §4.1.4-6; RFC 9068 §4",
			Title: title, Explain: explain,
			attempts: forged(func(_ *testIssuer, _, c map[string]any) { change(c, time.Now()) })}
	}
	return []Case{
		tc("TIME-01", "exp missing", "A token without exp never expires: one leak is forever. Access tokens must carry exp.", High,
			func(c map[string]any, _ time.Time) { delete(c, "exp") }),
		tc("TIME-02", "exp 45 s ago, just past any allowed leeway", "Leeway is for clock skew (at most 30 s here), not an extension of the token's life.", High,
			func(c map[string]any, now time.Time) {
				c["iat"], c["nbf"], c["exp"] = now.Add(-5*time.Minute).Unix(), now.Add(-5*time.Minute).Unix(), now.Add(-45*time.Second).Unix()
			}),
		tc("TIME-03", "exp is a word", "exp is a JSON number of seconds; \"tomorrow\" is malformed.", Medium,
			func(c map[string]any, _ time.Time) { c["exp"] = "tomorrow" }),
		tc("TIME-04", "exp is a numeric string", "\"9999999999\" is a string, not a NumericDate; lenient parsing hides type confusion.", Medium,
			func(c map[string]any, now time.Time) { c["exp"] = fmt.Sprint(now.Add(time.Hour).Unix()) }),
		tc("TIME-05", "nbf 10 minutes in the future", "nbf says when a token starts to work; before it, the token is refused.", Medium,
			func(c map[string]any, now time.Time) { c["nbf"] = now.Add(10 * time.Minute).Unix() }),
		tc("TIME-06", "iat 10 minutes in the future", "A token issued in the future comes from a broken or forged issuer clock.", Medium,
			func(c map[string]any, now time.Time) { c["iat"] = now.Add(10 * time.Minute).Unix() }),
		tc("TIME-07", "exp is null", "null is not a time; a verifier that reads it as zero or as absent-but-fine is wrong either way.", Medium,
			func(c map[string]any, _ time.Time) { c["exp"] = nil }),
	}
}

// trustedKey returns a key the servers trust: the suite's, or the first of
// the implementation's JWKS.
func (e *env) trustedKey(ctx context.Context, alg string) (jwk.Key, error) {
	if e.issuer != nil {
		if alg == "ES256" {
			return e.issuer.ecdsa.public(), nil
		}
		return e.issuer.primary.public(), nil
	}
	if e.identity == nil {
		return jwk.Key{}, errNeedsTestIssuer
	}
	status, body, err := e.identity.do(ctx, "GET", e.identity.jwksURL, "", "")
	if err != nil || status != 200 {
		return jwk.Key{}, fmt.Errorf("identity JWKS: %d %v", status, err)
	}
	var set jwk.Set
	if err := json.Unmarshal(body, &set); err != nil {
		return jwk.Key{}, err
	}
	for _, k := range set.Keys {
		if alg == "" || k.Algorithm == alg {
			return k, nil
		}
	}
	return jwk.Key{}, fmt.Errorf("%w (no %s key in the identity JWKS)", errNeedsTestIssuer, alg)
}

// realParts returns the encoded header and payload of a base token plus its claims.
func realParts(ctx context.Context, e *env, rs *ResourceServer) (hdr, payload, sig string, h, c map[string]any, err error) {
	raw, h, c, err := e.base(ctx, rs)
	if err != nil {
		return "", "", "", nil, nil, err
	}
	parts := strings.Split(raw, ".")
	return parts[0], parts[1], parts[2], h, c, nil
}

func signatureCases() []Case {
	none := func(id, spelling string) Case {
		return Case{ID: id, Category: "signature", Severity: Critical, Expect: Refuse, Source: "RFC 8725 §3.1; CVE-2015-9235",
			Title:   fmt.Sprintf("alg %q: no signature at all", spelling),
			Explain: "alg none means 'unsigned'. A verifier that lets the token choose its algorithm, and accepts none in any spelling, accepts tokens anyone can write.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				_, payload, _, h, _, err := realParts(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				h = clone(h)
				h["alg"] = spelling
				hdr, _ := marshalSegment(h)
				return []attempt{bearer("empty signature", hdr+"."+payload+"."), bearer("junk signature", hdr+"."+payload+".c2ln")}, nil
			}}
	}
	return []Case{
		none("SIG-01", "none"), none("SIG-02", "None"), none("SIG-03", "NONE"), none("SIG-04", "nOnE"),
		{ID: "SIG-05", Category: "signature", Severity: Critical, Expect: Refuse, Source: "RFC 7515 §5.2",
			Title:   "Tampered payload, original signature",
			Explain: "The payload is changed (sub becomes admin) and the old signature kept. Only a verifier that checks the signature over exactly these bytes notices.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				hdr, _, sig, _, c, err := realParts(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				c = clone(c)
				c["sub"], c["scope"] = "admin", "admin "+fmt.Sprint(c["scope"])
				payload, _ := marshalSegment(c)
				return []attempt{bearer("tampered", hdr+"."+payload+"."+sig)}, nil
			}},
		{ID: "SIG-06", Category: "signature", Severity: Critical, Expect: Refuse, Source: "RFC 7515 §5.2",
			Title:   "Signature stripped",
			Explain: "The token keeps its header (alg still says EdDSA or ES256) but the signature is gone. Decoding is not verifying.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				hdr, payload, _, _, _, err := realParts(ctx, e, rs)
				return []attempt{bearer("stripped", hdr+"."+payload+".")}, err
			}},
		{ID: "SIG-07", Category: "signature", Severity: Critical, Expect: Refuse, Source: "RFC 7515 §5.2",
			Title:   "Signature truncated",
			Explain: "Half a signature is not a signature. Verifiers that compare only a prefix, or ignore length, accept it.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				hdr, payload, sig, _, _, err := realParts(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				// Cut bytes, not characters, so the encoding stays valid and
				// only the signature is wrong.
				raw, err := base64.RawURLEncoding.DecodeString(sig)
				return []attempt{bearer("first half of the signature", hdr+"."+payload+"."+b64(raw[:len(raw)/2]))}, err
			}},
		{ID: "SIG-08", Category: "signature", Severity: Critical, Expect: Refuse, Source: "RFC 8725 §3.1; CVE-2016-10555; CVE-2024-54150",
			Title:   "Key confusion: HS256 keyed with the issuer's public key",
			Explain: "The attacker switches alg to HS256 and uses the issuer's PUBLIC key as the HMAC secret. A verifier that lets the header choose the algorithm then verifies with the same public key, and the forgery passes.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				_, _, _, h, c, err := realParts(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				k, err := e.trustedKey(ctx, fmt.Sprint(h["alg"]))
				if err != nil {
					return nil, err
				}
				der, err := x509.MarshalPKIXPublicKey(k.Public)
				if err != nil {
					return nil, err
				}
				pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
				jwkJSON, _ := json.Marshal(k)
				h = clone(h)
				h["alg"], h["kid"] = "HS256", k.ID
				var out []attempt
				for label, secret := range map[string][]byte{"PEM": pemKey, "PEM without newline": bytes.TrimSpace(pemKey), "DER": der, "JWK JSON": jwkJSON} {
					tok, err := signWithHMAC(secret, h, c)
					if err != nil {
						return nil, err
					}
					out = append(out, bearer("HS256 with public key as "+label, tok))
				}
				return out, nil
			}},
		{ID: "SIG-09", Category: "signature", Severity: Critical, Expect: Refuse, Source: "CVE-2022-21449",
			Title:   "ECDSA signature with r = s = 0 (psychic signature)",
			Explain: "An ECDSA signature of zeros satisfies the verification equation in implementations that forget to check r and s are in [1, n-1]. It verifies for every message and every key.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				_, payload, _, h, _, err := realParts(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				k, err := e.trustedKey(ctx, "ES256")
				if err != nil {
					return nil, err
				}
				h = clone(h)
				h["alg"], h["kid"] = "ES256", k.ID
				hdr, _ := marshalSegment(h)
				return []attempt{
					bearer("r=s=0 (raw)", hdr+"."+payload+"."+b64(make([]byte, 64))),
					bearer("r=s=0 (DER)", hdr+"."+payload+"."+b64([]byte{0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00})),
				}, nil
			}},
		{ID: "SIG-10", Category: "signature", Severity: Critical, Expect: Refuse, Source: "RFC 7515 §4.1.4",
			Title:   "Attacker's key, reusing a trusted kid",
			Explain: "kid only selects a key; it proves nothing. The attacker signs with their own key and claims the issuer's kid. The signature must be checked with the trusted key that kid names.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				_, _, _, h, c, err := realParts(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				attacker, err := e.attacker(fmt.Sprint(h["alg"]))
				if err != nil {
					return nil, err
				}
				tok, err := sign(attacker.signer, attacker.alg, h, c)
				return []attempt{bearer("attacker signature, trusted kid", tok)}, err
			}},
		{ID: "SIG-11", Category: "signature", Severity: Critical, Expect: Refuse, Source: "RFC 8725 §3.1; RFC 7517 §4.4",
			Title:   "alg does not match the key the kid names",
			Explain: "Each key is for one algorithm. A token that names an EdDSA key but says ES256 (signed with another ES256 key) must fail, not be verified under whatever alg it claims.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				_, _, _, h, c, err := realParts(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				alg := "ES256"
				if h["alg"] == "ES256" {
					alg = "RS256"
				}
				other, err := e.attacker(alg)
				if err != nil {
					return nil, err
				}
				h = clone(h)
				h["alg"] = alg
				tok, err := sign(other.signer, alg, h, c)
				return []attempt{bearer(alg+" header on a "+fmt.Sprint(h["kid"])+" key", tok)}, err
			}},
		{ID: "SIG-12", Category: "signature", Severity: Critical, Expect: Refuse, Source: "RFC 8725 §3.5; jwt_tool",
			Title:   "HS256 with an empty or guessable secret",
			Explain: "If a verifier accepts HMAC at all, an attacker tries empty and common secrets. Asymmetric-only verifiers refuse HS256 outright.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				_, _, _, h, c, err := realParts(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				h = clone(h)
				h["alg"] = "HS256"
				var out []attempt
				for _, secret := range []string{"", "secret", "changeme"} {
					tok, err := signWithHMAC([]byte(secret), h, c)
					if err != nil {
						return nil, err
					}
					out = append(out, bearer(fmt.Sprintf("HS256 secret %q", secret), tok))
				}
				return out, nil
			}},
	}
}

func signWithHMAC(secret []byte, h, c map[string]any) (string, error) {
	hdr, err := marshalSegment(h)
	if err != nil {
		return "", err
	}
	payload, err := marshalSegment(c)
	if err != nil {
		return "", err
	}
	return signSegments(secret, "HS256", hdr, payload)
}

func keyCases() []Case {
	attackerSigned := func(ctx context.Context, e *env, rs *ResourceServer, edit func(h map[string]any, k signingKey) error) (string, error) {
		_, _, _, h, c, err := realParts(ctx, e, rs)
		if err != nil {
			return "", err
		}
		k, err := e.attacker(fmt.Sprint(h["alg"]))
		if err != nil {
			return "", err
		}
		h = clone(h)
		h["kid"] = k.kid
		if err := edit(h, k); err != nil {
			return "", err
		}
		return sign(k.signer, k.alg, h, c)
	}
	fetchCase := func(id, param, source string) Case {
		return Case{ID: id, Category: "key selection", Severity: Critical, Expect: Refuse, Source: source,
			Title:   fmt.Sprintf("%s header pointing at the attacker's server", param),
			Explain: fmt.Sprintf("%s tells a verifier where to download the key. If the verifier follows it, the attacker chooses the key (and the verifier makes requests wherever the attacker says: SSRF). Fetching it at all is the flaw, so the suite fails the case on the fetch, not only on acceptance.", param),
			check: func(ctx context.Context, e *env, rs *ResourceServer) verdict {
				if e.issuer == nil || e.hitsURL == "" {
					return skipOrFail(errNeedsTestIssuer)
				}
				path := fmt.Sprintf("/attacker/%s-%s-%s", param, rs.Name, randomID()[:6])
				tok, err := attackerSigned(ctx, e, rs, func(h map[string]any, _ signingKey) error {
					h[param] = e.attackerURL + path
					return nil
				})
				if err != nil {
					return skipOrFail(err)
				}
				v := judge(Refuse, []Observation{e.send(ctx, rs, bearer(param+" → attacker", tok))})
				h, err := e.readHits(ctx)
				if err != nil {
					return verdict{Fail, "cannot read the issuer's fetch log: " + err.Error(), v.observations}
				}
				for _, p := range h.Attacker {
					if p == path {
						v.status, v.reason = Fail, joinReason(v.reason, "the server FETCHED "+param+" "+e.attackerURL+path)
					}
				}
				return v
			}}
	}
	return []Case{
		{ID: "KEY-01", Category: "key selection", Severity: Critical, Expect: Refuse, Source: "CVE-2018-0114; RFC 8725 §3.10",
			Title:   "Embedded jwk header with the attacker's key",
			Explain: "The token carries its own public key in the jwk header and is signed with the matching private key. A verifier that trusts a key because the token brought it trusts anyone.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				tok, err := attackerSigned(ctx, e, rs, func(h map[string]any, k signingKey) error {
					h["jwk"] = k.public()
					return nil
				})
				return []attempt{bearer("embedded jwk", tok)}, err
			}},
		{ID: "KEY-02", Category: "key selection", Severity: Critical, Expect: Refuse, Source: "CVE-2018-0114",
			Title:   "Embedded jwk header claiming a trusted kid",
			Explain: "As KEY-01, but the embedded key wears the issuer's kid, for verifiers that look the kid up and then use the embedded key anyway.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				_, _, _, h0, _, err := realParts(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				tok, err := attackerSigned(ctx, e, rs, func(h map[string]any, k signingKey) error {
					pub := k.public()
					pub.ID = fmt.Sprint(h0["kid"])
					h["kid"], h["jwk"] = pub.ID, pub
					return nil
				})
				return []attempt{bearer("embedded jwk, trusted kid", tok)}, err
			}},
		fetchCase("KEY-03", "jku", "RFC 8725 §3.10; RFC 7515 §4.1.2"),
		fetchCase("KEY-04", "x5u", "RFC 8725 §3.10; RFC 7515 §4.1.5"),
		{ID: "KEY-05", Category: "key selection", Severity: Critical, Expect: Refuse, Source: "RFC 7515 §4.1.6",
			Title:   "Embedded x5c certificate chain (self-signed)",
			Explain: "x5c carries certificates. A self-signed certificate proves only that the attacker has a key; trusting it is trusting the token's own say-so.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				tok, err := attackerSigned(ctx, e, rs, func(h map[string]any, k signingKey) error {
					cert, err := selfSigned(k.signer)
					h["x5c"] = []string{base64.StdEncoding.EncodeToString(cert)}
					return err
				})
				return []attempt{bearer("x5c self-signed", tok)}, err
			}},
		{ID: "KEY-06", Category: "key selection", Severity: Medium, Expect: Refuse, Source: "RFC 7515 §4.1.4; go-spiffe jwtsvid",
			Title:    "No kid",
			Explain:  "Without kid a verifier must guess the key, and some try every key they know, or the first. Tokens here must name their key.",
			attempts: forged(func(_ *testIssuer, h, _ map[string]any) { delete(h, "kid") })},
		{ID: "KEY-07", Category: "key selection", Severity: Critical, Expect: Refuse, Source: "jwt_tool; OWASP WSTG-SESS-10",
			Title:   "Injection-shaped kid values",
			Explain: "kid reaches file paths, SQL and shell commands in careless verifiers: ../../dev/null makes the key empty, a SQL quote makes it attacker-chosen. kid must only ever be looked up in the trusted key set.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				_, _, _, h, c, err := realParts(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				var out []attempt
				h1 := clone(h)
				h1["alg"], h1["kid"] = "HS256", "../../../../../../../../dev/null"
				tok, err := signWithHMAC(nil, h1, c)
				if err != nil {
					return nil, err
				}
				out = append(out, bearer("kid path traversal, HS256 empty key", tok))
				for _, kid := range []string{"' OR '1'='1", "x' UNION SELECT 'secret", "|/bin/true", "$(true)", fmt.Sprint(h["kid"]) + "\x00evil", "http://127.0.0.1/jwks.json"} {
					t2, err := attackerSigned(ctx, e, rs, func(hh map[string]any, _ signingKey) error {
						hh["kid"] = kid
						return nil
					})
					if err != nil {
						return nil, err
					}
					out = append(out, bearer(fmt.Sprintf("kid %q", kid), t2))
				}
				return out, nil
			}},
		{ID: "KEY-08", Category: "key selection", Severity: Medium, Expect: Refuse, Source: "go-oidc RemoteKeySet; RFC 8725 §3.10",
			Title:   "Unknown kids do not make the server refetch the JWKS every time",
			Explain: "A verifier refetches the JWKS when it sees a new kid (that is how rotation works), but at most once in a while: otherwise every made-up kid turns one request into two, and the issuer is flooded through its clients.",
			check: func(ctx context.Context, e *env, rs *ResourceServer) verdict {
				if e.issuer == nil || e.hitsURL == "" {
					return skipOrFail(errNeedsTestIssuer)
				}
				before, err := e.readHits(ctx)
				if err != nil {
					return verdict{Fail, "cannot read the issuer's fetch log: " + err.Error(), nil}
				}
				const n = 20
				var obs []Observation
				for i := range n {
					tok, err := attackerSigned(ctx, e, rs, func(h map[string]any, _ signingKey) error {
						h["kid"] = fmt.Sprintf("unknown-%d-%s", i, randomID()[:6])
						return nil
					})
					if err != nil {
						return skipOrFail(err)
					}
					obs = append(obs, e.send(ctx, rs, bearer(fmt.Sprintf("unknown kid %d", i+1), tok)))
				}
				v := judge(Refuse, obs)
				after, err := e.readHits(ctx)
				if err != nil {
					return verdict{Fail, "cannot read the issuer's fetch log: " + err.Error(), nil}
				}
				if fetched := after.JWKS - before.JWKS; fetched > 2 {
					v.status, v.reason = Fail, joinReason(v.reason, fmt.Sprintf("%d unknown kids caused %d JWKS fetches", n, fetched))
				}
				if v.status == Pass {
					v.observations = obs[:1]
				}
				return v
			}},
	}
}

func selfSigned(signer crypto.Signer) ([]byte, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "conformance attacker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
}

func headerCases() []Case {
	hc := func(id, title, explain, source string, sev Severity, change func(h, c map[string]any)) Case {
		return Case{ID: id, Category: "type and header", Severity: sev, Expect: Refuse, Source: source,
			Title: title, Explain: explain, attempts: forged(func(_ *testIssuer, h, c map[string]any) { change(h, c) })}
	}
	return []Case{
		hc("HDR-01", "An ID token where an access token is expected (typ JWT)",
			"An OpenID Connect ID token says who a user is, to a client; it is not permission to call an API. RFC 9068's typ at+jwt is what tells the two apart, so a token typed JWT with ID-token claims is refused.",
			"RFC 9068 §4; RFC 8725 §3.11", High, func(h, c map[string]any) {
				h["typ"] = "JWT"
				c["nonce"], c["auth_time"], c["azp"] = "n-0S6_WzA2Mj", time.Now().Unix(), "some-client"
			}),
		hc("HDR-02", "typ missing", "Without typ, an access token cannot be told from any other signed JWT the issuer makes.",
			"RFC 9068 §4", High, func(h, _ map[string]any) { delete(h, "typ") }),
		hc("HDR-03", "Unknown critical header (crit)", "crit lists extensions the verifier MUST understand. If it does not, it must refuse, not ignore them.",
			"RFC 7515 §4.1.11", High, func(h, _ map[string]any) {
				h["crit"], h["x-conformance-ext"] = []string{"x-conformance-ext"}, true
			}),
		{ID: "HDR-04", Category: "type and header", Severity: High, Expect: Refuse, Source: "RFC 7797; RFC 8725bis",
			Title:   "Unencoded payload (b64: false) with a detached signature",
			Explain: "RFC 7797 lets a JWS sign the payload unencoded. Verifiers that do not support it must refuse such a token, or they check a signature over different bytes than they read.",
			attempts: func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				if e.issuer == nil {
					return nil, errNeedsTestIssuer
				}
				_, h, c, err := e.base(ctx, rs)
				if err != nil {
					return nil, err
				}
				h["b64"], h["crit"] = false, []string{"b64"}
				hdr, _ := marshalSegment(h)
				payload, _ := json.Marshal(c)
				k := e.issuer.primary
				full, err := signSegments(k.signer, k.alg, hdr, string(payload))
				if err != nil {
					return nil, err
				}
				sig := full[strings.LastIndex(full, ".")+1:]
				return []attempt{bearer("b64=false, detached", hdr+".."+sig)}, nil
			}},
		{ID: "HDR-05", Category: "type and header", Severity: Medium, Expect: Refuse, Source: "RFC 7519 §5.2; RFC 8725 §2.8",
			Title:   "Nested JWT (cty: JWT) whose payload is another token",
			Explain: "A signed envelope around a token is not the token. A verifier that unwraps cty JWT and trusts the inner token skips the inner token's checks.",
			attempts: forgedPayload("cty JWT", func(inner string, h, _ map[string]any) string {
				h["cty"] = "JWT"
				return b64([]byte(inner))
			})},
		{ID: "HDR-06", Category: "type and header", Severity: Medium, Expect: Refuse, Source: "RFC 7516 §4.1.3; RFC 8725bis",
			Title:   "zip on a JWS (compressed payload)",
			Explain: "zip belongs to JWE only. A verifier that inflates a JWS payload invites decompression bombs and parses bytes the signature was not meant to cover as claims.",
			attempts: forgedPayload("zip DEF", func(_ string, h, c map[string]any) string {
				h["zip"] = "DEF"
				plain, _ := json.Marshal(c)
				var buf bytes.Buffer
				w, _ := flate.NewWriter(&buf, flate.BestCompression)
				_, _ = w.Write(plain)
				_ = w.Close()
				return b64(buf.Bytes())
			})},
	}
}

// forgedPayload is forged for tokens whose payload segment is not the
// claims as JSON: build returns the encoded payload from the base token
// (and may change its header); the result is signed with the trusted key.
func forgedPayload(label string, build func(inner string, header, claims map[string]any) string) func(context.Context, *env, *ResourceServer) ([]attempt, error) {
	return func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
		if e.issuer == nil {
			return nil, errNeedsTestIssuer
		}
		inner, h, c, err := e.base(ctx, rs)
		if err != nil {
			return nil, err
		}
		payload := build(inner, h, c)
		hdr, err := marshalSegment(h)
		if err != nil {
			return nil, err
		}
		k := e.issuer.primary
		tok, err := signSegments(k.signer, k.alg, hdr, payload)
		return []attempt{bearer(label, tok)}, err
	}
}

func subjectCases() []Case {
	sc := func(id, title, explain string, value any) Case {
		return Case{ID: id, Category: "subject", Severity: High, Expect: Refuse, Source: "RFC 9068 §2.2; RFC 7519 §4.1.2",
			Title: title, Explain: explain,
			attempts: forged(func(_ *testIssuer, _, c map[string]any) {
				if value == nil {
					delete(c, "sub")
				} else {
					c["sub"] = value
				}
			})}
	}
	return []Case{
		sc("SUB-01", "sub missing", "sub says who is calling; Logging records it as the source of every entry. A token that names nobody cannot be audited.", nil),
		sc("SUB-02", "sub is empty", "An empty sub names no caller: Logging would record an entry from nobody, and no audit could say who wrote it.", ""),
		sc("SUB-03", "sub is a number", "sub is a string; a number is a malformed token, whatever it would stringify to.", 12345),
	}
}

func replayCases() []Case {
	return []Case{
		{ID: "RPL-01", Category: "replay", Severity: High, Expect: Refuse, SingleUseOnly: true, Source: "RFC 7519 §4.1.7; seed scenario",
			Title:   "The same token presented twice",
			Explain: "A single-use service remembers each jti until the token expires. The second presentation of a token, however valid, is a replay: someone copied the request.",
			check: func(ctx context.Context, e *env, rs *ResourceServer) verdict {
				raw, _, _, err := e.base(ctx, rs)
				if err != nil {
					return skipOrFail(err)
				}
				first := e.send(ctx, rs, bearer("first use", raw))
				if first.Status < 200 || first.Status >= 300 {
					return verdict{Fail, fmt.Sprintf("inconclusive: first use refused (%d %s)", first.Status, first.Error), []Observation{first}}
				}
				v := judge(Refuse, []Observation{e.send(ctx, rs, bearer("second use", raw))})
				v.observations = append([]Observation{first}, v.observations...)
				return v
			}},
		{ID: "RPL-02", Category: "replay", Severity: High, Expect: Refuse, SingleUseOnly: true, Source: "TOCTOU; seed scenario",
			Title:   "16 parallel presentations of one token: exactly one accepted",
			Explain: "A check-then-store replay guard has a window: two requests both see the jti as new, then both store it. The check and the store must be one atomic step.",
			check: func(ctx context.Context, e *env, rs *ResourceServer) verdict {
				raw, _, _, err := e.base(ctx, rs)
				if err != nil {
					return skipOrFail(err)
				}
				const n = 16
				obs := make([]Observation, n)
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range n {
					wg.Go(func() {
						<-start
						obs[i] = e.send(ctx, rs, bearer(fmt.Sprintf("parallel %d", i+1), raw))
					})
				}
				close(start)
				wg.Wait()
				accepted, refused := 0, 0
				v := verdict{status: Pass}
				for _, o := range obs {
					switch {
					case o.Status >= 200 && o.Status < 300:
						accepted++
					case o.Status >= 400 && o.Status < 500:
						refused++
					default:
						v.status, v.reason = Fail, joinReason(v.reason, fmt.Sprintf("%s: %d %s", o.Label, o.Status, o.Error))
					}
				}
				if accepted != 1 {
					v.status, v.reason = Fail, joinReason(v.reason, fmt.Sprintf("%d of %d parallel presentations accepted", accepted, n))
				}
				v.observations = obs[:2]
				return v
			}},
	}
}

func formatCases() []Case {
	fc := func(id, title, explain, source string, sev Severity, build func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error)) Case {
		return Case{ID: id, Category: "format and cost", Severity: sev, Expect: Refuse, Source: source, Title: title, Explain: explain, attempts: build}
	}
	static := func(label, authorization string) func(context.Context, *env, *ResourceServer) ([]attempt, error) {
		return func(context.Context, *env, *ResourceServer) ([]attempt, error) {
			return []attempt{{label: label, authorization: authorization}}, nil
		}
	}
	return []Case{
		fc("FMT-01", "Header of many dots", "Splitting a token of tens of thousands of dots allocated memory per dot in golang-jwt; a token's shape must be checked before any work proportional to it.",
			"CVE-2025-30204", Medium, static("20,000 dots", "Bearer e"+strings.Repeat(".", 20000))),
		fc("FMT-02", "Oversized token (64 KiB)", "A token should be small. Without a size limit every request can make the server decode and hash megabytes before refusing.",
			"RFC 8725 §3.1; availability", Medium, func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				if e.issuer == nil {
					return nil, errNeedsTestIssuer
				}
				_, h, c, err := e.base(ctx, rs)
				if err != nil {
					return nil, err
				}
				c["padding"] = strings.Repeat("A", 64<<10)
				tok, err := e.forge(h, c)
				return []attempt{bearer("64 KiB", tok)}, err
			}),
		fc("FMT-03", "Invalid base64url in the header", "Lenient decoders skip bad characters; two parsers reading the same bytes differently is how signature checks get bypassed.",
			"RFC 7515 §2", Medium, func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				hdr, payload, sig, _, _, err := realParts(ctx, e, rs)
				return []attempt{bearer("'!' in header", "!"+hdr[1:]+"."+payload+"."+sig)}, err
			}),
		fc("FMT-04", "Padding in base64url segments", "JWS segments are base64url without padding; tolerating '=' is harmless alone but shows a lax decoder.",
			"RFC 7515 §2", Low, func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				hdr, payload, sig, _, _, err := realParts(ctx, e, rs)
				return []attempt{bearer("padded signature", hdr+"."+payload+"."+sig+"==")}, err
			}),
		fc("FMT-05", "Duplicate JSON member names", "{\"aud\":\"this\",\"aud\":\"other\"}: parsers disagree on which wins. RFC 7519 allows refusing or taking the last; taking the first accepts a token its issuer meant for another service.",
			"RFC 7519 §4; RFC 8725 §3.12", High, func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				if e.issuer == nil {
					return nil, errNeedsTestIssuer
				}
				_, h, c, err := e.base(ctx, rs)
				if err != nil {
					return nil, err
				}
				own := c["aud"]
				delete(c, "aud")
				body, _ := json.Marshal(c)
				dupAud := fmt.Sprintf(`{"aud":%q,%s,"aud":"some-other-service"}`, own, body[1:len(body)-1])
				hb, _ := json.Marshal(h)
				dupAlg := fmt.Sprintf(`%s,"alg":"none"}`, hb[:len(hb)-1])
				k := e.issuer.primary
				claimsSeg, _ := marshalSegment(dupAud)
				hdrSeg, _ := marshalSegment(h)
				t1, err := signSegments(k.signer, k.alg, hdrSeg, claimsSeg)
				if err != nil {
					return nil, err
				}
				c["aud"] = own
				okSeg, _ := marshalSegment(c)
				dupHdrSeg, _ := marshalSegment(dupAlg)
				t2, err := signSegments(k.signer, k.alg, dupHdrSeg, okSeg)
				return []attempt{bearer("aud twice, own value first", t1), bearer("alg twice, none last", t2)}, err
			}),
		fc("FMT-06", "JWS JSON serialization instead of compact", "Access tokens in headers are compact JWS. Accepting JSON serialization opens parser-differential attacks between the two forms.",
			"RFC 7515 §7.2; RFC 9068", Medium, func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				hdr, payload, sig, _, _, err := realParts(ctx, e, rs)
				flat := fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, hdr, payload, sig)
				general := fmt.Sprintf(`{"payload":%q,"signatures":[{"protected":%q,"signature":%q}]}`, payload, hdr, sig)
				return []attempt{bearer("flattened JSON", flat), bearer("general JSON", general),
					bearer("flattened JSON, base64url", b64([]byte(flat)))}, err
			}),
		fc("FMT-07", "JSON/compact polyglot", "A JSON document whose member name looks like a compact token (with a forged payload) and whose members carry a genuine signature. python-jwt verified one form and read claims from the other.",
			"CVE-2022-39227", Critical, func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				hdr, payload, sig, _, c, err := realParts(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				c = clone(c)
				c["sub"] = "admin"
				forgedPayload, _ := marshalSegment(c)
				poly := fmt.Sprintf(`{"  %s.%s.":"","protected":%q,"payload":%q,"signature":%q}`, hdr, forgedPayload, hdr, payload, sig)
				return []attempt{bearer("polyglot", poly)}, nil
			}),
		fc("FMT-08", "No token at all", "The baseline refusal: no credentials, 401 with a WWW-Authenticate: Bearer challenge (RFC 6750 §3).",
			"RFC 6750 §3.1", High, static("no Authorization header", "")),
		fc("FMT-09", "Empty bearer credentials", "'Bearer' followed by nothing, or by spaces.",
			"RFC 6750 §2.1", Medium, func(context.Context, *env, *ResourceServer) ([]attempt, error) {
				return []attempt{{label: "Bearer", authorization: "Bearer"}, {label: "Bearer + space", authorization: "Bearer "}, {label: "Bearer + spaces", authorization: "Bearer    "}}, nil
			}),
		fc("FMT-10", "Garbage instead of a token", "Anything that is not a JWS is refused with 401, not a 500 from a parser that panicked.",
			"RFC 6750 §3.1", Medium, func(context.Context, *env, *ResourceServer) ([]attempt, error) {
				return []attempt{bearer("word", "not-a-jwt"), bearer("three dots", "..."), bearer("bytes outside ASCII", "\xff\xfe\xfd"),
					bearer("JSON", `{"sub":"admin"}`), bearer("header only", b64([]byte(`{"alg":"none"}`)))}, nil
			}),
		fc("FMT-11", "An encrypted token (JWE) where a signed one is expected", "Five segments and alg dir: a JWE is not signed. A library that also decrypts may accept a token the attacker encrypted with a key it chose.",
			"RFC 8725bis; CVE-2023-51774", High, func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				_, _, _, h, _, err := realParts(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				jweHdr, _ := marshalSegment(map[string]any{"alg": "dir", "enc": "A256GCM", "kid": h["kid"], "typ": "at+jwt"})
				return []attempt{bearer("JWE compact", jweHdr+".."+randomID()+"."+randomID()+randomID()+"."+randomID())}, nil
			}),
		fc("FMT-12", "Payload that is not JSON", "A correctly signed payload that is not a JSON object has no claims to check; it must be refused, not read as empty claims.",
			"RFC 7519 §7.2", Medium, func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				if e.issuer == nil {
					return nil, errNeedsTestIssuer
				}
				h := e.issuer.header(e.issuer.primary)
				var out []attempt
				for label, payload := range map[string]string{"text": "hello", "array": `["sub","admin"]`, "null": "null"} {
					tok, err := e.forge(h, payload)
					if err != nil {
						return nil, err
					}
					out = append(out, bearer(label, tok))
				}
				return out, nil
			}),
		fc("FMT-13", "Token in the URL query instead of the header", "access_token in a URL ends up in logs, proxies and browser history. OAuth 2.0 Security BCP: resource servers must not accept it.",
			"RFC 9700 §4.3.2; RFC 6750 §2.3", Low, func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
				raw, _, _, err := e.base(ctx, rs)
				return []attempt{{label: "access_token in query", query: "access_token=" + raw}}, err
			}),
	}
}

// noTokenCases send no usable credentials; RFC 6750 §3.1 says such a
// refusal carries no error code.
var noTokenCases = []string{"FMT-08", "FMT-09", "FMT-13"}

// rfc6750Case is judged from every refusal the run saw.
var rfc6750Case = Case{ID: "FMT-14", Category: "format and cost", Severity: Low, Expect: Refuse, Source: "RFC 6750 §3",
	Title:   "Every 401 carries a WWW-Authenticate: Bearer challenge",
	Explain: "RFC 6750 says how to refuse: 401 with WWW-Authenticate: Bearer, and error=\"invalid_token\" when a token was sent. Clients rely on it to tell 'get a new token' from 'you may not'."}

func skipOrFail(err error) verdict {
	if err == errNeedsTestIssuer || strings.Contains(err.Error(), errNeedsTestIssuer.Error()) {
		return verdict{status: Skip, reason: err.Error()}
	}
	return verdict{Fail, "could not build the case: " + err.Error(), nil}
}
