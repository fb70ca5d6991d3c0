package cases

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// trustedKey returns a key the servers trust: the suite's, or the first of
// the implementation's JWKS.
func trustedKey(e *attack.Kit, ctx context.Context, alg string) (jwk.Key, error) {
	if e.Issuer != nil {
		if alg == "ES256" {
			return e.Issuer.ECDSA.Public(), nil
		}
		return e.Issuer.Primary.Public(), nil
	}
	if e.Identity == nil {
		return jwk.Key{}, attack.ErrNeedsTestIssuer
	}
	status, body, err := e.Identity.Do(ctx, "GET", e.Identity.JWKSURL, "", "")
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
	return jwk.Key{}, fmt.Errorf("%w (no %s key in the identity JWKS)", attack.ErrNeedsTestIssuer, alg)
}

func signatureCases() []attack.Case {
	none := func(id, spelling string) attack.Case {
		return attack.Case{About: attack.About{ID: id, Category: "signature", Severity: attack.Critical, Expect: attack.Refuse, Source: "RFC 8725 §3.1; CVE-2015-9235",
			Title:   fmt.Sprintf("alg %q: no signature at all", spelling),
			Explain: "alg none means 'unsigned'. A verifier that lets the token choose its algorithm, and accepts none in any spelling, accepts tokens anyone can write."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				base, err := e.Token(ctx, rs)
				payload, h := base.PayloadB64, base.Header
				if err != nil {
					return nil, err
				}
				h = attack.Clone(h)
				h["alg"] = spelling
				hdr, _ := attack.MarshalSegment(h)
				return []attack.Attempt{attack.Bearer("empty signature", hdr+"."+payload+"."), attack.Bearer("junk signature", hdr+"."+payload+".c2ln")}, nil
			})}
	}
	return []attack.Case{
		none("SIG-01", "none"), none("SIG-02", "None"), none("SIG-03", "NONE"), none("SIG-04", "nOnE"),
		{About: attack.About{ID: "SIG-05", Category: "signature", Severity: attack.Critical, Expect: attack.Refuse, Source: "RFC 7515 §5.2",
			Title:   "Tampered payload, original signature",
			Explain: "The payload is changed (sub becomes admin) and the old signature kept. Only a verifier that checks the signature over exactly these bytes notices."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				base, err := e.Token(ctx, rs)
				hdr, sig, c := base.HeaderB64, base.SignatureB64, base.Claims
				if err != nil {
					return nil, err
				}
				c = attack.Clone(c)
				c["sub"], c["scope"] = "admin", "admin "+fmt.Sprint(c["scope"])
				payload, _ := attack.MarshalSegment(c)
				return []attack.Attempt{attack.Bearer("tampered", hdr+"."+payload+"."+sig)}, nil
			})},
		{About: attack.About{ID: "SIG-06", Category: "signature", Severity: attack.Critical, Expect: attack.Refuse, Source: "RFC 7515 §5.2",
			Title:   "Signature stripped",
			Explain: "The token keeps its header (alg still says EdDSA or ES256) but the signature is gone. Decoding is not verifying."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				base, err := e.Token(ctx, rs)
				return []attack.Attempt{attack.Bearer("stripped", base.HeaderB64+"."+base.PayloadB64+".")}, err
			})},
		{About: attack.About{ID: "SIG-07", Category: "signature", Severity: attack.Critical, Expect: attack.Refuse, Source: "RFC 7515 §5.2",
			Title:   "Signature truncated",
			Explain: "Half a signature is not a signature. Verifiers that compare only a prefix, or ignore length, accept it."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				base, err := e.Token(ctx, rs)
				hdr, payload, sig := base.HeaderB64, base.PayloadB64, base.SignatureB64
				if err != nil {
					return nil, err
				}
				// Cut bytes, not characters, so the encoding stays valid and
				// only the signature is wrong.
				raw, err := base64.RawURLEncoding.DecodeString(sig)
				return []attack.Attempt{attack.Bearer("first half of the signature", hdr+"."+payload+"."+attack.B64(raw[:len(raw)/2]))}, err
			})},
		{About: attack.About{ID: "SIG-14", Category: "signature", Severity: attack.Critical, Expect: attack.Refuse, Source: "RFC 7518 §3.4, §3.1; HAProxy jwt_verify (2026)",
			Title:   "Signature of the wrong length: a byte too long, and 16 KiB",
			Explain: "An ES256 signature is 64 bytes, EdDSA's 64, RS256's the modulus size. A verifier that compares only the first bytes accepts a longer one, and one that copies it into a buffer of the expected size without checking (HAProxy's jwt_verify, 2026) writes past it."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				base, err := e.Token(ctx, rs)
				if err != nil {
					return nil, err
				}
				raw, err := base64.RawURLEncoding.DecodeString(base.SignatureB64)
				input := base.HeaderB64 + "." + base.PayloadB64 + "."
				return []attack.Attempt{
					attack.Bearer("signature and one byte more", input+attack.B64(append(raw, 0))),
					attack.Bearer("16 KiB signature", input+attack.B64(append(raw, make([]byte, 16<<10-len(raw))...))),
				}, err
			})},
		{About: attack.About{ID: "SIG-08", Category: "signature", Severity: attack.Critical, Expect: attack.Refuse, Source: "RFC 8725 §3.1; CVE-2016-10555; CVE-2024-54150",
			Title:   "Key confusion: HS256 keyed with the issuer's public key",
			Explain: "The attacker switches alg to HS256 and uses the issuer's PUBLIC key as the HMAC secret. A verifier that lets the header choose the algorithm then verifies with the same public key, and the forgery passes."},
			Run: attack.Requests(keyConfusionAttempts)},
		{About: attack.About{ID: "SIG-09", Category: "signature", Severity: attack.Critical, Expect: attack.Refuse, Source: "CVE-2022-21449",
			Title:   "ECDSA signature with r = s = 0 (psychic signature)",
			Explain: "An ECDSA signature of zeros satisfies the verification equation in implementations that forget to check r and s are in [1, n-1]. It verifies for every message and every key."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				base, err := e.Token(ctx, rs)
				payload, h := base.PayloadB64, base.Header
				if err != nil {
					return nil, err
				}
				k, err := trustedKey(e, ctx, "ES256")
				if err != nil {
					return nil, err
				}
				h = attack.Clone(h)
				h["alg"], h["kid"] = "ES256", k.ID
				hdr, _ := attack.MarshalSegment(h)
				return []attack.Attempt{
					attack.Bearer("r=s=0 (raw)", hdr+"."+payload+"."+attack.B64(make([]byte, 64))),
					attack.Bearer("r=s=0 (DER)", hdr+"."+payload+"."+attack.B64([]byte{0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00})),
				}, nil
			})},
		{About: attack.About{ID: "SIG-10", Category: "signature", Severity: attack.Critical, Expect: attack.Refuse, Source: "RFC 7515 §4.1.4",
			Title:   "Attacker's key, reusing a trusted kid",
			Explain: "kid only selects a key; it proves nothing. The attacker signs with their own key and claims the issuer's kid. The signature must be checked with the trusted key that kid names."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				base, err := e.Token(ctx, rs)
				h, c := base.Header, base.Claims
				if err != nil {
					return nil, err
				}
				attacker, err := e.Attacker(fmt.Sprint(h["alg"]))
				if err != nil {
					return nil, err
				}
				tok, err := attack.Sign(attacker.Signer, attacker.Algorithm, h, c)
				return []attack.Attempt{attack.Bearer("attacker signature, trusted kid", tok)}, err
			})},
		{About: attack.About{ID: "SIG-11", Category: "signature", Severity: attack.Critical, Expect: attack.Refuse, Source: "RFC 8725 §3.1; RFC 7517 §4.4",
			Title:   "alg does not match the key the kid names",
			Explain: "Each key is for one algorithm. A token that names an EdDSA key but says ES256 (signed with another ES256 key) must fail, not be verified under whatever alg it claims."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				base, err := e.Token(ctx, rs)
				h, c := base.Header, base.Claims
				if err != nil {
					return nil, err
				}
				alg := "ES256"
				if h["alg"] == "ES256" {
					alg = "RS256"
				}
				other, err := e.Attacker(alg)
				if err != nil {
					return nil, err
				}
				h = attack.Clone(h)
				h["alg"] = alg
				tok, err := attack.Sign(other.Signer, alg, h, c)
				return []attack.Attempt{attack.Bearer(alg+" header on a "+fmt.Sprint(h["kid"])+" key", tok)}, err
			})},
		{About: attack.About{ID: "SIG-12", Category: "signature", Severity: attack.Critical, Expect: attack.Refuse, Source: "RFC 8725 §3.5; jwt_tool",
			Title:   "HS256 with an empty or guessable secret",
			Explain: "If a verifier accepts HMAC at all, an attacker tries empty and common secrets. Asymmetric-only verifiers refuse HS256 outright."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				base, err := e.Token(ctx, rs)
				h, c := base.Header, base.Claims
				if err != nil {
					return nil, err
				}
				h = attack.Clone(h)
				h["alg"] = "HS256"
				var out []attack.Attempt
				for _, secret := range []string{"", "secret", "changeme"} {
					tok, err := signWithHMAC([]byte(secret), h, c)
					if err != nil {
						return nil, err
					}
					out = append(out, attack.Bearer(fmt.Sprintf("HS256 secret %q", secret), tok))
				}
				return out, nil
			})},
		{About: attack.About{ID: "SIG-13", Category: "signature", Severity: attack.Critical, Expect: attack.Refuse, Source: "RFC 8725 §3.1; RFC 7518 §3.1",
			Title:   "A trusted key's own signature under another key type's alg",
			Explain: "Signed by a trusted key and naming its kid, but alg names an algorithm of another key type (ES256 on an Ed25519 key). A verifier that takes the algorithm from the key, rather than refusing a header that does not match it, never checked alg at all; that is one step from key confusion."},
			Run: attack.Requests(mislabelledKeyAttempts)},
	}
}

