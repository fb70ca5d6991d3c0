package conformance

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// trustedKey returns a key the servers trust: the suite's, or the first of
// the implementation's JWKS.
func (e *env) trustedKey(ctx context.Context, alg string) (jwk.Key, error) {
	if e.issuer != nil {
		if alg == "ES256" {
			return e.issuer.ecdsa.Public(), nil
		}
		return e.issuer.primary.Public(), nil
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
func realParts(ctx context.Context, e *env, rs *target.ResourceServer) (hdr, payload, sig string, h, c map[string]any, err error) {
	raw, h, c, err := e.base(ctx, rs)
	if err != nil {
		return "", "", "", nil, nil, err
	}
	parts := strings.Split(raw, ".")
	return parts[0], parts[1], parts[2], h, c, nil
}

func signatureCases() []Case {
	none := func(id, spelling string) Case {
		return Case{About: About{ID: id, Category: "signature", Severity: Critical, Expect: Refuse, Source: "RFC 8725 §3.1; CVE-2015-9235",
			Title:   fmt.Sprintf("alg %q: no signature at all", spelling),
			Explain: "alg none means 'unsigned'. A verifier that lets the token choose its algorithm, and accepts none in any spelling, accepts tokens anyone can write."},
			Run: requests(func(ctx context.Context, e *env, rs *target.ResourceServer) ([]attempt, error) {
				_, payload, _, h, _, err := realParts(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				h = clone(h)
				h["alg"] = spelling
				hdr, _ := marshalSegment(h)
				return []attempt{bearer("empty signature", hdr+"."+payload+"."), bearer("junk signature", hdr+"."+payload+".c2ln")}, nil
			})}
	}
	return []Case{
		none("SIG-01", "none"), none("SIG-02", "None"), none("SIG-03", "NONE"), none("SIG-04", "nOnE"),
		{About: About{ID: "SIG-05", Category: "signature", Severity: Critical, Expect: Refuse, Source: "RFC 7515 §5.2",
			Title:   "Tampered payload, original signature",
			Explain: "The payload is changed (sub becomes admin) and the old signature kept. Only a verifier that checks the signature over exactly these bytes notices."},
			Run: requests(func(ctx context.Context, e *env, rs *target.ResourceServer) ([]attempt, error) {
				hdr, _, sig, _, c, err := realParts(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				c = clone(c)
				c["sub"], c["scope"] = "admin", "admin "+fmt.Sprint(c["scope"])
				payload, _ := marshalSegment(c)
				return []attempt{bearer("tampered", hdr+"."+payload+"."+sig)}, nil
			})},
		{About: About{ID: "SIG-06", Category: "signature", Severity: Critical, Expect: Refuse, Source: "RFC 7515 §5.2",
			Title:   "Signature stripped",
			Explain: "The token keeps its header (alg still says EdDSA or ES256) but the signature is gone. Decoding is not verifying."},
			Run: requests(func(ctx context.Context, e *env, rs *target.ResourceServer) ([]attempt, error) {
				hdr, payload, _, _, _, err := realParts(ctx, e, rs)
				return []attempt{bearer("stripped", hdr+"."+payload+".")}, err
			})},
		{About: About{ID: "SIG-07", Category: "signature", Severity: Critical, Expect: Refuse, Source: "RFC 7515 §5.2",
			Title:   "Signature truncated",
			Explain: "Half a signature is not a signature. Verifiers that compare only a prefix, or ignore length, accept it."},
			Run: requests(func(ctx context.Context, e *env, rs *target.ResourceServer) ([]attempt, error) {
				hdr, payload, sig, _, _, err := realParts(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				// Cut bytes, not characters, so the encoding stays valid and
				// only the signature is wrong.
				raw, err := base64.RawURLEncoding.DecodeString(sig)
				return []attempt{bearer("first half of the signature", hdr+"."+payload+"."+b64(raw[:len(raw)/2]))}, err
			})},
		{About: About{ID: "SIG-08", Category: "signature", Severity: Critical, Expect: Refuse, Source: "RFC 8725 §3.1; CVE-2016-10555; CVE-2024-54150",
			Title:   "Key confusion: HS256 keyed with the issuer's public key",
			Explain: "The attacker switches alg to HS256 and uses the issuer's PUBLIC key as the HMAC secret. A verifier that lets the header choose the algorithm then verifies with the same public key, and the forgery passes."},
			Run: requests(keyConfusionAttempts)},
		{About: About{ID: "SIG-09", Category: "signature", Severity: Critical, Expect: Refuse, Source: "CVE-2022-21449",
			Title:   "ECDSA signature with r = s = 0 (psychic signature)",
			Explain: "An ECDSA signature of zeros satisfies the verification equation in implementations that forget to check r and s are in [1, n-1]. It verifies for every message and every key."},
			Run: requests(func(ctx context.Context, e *env, rs *target.ResourceServer) ([]attempt, error) {
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
			})},
		{About: About{ID: "SIG-10", Category: "signature", Severity: Critical, Expect: Refuse, Source: "RFC 7515 §4.1.4",
			Title:   "Attacker's key, reusing a trusted kid",
			Explain: "kid only selects a key; it proves nothing. The attacker signs with their own key and claims the issuer's kid. The signature must be checked with the trusted key that kid names."},
			Run: requests(func(ctx context.Context, e *env, rs *target.ResourceServer) ([]attempt, error) {
				_, _, _, h, c, err := realParts(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				attacker, err := e.attacker(fmt.Sprint(h["alg"]))
				if err != nil {
					return nil, err
				}
				tok, err := sign(attacker.Signer, attacker.Algorithm, h, c)
				return []attempt{bearer("attacker signature, trusted kid", tok)}, err
			})},
		{About: About{ID: "SIG-11", Category: "signature", Severity: Critical, Expect: Refuse, Source: "RFC 8725 §3.1; RFC 7517 §4.4",
			Title:   "alg does not match the key the kid names",
			Explain: "Each key is for one algorithm. A token that names an EdDSA key but says ES256 (signed with another ES256 key) must fail, not be verified under whatever alg it claims."},
			Run: requests(func(ctx context.Context, e *env, rs *target.ResourceServer) ([]attempt, error) {
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
				tok, err := sign(other.Signer, alg, h, c)
				return []attempt{bearer(alg+" header on a "+fmt.Sprint(h["kid"])+" key", tok)}, err
			})},
		{About: About{ID: "SIG-12", Category: "signature", Severity: Critical, Expect: Refuse, Source: "RFC 8725 §3.5; jwt_tool",
			Title:   "HS256 with an empty or guessable secret",
			Explain: "If a verifier accepts HMAC at all, an attacker tries empty and common secrets. Asymmetric-only verifiers refuse HS256 outright."},
			Run: requests(func(ctx context.Context, e *env, rs *target.ResourceServer) ([]attempt, error) {
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
			})},
		{About: About{ID: "SIG-13", Category: "signature", Severity: Critical, Expect: Refuse, Source: "RFC 8725 §3.1; RFC 7518 §3.1",
			Title:   "A trusted key's own signature under another key type's alg",
			Explain: "Signed by a trusted key and naming its kid, but alg names an algorithm of another key type (ES256 on an Ed25519 key). A verifier that takes the algorithm from the key, rather than refusing a header that does not match it, never checked alg at all; that is one step from key confusion."},
			Run: requests(mislabelledKeyAttempts)},
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

// otherKeyTypeAlg names an algorithm whose key type differs from alg's.
func otherKeyTypeAlg(alg string) string {
	switch alg {
	case "EdDSA":
		return "ES256"
	case "ES256":
		return "EdDSA"
	}
	return "ES256" // RS256, PS256: RSA keys
}

// keyConfusionAttempts builds SIG-08.
func keyConfusionAttempts(ctx context.Context, e *env, rs *target.ResourceServer) ([]attempt, error) {
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
}

// mislabelledKeyAttempts builds SIG-13.
func mislabelledKeyAttempts(ctx context.Context, e *env, rs *target.ResourceServer) ([]attempt, error) {
	if e.issuer == nil {
		return nil, errNeedsTestIssuer
	}
	var out []attempt
	for _, alg := range testissuer.Algorithms {
		k, _ := e.keys.Get(testissuer.Primary, alg)
		label := otherKeyTypeAlg(alg)
		h := e.issuer.header(k)
		h["alg"] = label
		hdr, _ := marshalSegment(h)
		payload, _ := marshalSegment(e.issuer.claims(rs, time.Now()))
		tok, err := signSegments(k.Signer, k.Algorithm, hdr, payload)
		if err != nil {
			return nil, err
		}
		out = append(out, bearer(fmt.Sprintf("%s key's signature labelled %s", alg, label), tok))
	}
	return out, nil
}
