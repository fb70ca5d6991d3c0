package authn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	// DefaultMaxLifetime bounds how far ahead exp may lie: a token minted
	// for years by a misconfigured issuer is refused, not kept forever.
	// Twelve times Identity's default lifetime, and Kubernetes' default.
	DefaultMaxLifetime = time.Hour
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
	// Profile is the token format accepted; AccessToken (RFC 9068) when
	// zero.
	Profile Profile
	// Issuer is the exact "iss" of trusted tokens (not checked under
	// JWTSVID, whose key set is the trust domain's).
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
	// MaxLifetime bounds how far after now exp may lie; DefaultMaxLifetime
	// when zero.
	MaxLifetime time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Metrics, if set, counts every decision Authenticate makes with this
	// verifier, by result and reason.
	Metrics *Metrics
	// Status, if set, checks tokens that carry a status list reference
	// (draft-ietf-oauth-status-list): a revoked or suspended one is
	// refused. Without it, status claims are not read.
	Status *StatusLists
	// Actors are the parties this service accepts acting for a token's sub
	// (act.sub, RFC 8693 token exchange). A delegated token whose current
	// actor is not listed is refused; with none listed, every delegated
	// token is: a service takes delegation only where it says so.
	Actors []string
}

// Validate reports a configuration that would weaken verification.
func (c Config) Validate() error {
	p := c.Profile.orDefault()
	switch {
	case c.Issuer == "" && p.issuer:
		return errors.New("authn: config: issuer is required")
	case c.Audience == "":
		return errors.New("authn: config: audience is required")
	case c.KeySet == nil:
		return errors.New("authn: config: key set is required")
	case c.Leeway < 0 || c.Leeway > MaxLeeway:
		return fmt.Errorf("authn: config: leeway %s outside [0, %s]", c.Leeway, MaxLeeway)
	case c.MaxTokenSize < 0 || c.MaxLifetime < 0:
		return errors.New("authn: config: negative max token size or lifetime")
	}
	for _, alg := range c.Algorithms {
		if !slices.Contains(DefaultAlgorithms, alg) || p.algorithms != nil && !slices.Contains(p.algorithms, alg) {
			return fmt.Errorf("authn: config: algorithm %q is not allowed (profile %s)", alg, p.name)
		}
	}
	return nil
}

// Claims are the claims of a verified RFC 9068 access token.
type Claims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id,omitempty"`
	Scope    string `json:"scope,omitempty"`
	// Confirmation binds the token to a key (RFC 9449 §6): a token with a
	// jkt works only with a DPoP proof signed by that key.
	Confirmation Confirmation `json:"cnf,omitzero"`
	// Actor is who acts for Subject in a token issued by token exchange
	// (RFC 8693 §4.1); nil when the subject is calling for itself.
	Actor *Actor `json:"act,omitempty"`
	// Status is the token's status list entry, if it has one.
	Status *StatusRef `json:"-"`
}

// Confirmation is the cnf claim: the SHA-256 thumbprint of the key a
// DPoP-bound token is bound to, or the key itself in a WIT.
type Confirmation struct {
	JKT string          `json:"jkt,omitempty"`
	JWK json.RawMessage `json:"jwk,omitempty"`
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

// Verifier checks tokens of one profile for one audience from one issuer.
// It is safe for concurrent use.
type Verifier struct {
	cfg        Config
	profile    Profile
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
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = DefaultMaxLifetime
	}
	p := cfg.Profile.orDefault()
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = slices.DeleteFunc(slices.Clone(DefaultAlgorithms), func(alg string) bool {
			return p.algorithms != nil && !slices.Contains(p.algorithms, alg)
		})
	}
	opts := []jwt.ParserOption{
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
	}
	if p.issuer {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if !p.noAudience {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &Verifier{cfg: cfg, profile: p, algorithms: algs, validator: jwt.NewValidator(opts...)}, nil
}

// Ready reports whether the verifier can accept tokens: its key set, if it
// can tell (RemoteKeySet), holds the issuer's keys.
func (v *Verifier) Ready(ctx context.Context) error {
	if r, ok := v.cfg.KeySet.(interface{ Ready(context.Context) error }); ok {
		return r.Ready(ctx)
	}
	return nil
}

// CountRefusal counts a refusal made after authentication, by a service
// that checks single use in its own transaction (Notification): its
// request counts as accepted by Authenticate and then as refused, under
// err's reason, so replays show as token_replayed wherever they are caught.
func (v *Verifier) CountRefusal(err error) {
	if m := v.cfg.Metrics; m != nil {
		m.validations.WithLabelValues("refused", Reason(err)).Inc()
	}
}

// Audience returns the audience this verifier accepts.
func (v *Verifier) Audience() string { return v.cfg.Audience }

// Leeway returns the effective clock-skew leeway.
func (v *Verifier) Leeway() time.Duration { return v.cfg.Leeway }

type header struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
	// other is the first member that is not alg, typ or kid, if any.
	other string
}

var b64 = base64.RawURLEncoding.Strict()

// Token is a compact JWS split and decoded by Parse: nothing in it is
// verified yet.
type Token struct {
	raw          string
	header       header
	claims       *Claims
	signingInput string
	signature    string // base64url
}

