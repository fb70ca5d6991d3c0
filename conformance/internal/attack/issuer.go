package attack

import (
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
)

// SigningKey is a private key with the kid and alg it signs under.
type SigningKey = testissuer.Key

// Issuer is the suite's issuer as one run against one server sees it:
// the keys of one algorithm. Only Primary and Rotated (plus a P-256 key, so
// ECDSA attacks always have a target) are in the JWKS the servers trust;
// Other and Attacker never are.
type Issuer struct {
	URL      string
	Primary  SigningKey // signs every valid token
	Rotated  SigningKey // a second trusted key: accepting it is a control
	ECDSA    SigningKey // trusted P-256 key
	Other    SigningKey // another issuer's key, published at /other/jwks.json
	Attacker SigningKey // the attacker's own key
}

func newIssuer(url string, keys *testissuer.Keys, alg string) (*Issuer, error) {
	ti := &Issuer{URL: url}
	for _, want := range []struct {
		dst       *SigningKey
		role, alg string
	}{
		{&ti.Primary, testissuer.Primary, alg},
		{&ti.Rotated, testissuer.Rotated, alg},
		{&ti.ECDSA, testissuer.Primary, "ES256"},
		{&ti.Other, testissuer.Other, alg},
		{&ti.Attacker, testissuer.Attacker, alg},
	} {
		var ok bool
		if *want.dst, ok = keys.Get(want.role, want.alg); !ok {
			return nil, fmt.Errorf("the test issuer has no %s key", want.alg)
		}
	}
	return ti, nil
}

// Sign serialises header and claims and signs them with k under alg.
func Sign(k crypto.Signer, alg string, header, claims any) (string, error) {
	h, err := MarshalSegment(header)
	if err != nil {
		return "", err
	}
	c, err := MarshalSegment(claims)
	if err != nil {
		return "", err
	}
	return SignSegments(k, alg, h, c)
}

// SignSegments signs already encoded segments, for tokens whose JSON is
// deliberately odd (duplicate members, say).
func SignSegments(k any, alg, header, claims string) (string, error) {
	input := header + "." + claims
	sig, err := jwt.GetSigningMethod(alg).Sign(input, k)
	if err != nil {
		return "", fmt.Errorf("conformance: sign %s: %w", alg, err)
	}
	return input + "." + B64(sig), nil
}

// MarshalSegment encodes a map, or a string taken as raw JSON.
func MarshalSegment(v any) (string, error) {
	if s, ok := v.(string); ok {
		return B64([]byte(s)), nil
	}
	data, err := json.Marshal(v)
	return B64(data), err
}

func B64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func RandomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return B64(b[:])
}

// Clone copies a header or claims map so a case can change it freely.
func Clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
