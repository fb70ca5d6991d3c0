// Package jwk encodes and decodes the public JSON Web Keys (RFC 7517) that
// this project publishes and trusts: Ed25519 (OKP), ECDSA P-256 (EC) and RSA.
//
// It deliberately knows nothing about private parameters: Marshal never writes
// them and Parse ignores them, so a JWKS built here can be published as is.
package jwk

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
)

// Algorithms this package pairs with key types. RS256 keys must be at least
// MinRSABits long.
const (
	EdDSA = "EdDSA"
	ES256 = "ES256"
	RS256 = "RS256"
	// PS256 is RSASSA-PSS: an RSA key may be published for it instead of
	// RS256. This project signs with neither by default; the conformance
	// suite's issuer publishes PS256 keys.
	PS256 = "PS256"

	MinRSABits = 2048
)

// ErrUnsupportedKey is returned for key types, curves or sizes this project
// does not accept.
var ErrUnsupportedKey = errors.New("jwk: unsupported key")

// Key is one public verification key with its identifiers.
type Key struct {
	ID        string           // kid
	Algorithm string           // alg: EdDSA, ES256 or RS256
	Public    crypto.PublicKey // ed25519.PublicKey, *ecdsa.PublicKey or *rsa.PublicKey
}

// Set is a JSON Web Key Set.
type Set struct {
	Keys []Key
}

// rawKey is the wire form. Only public members are listed, so marshalling a
// rawKey can never leak a private parameter.
type rawKey struct {
	Kty string `json:"kty"`
	Use string `json:"use,omitempty"`
	// KeyOps is read, never written: a key whose key_ops lacks "verify"
	// must not verify (RFC 7517 §4.3).
	KeyOps []string `json:"key_ops,omitempty"`
	Alg    string   `json:"alg,omitempty"`
	Kid    string   `json:"kid,omitempty"`
	Crv    string   `json:"crv,omitempty"`
	X      string   `json:"x,omitempty"`
	Y      string   `json:"y,omitempty"`
	N      string   `json:"n,omitempty"`
	E      string   `json:"e,omitempty"`
}

// AlgorithmFor returns the JWS algorithm this project uses with pub.
func AlgorithmFor(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return EdDSA, nil
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return ES256, nil
		}
	case *rsa.PublicKey:
		if k.N.BitLen() >= MinRSABits {
			return RS256, nil
		}
	}
	return "", fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
}

// MarshalJSON writes the key with use "sig" and no private parameters.
func (k Key) MarshalJSON() ([]byte, error) {
	raw := rawKey{Use: "sig", Alg: k.Algorithm, Kid: k.ID}
	b64 := base64.RawURLEncoding.EncodeToString
	switch pub := k.Public.(type) {
	case ed25519.PublicKey:
		raw.Kty, raw.Crv, raw.X = "OKP", "Ed25519", b64(pub)
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: curve %s", ErrUnsupportedKey, pub.Curve.Params().Name)
		}
		x, y, err := p256Coordinates(pub)
		if err != nil {
			return nil, err
		}
		raw.Kty, raw.Crv, raw.X, raw.Y = "EC", "P-256", b64(x), b64(y)
	case *rsa.PublicKey:
		raw.Kty, raw.N = "RSA", b64(pub.N.Bytes())
		raw.E = b64(big.NewInt(int64(pub.E)).Bytes())
	default:
		return nil, fmt.Errorf("%w: %T", ErrUnsupportedKey, k.Public)
	}
	return json.Marshal(raw)
}

// UnmarshalJSON reads a public key. Keys whose "use" is not "sig" (or a
// SPIFFE bundle's "jwt-svid"), whose
// parameters do not form a valid key, or whose "alg" does not fit the key
// type are refused, so a Set never holds a key that could verify under the
// wrong algorithm.
func (k *Key) UnmarshalJSON(data []byte) error {
	var raw rawKey
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("jwk: %w", err)
	}
	// "jwt-svid" is a SPIFFE bundle's JWT authority: a signing key too.
	if raw.Use != "" && raw.Use != "sig" && raw.Use != "jwt-svid" {
		return fmt.Errorf("%w: use %q", ErrUnsupportedKey, raw.Use)
	}
	if raw.KeyOps != nil && !slices.Contains(raw.KeyOps, "verify") {
		return fmt.Errorf("%w: key_ops %q lacks verify", ErrUnsupportedKey, raw.KeyOps)
	}
	pub, err := parsePublic(raw)
	if err != nil {
		return err
	}
	alg, err := AlgorithmFor(pub)
	if err != nil {
		return err
	}
	switch {
	case raw.Alg == "" || raw.Alg == alg:
	case raw.Alg == PS256 && alg == RS256: // the other RSA signature scheme
		alg = PS256
	default:
		return fmt.Errorf("%w: alg %q on a %s key", ErrUnsupportedKey, raw.Alg, raw.Kty)
	}
	*k = Key{ID: raw.Kid, Algorithm: alg, Public: pub}
	return nil
}