// UnverifiedClaims are the token's claims before any check: fit to pick
// which verifier to use, never to trust.
func (t *Token) UnverifiedClaims() Claims { return *t.claims }

// Parse splits raw (at most DefaultMaxTokenSize bytes) and decodes its
// header and claims, refusing what no verifier accepts: other forms than
// compact JWS, malformed JSON, duplicate or mistyped members, "crit" and
// embedded keys. It checks no signature.
func Parse(raw string) (*Token, error) { return parse(raw, DefaultMaxTokenSize) }

func parse(raw string, maxSize int) (*Token, error) {
	if len(raw) > maxSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTokenTooLarge, len(raw))
	}
	// Exactly two dots: compact JWS only. Counting is linear and allocation
	// free, unlike splitting a token made of thousands of dots.
	if strings.Count(raw, ".") != 2 {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	headerB64, rest, _ := strings.Cut(raw, ".")
	payloadB64, sigB64, _ := strings.Cut(rest, ".")
	t := &Token{raw: raw, signingInput: raw[:len(headerB64)+1+len(payloadB64)], signature: sigB64}
	if err := parseHeader(headerB64, &t.header); err != nil {
		return nil, err
	}
	var err error
	if t.claims, err = parseClaims(payloadB64); err != nil {
		return nil, err
	}
	return t, nil
}

// Verify checks raw and returns its claims. Every check that needs no
// cryptography runs first, so garbage and mis-addressed tokens cost
// microseconds; the single signature verification comes last.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	t, err := parse(raw, v.cfg.MaxTokenSize)
	if err != nil {
		return nil, err
	}
	return v.VerifyParsed(ctx, t)
}

// VerifyParsed is Verify for a token already parsed (by Parse, to read its
// claims first). The claims it returns are the verified ones.
func (v *Verifier) VerifyParsed(ctx context.Context, t *Token) (*Claims, error) {
	if len(t.raw) > v.cfg.MaxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTokenTooLarge, len(t.raw))
	}
	hdr := t.header
	if !slices.Contains(v.algorithms, hdr.Alg) {
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, hdr.Alg)
	}
	if !v.profile.typeOK(hdr.Typ) {
		return nil, fmt.Errorf("%w: %q (profile %s)", ErrType, hdr.Typ, v.profile.name)
	}
	if v.profile.closedHeader && hdr.other != "" {
		return nil, fmt.Errorf("%w: %q (profile %s)", ErrHeaderParameter, hdr.other, v.profile.name)
	}
	if hdr.Kid == "" {
		return nil, ErrNoKeyID
	}
	if err := v.validateClaims(t.claims); err != nil {
		return nil, err
	}

	key, err := v.cfg.KeySet.Key(ctx, hdr.Kid)
	if err != nil {
		return nil, err
	}
	if key.Algorithm != hdr.Alg {
		return nil, fmt.Errorf("%w: %s token, %s key %q", ErrAlgorithmMismatch, hdr.Alg, key.Algorithm, hdr.Kid)
	}
	sig, err := b64.DecodeString(t.signature)
	if err != nil {
		return nil, fmt.Errorf("%w: signature encoding", ErrMalformed)
	}
	method := jwt.GetSigningMethod(hdr.Alg)
	if err := method.Verify(t.signingInput, sig, key.Public); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	// Last: only a token its issuer signed may make this service fetch.
	if v.cfg.Status != nil && t.claims.Status != nil {
		if err := v.cfg.Status.Check(ctx, *t.claims.Status); err != nil {
			return nil, err
		}
	}
	return t.claims, nil
}

func parseHeader(segment string, h *header) error {
	data, err := decodeSegment(segment)
	if err != nil {
		return err
	}
	return scanObject(data, []string{"alg", "typ", "kid", "crit"}, func(name string, value []byte) (err error) {
		switch name {
		case "alg":
			h.Alg, err = jsonString(name, value)
		case "typ":
			h.Typ, err = jsonString(name, value)
		case "kid":
			h.Kid, err = jsonString(name, value)
		case "crit":
			// This verifier understands no JWS extension, so any "crit"
			// names one it would ignore (RFC 7515 §4.1.11).
			return fmt.Errorf("%w: %s", ErrCritical, value)
		case "jwk", "jku", "x5u", "x5c":
			return fmt.Errorf("%w: %q", ErrEmbeddedKey, name)
		default:
			if h.other == "" {
				h.other = name
			}
		}
		return err
	})
}

// decodeSegment base64url-decodes a segment (no padding, no stray bits) and
// checks it is valid JSON.
func decodeSegment(segment string) ([]byte, error) {
	data, err := b64.DecodeString(segment)
	if err != nil {
		return nil, fmt.Errorf("%w: segment encoding", ErrMalformed)
	}
	// RFC 8259 §8.1: JSON between systems is UTF-8. The member scan reads
	// strings raw, where encoding/json would turn bad bytes into U+FFFD:
	// refused, no reader can take a claim for something it is not.
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: segment is not UTF-8", ErrMalformed)
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("%w: segment is not JSON", ErrMalformed)
	}
	return data, nil
}