func signWithHMAC(secret []byte, h, c map[string]any) (string, error) {
	hdr, err := attack.MarshalSegment(h)
	if err != nil {
		return "", err
	}
	payload, err := attack.MarshalSegment(c)
	if err != nil {
		return "", err
	}
	return attack.SignSegments(secret, "HS256", hdr, payload)
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
func keyConfusionAttempts(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
	base, err := e.Token(ctx, rs)
	h, c := base.Header, base.Claims
	if err != nil {
		return nil, err
	}
	k, err := trustedKey(e, ctx, fmt.Sprint(h["alg"]))
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		return nil, err
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwkJSON, _ := json.Marshal(k)
	h = attack.Clone(h)
	h["alg"], h["kid"] = "HS256", k.ID
	var out []attack.Attempt
	for label, secret := range map[string][]byte{"PEM": pemKey, "PEM without newline": bytes.TrimSpace(pemKey), "DER": der, "JWK JSON": jwkJSON} {
		tok, err := signWithHMAC(secret, h, c)
		if err != nil {
			return nil, err
		}
		out = append(out, attack.Bearer("HS256 with public key as "+label, tok))
	}
	return out, nil
}

// mislabelledKeyAttempts builds SIG-13.
func mislabelledKeyAttempts(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
	if e.Issuer == nil {
		return nil, attack.ErrNeedsTestIssuer
	}
	var out []attack.Attempt
	for _, alg := range testissuer.Algorithms {
		k, _ := e.Keys.Get(testissuer.Primary, alg)
		label := otherKeyTypeAlg(alg)
		h := e.Issuer.Header(rs, k)
		h["alg"] = label
		hdr, _ := attack.MarshalSegment(h)
		payload, _ := attack.MarshalSegment(e.Issuer.Claims(rs, time.Now()))
		tok, err := attack.SignSegments(k.Signer, k.Algorithm, hdr, payload)
		if err != nil {
			return nil, err
		}
		out = append(out, attack.Bearer(fmt.Sprintf("%s key's signature labelled %s", alg, label), tok))
	}
	return out, nil
}
