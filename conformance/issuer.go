package conformance

import (
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
)

// signingKey is a private key with the kid and alg it signs under.
type signingKey = testissuer.Key

// testIssuer is the suite's issuer as one run against one server sees it:
// the keys of one algorithm. Only primary and rotated (plus a P-256 key, so
// ECDSA attacks always have a target) are in the JWKS the servers trust;
// other and attacker never are.
type testIssuer struct {
	url      string
	primary  signingKey // signs every valid token
	rotated  signingKey // a second trusted key: accepting it is a control
	ecdsa    signingKey // trusted P-256 key
	other    signingKey // another issuer's key, published at /other/jwks.json
	attacker signingKey // the attacker's own key
}

func newTestIssuer(url string, keys *testissuer.Keys, alg string) (*testIssuer, error) {
	ti := &testIssuer{url: url}
	for _, want := range []struct {
		dst       *signingKey
		role, alg string
	}{
		{&ti.primary, testissuer.Primary, alg},
		{&ti.rotated, testissuer.Rotated, alg},
		{&ti.ecdsa, testissuer.Primary, "ES256"},
		{&ti.other, testissuer.Other, alg},
		{&ti.attacker, testissuer.Attacker, alg},
	} {
		var ok bool
		if *want.dst, ok = keys.Get(want.role, want.alg); !ok {
			return nil, fmt.Errorf("%w: the test issuer has no %s key", ErrConfig, want.alg)
		}
	}
	return ti, nil
}

// claims builds the claims of a token valid for rs in every respect.
func (ti *testIssuer) claims(rs *target.ResourceServer, now time.Time) map[string]any {
	c := map[string]any{
		"iss": ti.url, "sub": "conformance-client", "aud": rs.Audience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti": randomID(), "client_id": "conformance-client",
	}
	if rs.Scope != "" {
		c["scope"] = rs.Scope
	}
	return c
}

func (ti *testIssuer) header(k signingKey) map[string]any {
	return map[string]any{"alg": k.Algorithm, "typ": "at+jwt", "kid": k.ID}
}

// sign serialises header and claims and signs them with k under alg.
func sign(k crypto.Signer, alg string, header, claims any) (string, error) {
	h, err := marshalSegment(header)
	if err != nil {
		return "", err
	}
	c, err := marshalSegment(claims)
	if err != nil {
		return "", err
	}
	return signSegments(k, alg, h, c)
}

// signSegments signs already encoded segments, for tokens whose JSON is
// deliberately odd (duplicate members, say).
func signSegments(k any, alg, header, claims string) (string, error) {
	input := header + "." + claims
	sig, err := jwt.GetSigningMethod(alg).Sign(input, k)
	if err != nil {
		return "", fmt.Errorf("conformance: sign %s: %w", alg, err)
	}
	return input + "." + b64(sig), nil
}

// marshalSegment encodes a map, or a string taken as raw JSON.
func marshalSegment(v any) (string, error) {
	if s, ok := v.(string); ok {
		return b64([]byte(s)), nil
	}
	data, err := json.Marshal(v)
	return b64(data), err
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return b64(b[:])
}

// clone copies a header or claims map so a case can change it freely.
func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