// isAccessTokenType accepts "at+jwt" and its full media type, case-insensitively
// as RFC 9068 §2.1 and RFC 7515 §4.1.9 allow.
func isAccessTokenType(typ string) bool {
	typ = strings.ToLower(typ)
	return typ == AccessTokenType || typ == "application/"+AccessTokenType
}

var claimNames = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope", "cnf", "act", "status"}

// parseClaims reads the claims this verifier checks, straight from the
// member scan: encoding/json would be three times slower here, and would
// read "exp":"123" as a number where RFC 7519 requires a JSON number.
func parseClaims(segment string) (*Claims, error) {
	data, err := decodeSegment(segment)
	if err != nil {
		return nil, err
	}
	var c Claims
	err = scanObject(data, claimNames, func(name string, value []byte) (err error) {
		switch name {
		case "iss":
			c.Issuer, err = jsonString(name, value)
		case "sub":
			c.Subject, err = jsonString(name, value)
		case "jti":
			c.ID, err = jsonString(name, value)
		case "client_id":
			c.ClientID, err = jsonString(name, value)
		case "scope":
			c.Scope, err = jsonString(name, value)
		case "aud":
			c.Audience, err = audience(value)
		case "exp":
			c.ExpiresAt, err = numericDate(name, value)
		case "nbf":
			c.NotBefore, err = numericDate(name, value)
		case "iat":
			c.IssuedAt, err = numericDate(name, value)
		case "cnf":
			c.Confirmation, err = confirmation(value)
		case "act":
			c.Actor, err = actor(value, 1)
		case "status":
			c.Status, err = statusRef(value)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// confirmation reads cnf, refusing duplicate members inside it too.
func confirmation(value []byte) (Confirmation, error) {
	var c Confirmation
	if value[0] != '{' {
		return c, fmt.Errorf("%w: cnf is not an object", ErrMalformed)
	}
	err := scanObject(value, []string{"jkt", "jwk"}, func(name string, v []byte) (err error) {
		switch name {
		case "jkt":
			c.JKT, err = jsonString(name, v)
		case "jwk":
			if v[0] != '{' {
				return fmt.Errorf("%w: cnf.jwk is not an object", ErrMalformed)
			}
			c.JWK = slices.Clone(v)
		}
		return err
	})
	return c, err
}

func jsonString(name string, value []byte) (string, error) {
	if value[0] != '"' {
		return "", fmt.Errorf("%w: %s is not a string", ErrMalformed, name)
	}
	if !bytes.ContainsRune(value, '\\') {
		return string(value[1 : len(value)-1]), nil
	}
	var s string
	if err := json.Unmarshal(value, &s); err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrMalformed, name, err)
	}
	return s, nil
}

// audience reads "aud": one string or an array of strings (RFC 7519 §4.1.3).
func audience(value []byte) (jwt.ClaimStrings, error) {
	switch value[0] {
	case '"':
		s, err := jsonString("aud", value)
		return jwt.ClaimStrings{s}, err
	case '[':
		var list []string
		if err := json.Unmarshal(value, &list); err != nil {
			return nil, fmt.Errorf("%w: aud: %w", ErrMalformed, err)
		}
		return list, nil
	}
	return nil, fmt.Errorf("%w: aud is neither a string nor an array", ErrMalformed)
}

func numericDate(name string, value []byte) (*jwt.NumericDate, error) {
	if value[0] != '-' && (value[0] < '0' || value[0] > '9') {
		return nil, fmt.Errorf("%w: %s is not a number", ErrMalformed, name)
	}
	f, err := strconv.ParseFloat(string(value), 64)
	if err != nil || math.IsInf(f, 0) || math.Abs(f) > 1<<52 {
		return nil, fmt.Errorf("%w: %s is not a usable number", ErrMalformed, name)
	}
	sec, frac := math.Modf(f)
	return jwt.NewNumericDate(time.Unix(int64(sec), int64(frac*1e9))), nil
}

// validateClaims maps golang-jwt's findings onto this package's sentinels,
// most fundamental first: whose token it is before when it is valid.
func (v *Verifier) validateClaims(c *Claims) error {
	// golang-jwt reports every missing required claim the same way; name them.
	p := v.profile
	switch {
	case c.Issuer == "" && p.issuer:
		return fmt.Errorf("%w: no iss", ErrIssuer)
	case len(c.Audience) == 0 && !p.noAudience:
		return fmt.Errorf("%w: no aud", ErrAudience)
	case len(c.Audience) > 1 && p.oneAudience:
		return fmt.Errorf("%w: %d audiences (profile %s takes one)", ErrAudience, len(c.Audience), p.name)
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
	if limit := v.cfg.Now().Add(v.cfg.MaxLifetime + v.cfg.Leeway); c.ExpiresAt.After(limit) {
		return fmt.Errorf("%w: exp %s, more than %s ahead", ErrLifetime, c.ExpiresAt.UTC().Format(time.RFC3339), v.cfg.MaxLifetime)
	}
	if err := v.profile.checkIdentity(c); err != nil {
		return err
	}
	return v.checkActor(c)
}