func parsePublic(raw rawKey) (crypto.PublicKey, error) {
	switch raw.Kty {
	case "OKP":
		return parseOKP(raw)
	case "EC":
		return parseEC(raw)
	case "RSA":
		return parseRSA(raw)
	}
	return nil, fmt.Errorf("%w: kty %q", ErrUnsupportedKey, raw.Kty)
}

var b64Decode = base64.RawURLEncoding.DecodeString

func parseOKP(raw rawKey) (crypto.PublicKey, error) {
	x, err := b64Decode(raw.X)
	if raw.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: bad OKP key", ErrUnsupportedKey)
	}
	return ed25519.PublicKey(x), nil
}

func parseEC(raw rawKey) (crypto.PublicKey, error) {
	x, errX := b64Decode(raw.X)
	y, errY := b64Decode(raw.Y)
	if raw.Crv != "P-256" || errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
		return nil, fmt.Errorf("%w: bad EC key", ErrUnsupportedKey)
	}
	// Rebuild through the uncompressed point encoding so that
	// crypto/ecdsa checks the point is on the curve.
	point := append(append([]byte{4}, x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupportedKey, err)
	}
	return pub, nil
}

func parseRSA(raw rawKey) (crypto.PublicKey, error) {
	n, errN := b64Decode(raw.N)
	e, errE := b64Decode(raw.E)
	if errN != nil || errE != nil || len(e) == 0 || len(e) > 4 {
		return nil, fmt.Errorf("%w: bad RSA key", ErrUnsupportedKey)
	}
	exp := int(new(big.Int).SetBytes(e).Int64())
	if exp < 3 || exp%2 == 0 {
		return nil, fmt.Errorf("%w: bad RSA exponent", ErrUnsupportedKey)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, nil
}

type rawSet struct {
	Keys []json.RawMessage `json:"keys"`
}

// MarshalJSON writes {"keys":[...]}.
func (s Set) MarshalJSON() ([]byte, error) {
	keys := s.Keys
	if keys == nil {
		keys = []Key{}
	}
	return json.Marshal(struct {
		Keys []Key `json:"keys"`
	}{keys})
}

// UnmarshalJSON reads a key set, skipping keys of types this project does not
// use (a JWKS may legitimately hold encryption keys) but never a key without
// a kid: verifiers here select keys by kid only.
func (s *Set) UnmarshalJSON(data []byte) error {
	var raw rawSet
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("jwk: %w", err)
	}
	s.Keys = s.Keys[:0]
	for _, r := range raw.Keys {
		var k Key
		if err := json.Unmarshal(r, &k); err != nil {
			continue
		}
		if k.ID == "" {
			continue
		}
		s.Keys = append(s.Keys, k)
	}
	return nil
}

// p256Coordinates returns a P-256 key's x and y, 32 bytes each, from its
// uncompressed encoding (0x04 || x || y).
func p256Coordinates(pub *ecdsa.PublicKey) (x, y []byte, err error) {
	b, err := pub.Bytes()
	if err != nil || len(b) != 65 {
		return nil, nil, fmt.Errorf("%w: not a P-256 point", ErrUnsupportedKey)
	}
	return b[1:33], b[33:], nil
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of pub, base64url
// encoded. Identity uses it as the kid, so a kid names exactly one key.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	var members string
	b64 := base64.RawURLEncoding.EncodeToString
	switch k := pub.(type) {
	case ed25519.PublicKey:
		members = fmt.Sprintf(`{"crv":"Ed25519","kty":"OKP","x":"%s"}`, b64(k))
	case *ecdsa.PublicKey:
		x, y, err := p256Coordinates(k)
		if err != nil {
			return "", err
		}
		members = fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, b64(x), b64(y))
	case *rsa.PublicKey:
		members = fmt.Sprintf(`{"e":"%s","kty":"RSA","n":"%s"}`,
			b64(big.NewInt(int64(k.E)).Bytes()), b64(k.N.Bytes()))
	default:
		return "", fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
	}
	sum := crypto.SHA256.New()
	sum.Write([]byte(members))
	return b64(sum.Sum(nil)), nil
}

// Generate makes a signing key for alg. EdDSA is the default: deterministic
// signatures (no nonce to get wrong), small keys, and the fastest signing of
// the three; ES256 and RS256 are there for verifiers that lack EdDSA.
func Generate(alg string) (crypto.Signer, error) {
	switch alg {
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		return rsa.GenerateKey(rand.Reader, MinRSABits)
	}
	return nil, fmt.Errorf("%w: algorithm %q", ErrUnsupportedKey, alg)
}
