package authn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// Defaults for Config fields left zero.
const (
	// DefaultLeeway tolerates clock skew between services. It is also how long
	// a stolen token stays usable after its exp, so it is kept small.
	DefaultLeeway = 5 * time.Second
	// MaxLeeway bounds a configured leeway: beyond it "expired" means little.
	MaxLeeway = 30 * time.Second
	// DefaultMaxTokenSize bounds the work an unauthenticated caller can cause.
	DefaultMaxTokenSize = 8 << 10
	// AccessTokenType is the RFC 9068 "typ" of a JWT access token.
	AccessTokenType = "at+jwt"
)

// DefaultAlgorithms are the asymmetric algorithms accepted when
// Config.Algorithms is empty. HS* and "none" can never be enabled: a shared
// secret would let every resource server mint tokens for every other.
var DefaultAlgorithms = []string{jwk.EdDSA, jwk.ES256, jwk.RS256}

// Config configures a Verifier. Its zero value is not usable: Issuer,
// Audience and KeySet are required, so a forgotten setting is a start-up
// error instead of a verifier that accepts anything.
type Config struct {
	// Issuer is the exact "iss" of trusted tokens.
	Issuer string
	// Audience is this service's own identifier; "aud" must contain it exactly.
	Audience string
	// KeySet resolves a "kid" to the issuer's public key.
	KeySet KeySet
	// Algorithms allowed in the "alg" header; DefaultAlgorithms when empty.
	Algorithms []string
	// Leeway for exp, nbf and iat; DefaultLeeway when zero, at most MaxLeeway.
	Leeway time.Duration
	// MaxTokenSize in bytes; DefaultMaxTokenSize when zero.
	MaxTokenSize int
	// SkipTypeCheckInsecure accepts any "typ". Only for RFC 7523 client
	// assertions, which have no registered type; never for access tokens,
	// where it would let an ID token or assertion pass as an access token.
	SkipTypeCheckInsecure bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Validate reports a configuration that would weaken verification.
func (c Config) Validate() error {
	switch {
	case c.Issuer == "":
		return errors.New("authn: config: issuer is required")
	case c.Audience == "":
		return errors.New("authn: config: audience is required")
	case c.KeySet == nil:
		return errors.New("authn: config: key set is required")
	case c.Leeway < 0 || c.Leeway > MaxLeeway:
		return fmt.Errorf("authn: config: leeway %s outside [0, %s]", c.Leeway, MaxLeeway)
	case c.MaxTokenSize < 0:
		return errors.New("authn: config: negative max token size")
	}
	for _, alg := range c.Algorithms {
		if !slices.Contains(DefaultAlgorithms, alg) {
			return fmt.Errorf("authn: config: algorithm %q is not allowed", alg)
		}
	}
	return nil
}

// Claims are the claims of a verified RFC 9068 access token.
type Claims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id,omitempty"`
	Scope    string `json:"scope,omitempty"`
}

// HasScope reports whether the space-separated scope claim holds scope.
func (c *Claims) HasScope(scope string) bool {
	for s := range strings.FieldsSeq(c.Scope) {
		if s == scope {
			return true
		}
	}
	return false
}

// Verifier checks JWT access tokens for one audience from one issuer.
// It is safe for concurrent use.
type Verifier struct {
	cfg        Config
	algorithms []string
	validator  *jwt.Validator
}

// NewVerifier returns a Verifier for cfg, or an error if cfg is incomplete.
func NewVerifier(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.MaxTokenSize == 0 {
		cfg.MaxTokenSize = DefaultMaxTokenSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms
	}
	return &Verifier{
		cfg:        cfg,
		algorithms: algs,
		validator: jwt.NewValidator(
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(cfg.Now),
		),
	}, nil
}

// Audience returns the audience this verifier accepts.
func (v *Verifier) Audience() string { return v.cfg.Audience }

// Leeway returns the effective clock-skew leeway.
func (v *Verifier) Leeway() time.Duration { return v.cfg.Leeway }

type header struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// Header members that make a verifier use a key the token itself names.
var keyReferenceHeaders = []string{"jwk", "jku", "x5u", "x5c"}

var b64 = base64.RawURLEncoding.Strict()

// Verify checks raw and returns its claims. Every check that needs no
// cryptography runs first, so garbage and mis-addressed tokens cost
// microseconds; the single signature verification comes last.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	if len(raw) > v.cfg.MaxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTokenTooLarge, len(raw))
	}
	// Exactly two dots: compact JWS only. Counting is linear and allocation
	// free, unlike splitting a token made of thousands of dots.
	if strings.Count(raw, ".") != 2 {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	headerB64, rest, _ := strings.Cut(raw, ".")
	payloadB64, sigB64, _ := strings.Cut(rest, ".")

	hdr, err := v.parseHeader(headerB64)
	if err != nil {
		return nil, err
	}
	claims, err := v.parseClaims(payloadB64)
	if err != nil {
		return nil, err
	}
	if err := v.validateClaims(claims); err != nil {
		return nil, err
	}

	key, err := v.cfg.KeySet.Key(ctx, hdr.Kid)
	if err != nil {
		return nil, err
	}
	if key.Algorithm != hdr.Alg {
		return nil, fmt.Errorf("%w: %s token, %s key %q", ErrAlgorithmMismatch, hdr.Alg, key.Algorithm, hdr.Kid)
	}
	sig, err := b64.DecodeString(sigB64)
	if err != nil {
		return nil, fmt.Errorf("%w: signature encoding", ErrMalformed)
	}
	method := jwt.GetSigningMethod(hdr.Alg)
	if err := method.Verify(raw[:len(headerB64)+1+len(payloadB64)], sig, key.Public); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	return claims, nil
}

