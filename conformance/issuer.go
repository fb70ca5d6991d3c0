package conformance

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// signingKey is a private key with the kid and alg it signs under.
type signingKey struct {
	kid    string
	alg    string
	signer crypto.Signer
}

func newSigningKey(kid, alg string) (signingKey, error) {
	var s crypto.Signer
	var err error
	switch alg {
	case "EdDSA":
		_, s, err = ed25519.GenerateKey(rand.Reader)
	case "ES256":
		s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256":
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		err = fmt.Errorf("%w: algorithm %q", ErrConfig, alg)
	}
	return signingKey{kid: kid, alg: alg, signer: s}, err
}

func (k signingKey) public() jwk.Key {
	return jwk.Key{ID: k.kid, Algorithm: k.alg, Public: k.signer.Public()}
}

// testIssuer holds the suite's keys. Only primary and rotated (plus an
// ES256 key, so ECDSA attacks always have a target) are in the JWKS the
// servers trust; other and attacker never are.
type testIssuer struct {
	url      string
	primary  signingKey // signs every valid token
	rotated  signingKey // a second trusted key: accepting it is a control
	ecdsa    signingKey // trusted P-256 key
	other    signingKey // another issuer's key, published at /other/jwks.json
	attacker signingKey // the attacker's own key
}

func newTestIssuer(url, alg string) (*testIssuer, error) {
	ti := &testIssuer{url: url}
	var err error
	for _, k := range []struct {
		dst      *signingKey
		kid, alg string
	}{
		{&ti.primary, "suite-primary", alg},
		{&ti.rotated, "suite-rotated", alg},
		{&ti.ecdsa, "suite-p256", "ES256"},
		{&ti.other, "other-issuer-key", alg},
		{&ti.attacker, "attacker-key", alg},
	} {
		if *k.dst, err = newSigningKey(k.kid, k.alg); err != nil {
			return nil, err
		}
	}
	if alg == "ES256" {
		ti.ecdsa = ti.primary
	}
	return ti, nil
}

// documents returns the JSON the issuer's HTTP side serves.
func (ti *testIssuer) documents() issuerDocuments {
	trusted := []jwk.Key{ti.primary.public(), ti.rotated.public()}
	if ti.ecdsa.kid != ti.primary.kid {
		trusted = append(trusted, ti.ecdsa.public())
	}
	enc := func(keys ...jwk.Key) json.RawMessage {
		b, _ := json.Marshal(jwk.Set{Keys: keys})
		return b
	}
	return issuerDocuments{
		Trusted:  enc(trusted...),
		Other:    enc(ti.other.public()),
		Attacker: enc(ti.attacker.public()),
	}
}

// issuerDocuments are the public key sets; they are all the HTTP side needs,
// so it can run in a container of its own.
type issuerDocuments struct {
	Trusted  json.RawMessage `json:"trusted"`
	Other    json.RawMessage `json:"other"`
	Attacker json.RawMessage `json:"attacker"`
}

// hits counts what servers under test fetched from the issuer.
type hits struct {
	JWKS     int      `json:"jwks"`
	Attacker []string `json:"attacker"`
}

// IssuerServer is the test issuer's HTTP side: the trusted JWKS, another
// issuer's JWKS, and attacker URLs (for jku and x5u) that record every
// fetch, because fetching one is already the vulnerability.
type IssuerServer struct {
	docs issuerDocuments
	mu   sync.Mutex
	hits hits
}

// NewIssuerServer serves docs, the JSON written by `conformance keys`.
func NewIssuerServer(docs []byte) (*IssuerServer, error) {
	s := &IssuerServer{}
	if err := json.Unmarshal(docs, &s.docs); err != nil {
		return nil, fmt.Errorf("%w: issuer documents: %w", ErrConfig, err)
	}
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *IssuerServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var body []byte
	switch {
	case r.URL.Path == "/healthz":
		body = []byte(`"ok"`)
	case r.URL.Path == "/jwks.json":
		s.hits.JWKS++
		body = s.docs.Trusted
	case r.URL.Path == "/other/jwks.json":
		body = s.docs.Other
	case strings.HasPrefix(r.URL.Path, "/attacker/"):
		s.hits.Attacker = append(s.hits.Attacker, r.URL.Path)
		body = s.docs.Attacker
	case r.URL.Path == "/hits":
		body, _ = json.Marshal(s.hits)
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// claims builds the claims of a token valid for rs in every respect.
func (ti *testIssuer) claims(rs *ResourceServer, now time.Time) map[string]any {
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
	return map[string]any{"alg": k.alg, "typ": "at+jwt", "kid": k.kid}
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