func (v *Verifier) parseHeader(segment string) (*header, error) {
	data, err := b64.DecodeString(segment)
	if err != nil {
		return nil, fmt.Errorf("%w: header encoding", ErrMalformed)
	}
	var seen []string
	err = scanObject(data, []string{"alg", "typ", "kid", "crit"}, func(name string, value json.RawMessage) error {
		seen = append(seen, name)
		if name == "crit" {
			// This verifier understands no JWS extension, so any "crit"
			// names one it would ignore (RFC 7515 §4.1.11).
			return fmt.Errorf("%w: %s", ErrCritical, value)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, name := range keyReferenceHeaders {
		if slices.Contains(seen, name) {
			return nil, fmt.Errorf("%w: %q", ErrEmbeddedKey, name)
		}
	}
	var h header
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	if !slices.Contains(v.algorithms, h.Alg) {
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, h.Alg)
	}
	if !v.cfg.SkipTypeCheckInsecure && !isAccessTokenType(h.Typ) {
		return nil, fmt.Errorf("%w: %q", ErrType, h.Typ)
	}
	if h.Kid == "" {
		return nil, ErrNoKeyID
	}
	return &h, nil
}

// isAccessTokenType accepts "at+jwt" and its full media type, case-insensitively
// as RFC 9068 §2.1 and RFC 7515 §4.1.9 allow.
func isAccessTokenType(typ string) bool {
	typ = strings.ToLower(typ)
	return typ == AccessTokenType || typ == "application/"+AccessTokenType
}

var (
	numericClaims = []string{"exp", "nbf", "iat"}
	stringClaims  = []string{"iss", "sub", "jti", "client_id", "scope"}
)

func (v *Verifier) parseClaims(segment string) (*Claims, error) {
	data, err := b64.DecodeString(segment)
	if err != nil {
		return nil, fmt.Errorf("%w: payload encoding", ErrMalformed)
	}
	known := append(append([]string{"aud"}, numericClaims...), stringClaims...)
	err = scanObject(data, known, func(name string, value json.RawMessage) error {
		// encoding/json would read "exp":"123" as a number; RFC 7519 says
		// NumericDate is a JSON number, so anything else is refused here.
		if slices.Contains(numericClaims, name) && !isJSONNumber(value) {
			return fmt.Errorf("%w: %s is not a number", ErrMalformed, name)
		}
		if slices.Contains(stringClaims, name) && value[0] != '"' {
			return fmt.Errorf("%w: %s is not a string", ErrMalformed, name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var c Claims
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	return &c, nil
}

func isJSONNumber(value json.RawMessage) bool {
	return len(value) > 0 && (value[0] == '-' || (value[0] >= '0' && value[0] <= '9'))
}

// validateClaims maps golang-jwt's findings onto this package's sentinels,
// most fundamental first: whose token it is before when it is valid.
func (v *Verifier) validateClaims(c *Claims) error {
	// golang-jwt reports every missing required claim the same way; name them.
	switch {
	case c.Issuer == "":
		return fmt.Errorf("%w: no iss", ErrIssuer)
	case len(c.Audience) == 0:
		return fmt.Errorf("%w: no aud", ErrAudience)
	case c.ExpiresAt == nil:
		return ErrNoExpiry
	}
	if err := v.validator.Validate(c); err != nil {
		for _, m := range []struct{ lib, ours error }{
			{jwt.ErrTokenInvalidIssuer, ErrIssuer},
			{jwt.ErrTokenInvalidAudience, ErrAudience},
			{jwt.ErrTokenExpired, ErrExpired},
			{jwt.ErrTokenNotValidYet, ErrNotYetValid},
			{jwt.ErrTokenUsedBeforeIssued, ErrIssuedInFuture},
		} {
			if errors.Is(err, m.lib) {
				return fmt.Errorf("%w: %w", m.ours, err)
			}
		}
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if c.Subject == "" {
		return ErrNoSubject
	}
	if c.ID == "" {
		return ErrNoTokenID
	}
	return nil
}

// scanObject walks the members of the JSON object in data, calling visit for
// each. It refuses what encoding/json silently accepts: a member named twice
// (parsers disagree on which one wins, RFC 8725 §3.12) and a known member in
// another letter case (encoding/json would match "ALG" to "alg").
func scanObject(data []byte, known []string, visit func(name string, value json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	seen := make(map[string]struct{}, 12)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		name := t.(string) // object keys are always strings
		folded := strings.ToLower(name)
		if _, dup := seen[folded]; dup {
			return fmt.Errorf("%w: %q", ErrDuplicateMember, name)
		}
		seen[folded] = struct{}{}
		for _, k := range known {
			if folded == k && name != k {
				return fmt.Errorf("%w: %q is not %q", ErrMalformed, name, k)
			}
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if err := visit(name, value); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if dec.More() || dec.InputOffset() != int64(len(bytes.TrimRight(data, " \t\r\n"))) {
		return fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	return nil
}
