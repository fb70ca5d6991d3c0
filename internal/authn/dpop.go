package authn

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// DPoP (RFC 9449): a token bound to a key (its cnf.jkt) is usable only
// with a proof, signed by that key, made for the very request that carries
// it. A copied token is useless without the key, even at its own audience.
const (
	// DPoPProofType is the typ of a DPoP proof.
	DPoPProofType = "dpop+jwt"
	// DPoPMaxAge bounds how old a proof may be; with the leeway, it is also
	// how long a proof's jti is remembered.
	DPoPMaxAge = time.Minute
	// maxProofJTI bounds the jti a proof may carry into the replay store.
	maxProofJTI = 256
)

// DPoPRequest is what a proof must match: the request that carries it.
type DPoPRequest struct {
	Proof       string   // the DPoP header
	Method      string   // the request's method
	URL         *url.URL // the request's absolute URL, as the client addressed it
	AccessToken string   // the token the request presents
}

// privateMembers are JWK members that only a private or symmetric key has.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// VerifyDPoP checks a proof for claims' token: every check of
// ProofChecker.Check, with ath required, and the proof key's thumbprint
// equal to the token's cnf.jkt. replay makes each proof single-use.
func (v *Verifier) VerifyDPoP(ctx context.Context, claims *Claims, r DPoPRequest, replay ReplayGuard) error {
	if claims.Confirmation.JKT == "" {
		return fmt.Errorf("%w: the token is not bound to a key (no cnf.jkt)", ErrDPoPProof)
	}
	if r.AccessToken == "" {
		return fmt.Errorf("%w: no access token to bind the proof to", ErrDPoPProof)
	}
	checker := ProofChecker{Replay: replay, Algorithms: v.algorithms, Leeway: v.cfg.Leeway, Now: v.cfg.Now, MaxSize: v.cfg.MaxTokenSize}
	_, _, err := checker.check(ctx, r, func(jkt string) error {
		if jkt != claims.Confirmation.JKT {
			return fmt.Errorf("%w: proof key %s, token bound to %s", ErrDPoPBinding, jkt, claims.Confirmation.JKT)
		}
		return nil
	})
	return err
}

// ProofChecker checks DPoP proofs where no token is bound yet (a token
// endpoint) and for Verifier.VerifyDPoP. Zero fields take the verifier's
// defaults; Replay is required.
type ProofChecker struct {
	Replay     ReplayGuard
	Algorithms []string
	Leeway     time.Duration
	Now        func() time.Time
	MaxSize    int
	// Nonce, if set, must accept the proof's nonce claim (RFC 9449 §8);
	// a proof without one, or with a stale one, fails with ErrDPoPNonce.
	Nonce func(nonce string) bool
}

// Check verifies proof per RFC 9449 §4.3 and returns its key's RFC 7638
// thumbprint (the jkt to bind a token to): typ dpop+jwt; an allowed
// asymmetric alg; a public jwk of that algorithm; a valid signature by it;
// htm and htu matching the request (query and fragment ignored, scheme and
// host compared normalised); iat within DPoPMaxAge in the past and the
// leeway in the future; a single-use jti; and, when r.AccessToken is set,
// ath its SHA-256.
func (p ProofChecker) Check(ctx context.Context, r DPoPRequest) (jkt string, err error) {
	_, jkt, err = p.check(ctx, r, nil)
	return jkt, err
}

// ProvenKey is Check returning the proof's key itself, with its alg: the
// key an issuer binds a credential to by value (a WIT's cnf.jwk).
func (p ProofChecker) ProvenKey(ctx context.Context, r DPoPRequest) (jwk.Key, error) {
	key, _, err := p.check(ctx, r, nil)
	return key, err
}

// check is Check with bind, run on the key's thumbprint before the jti is
// spent, so a proof for another key does not use up its jti.
func (p ProofChecker) check(ctx context.Context, r DPoPRequest, bind func(jkt string) error) (jwk.Key, string, error) {
	var none jwk.Key
	if p.Replay == nil {
		return none, "", fmt.Errorf("%w: no replay store", errUnavailable)
	}
	p = p.withDefaults()
	if len(r.Proof) > p.MaxSize || strings.Count(r.Proof, ".") != 2 {
		return none, "", fmt.Errorf("%w: not a compact JWS of at most %d bytes", ErrDPoPProof, p.MaxSize)
	}
	headerB64, rest, _ := strings.Cut(r.Proof, ".")
	payloadB64, sigB64, _ := strings.Cut(rest, ".")

	alg, key, err := proofHeader(headerB64, p.Algorithms)
	if err != nil {
		return none, "", err
	}
	pc, err := proofClaims(payloadB64)
	if err != nil {
		return none, "", err
	}
	if err := p.matches(pc, r); err != nil {
		return none, "", err
	}
	sig, err := b64.DecodeString(sigB64)
	if err != nil {
		return none, "", fmt.Errorf("%w: signature encoding", ErrDPoPProof)
	}
	if err := jwt.GetSigningMethod(alg).Verify(r.Proof[:len(headerB64)+1+len(payloadB64)], sig, key.Public); err != nil {
		return none, "", fmt.Errorf("%w: signature: %w", ErrDPoPProof, err)
	}
	jkt, err := jwk.Thumbprint(key.Public)
	if err != nil {
		return none, "", fmt.Errorf("%w: %w", ErrDPoPProof, err)
	}
	if bind != nil {
		if err := bind(jkt); err != nil {
			return none, "", err
		}
	}
	if err := p.spend(ctx, jkt, pc); err != nil {
		return none, "", err
	}
	return key, jkt, nil
}

func (p ProofChecker) withDefaults() ProofChecker {
	if len(p.Algorithms) == 0 {
		p.Algorithms = DefaultAlgorithms
	}
	if p.Leeway == 0 {
		p.Leeway = DefaultLeeway
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.MaxSize == 0 {
		p.MaxSize = DefaultMaxTokenSize
	}
	return p
}

// matches checks the proof's claims against the request it came with.
func (p ProofChecker) matches(pc proof, r DPoPRequest) error {
	now := p.Now()
	switch {
	case pc.htm != r.Method:
		return fmt.Errorf("%w: htm %q, request %s", ErrDPoPProof, pc.htm, r.Method)
	case !sameResource(pc.htu, r.URL):
		return fmt.Errorf("%w: htu %q is not this request's URL %v", ErrDPoPProof, pc.htu, r.URL)
	case pc.iat == nil || pc.iat.After(now.Add(p.Leeway)) || pc.iat.Before(now.Add(-DPoPMaxAge-p.Leeway)):
		return fmt.Errorf("%w: iat outside [now-%s, now+%s]", ErrDPoPProof, DPoPMaxAge, p.Leeway)
	case pc.jti == "" || len(pc.jti) > maxProofJTI:
		return fmt.Errorf("%w: jti missing or longer than %d bytes", ErrDPoPProof, maxProofJTI)
	case r.AccessToken != "" && pc.ath != accessTokenHash(r.AccessToken):
		return fmt.Errorf("%w: ath is not the hash of the presented token", ErrDPoPProof)
	case p.Nonce != nil && !p.Nonce(pc.nonce):
		return fmt.Errorf("%w: nonce missing or stale", ErrDPoPNonce)
	}
	return nil
}

// spend uses the proof's jti, per key, so a proof works once.
func (p ProofChecker) spend(ctx context.Context, jkt string, pc proof) error {
	first, err := p.Replay.Use(ctx, "dpop:"+jkt+":"+pc.jti, pc.iat.Add(DPoPMaxAge+2*p.Leeway))
	if err != nil {
		return fmt.Errorf("%w: %w", errUnavailable, err)
	}
	if !first {
		return fmt.Errorf("%w: jti %s", ErrDPoPReplayed, pc.jti)
	}
	return nil
}

// proofHeader reads a proof's header: its alg and the public key it carries.
func proofHeader(segment string, algorithms []string) (alg string, key jwk.Key, err error) {
	data, err := decodeSegment(segment)
	if err != nil {
		return "", key, fmt.Errorf("%w: %w", ErrDPoPProof, err)
	}
	var typ string
	var rawKey []byte
	err = scanObject(data, []string{"typ", "alg", "jwk"}, func(name string, value []byte) (err error) {
		switch name {
		case "typ":
			typ, err = jsonString(name, value)
		case "alg":
			alg, err = jsonString(name, value)
		case "jwk":
			rawKey = value
		case "crit":
			return fmt.Errorf("%w: %s", ErrCritical, value)
		}
		return err
	})
	switch {
	case err != nil:
		return "", key, fmt.Errorf("%w: %w", ErrDPoPProof, err)
	case !strings.EqualFold(typ, DPoPProofType):
		return "", key, fmt.Errorf("%w: typ %q", ErrDPoPProof, typ)
	case !slices.Contains(algorithms, alg):
		return "", key, fmt.Errorf("%w: alg %q", ErrDPoPProof, alg)
	case rawKey == nil:
		return "", key, fmt.Errorf("%w: no jwk", ErrDPoPProof)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(rawKey, &members); err != nil {
		return "", key, fmt.Errorf("%w: jwk: %w", ErrDPoPProof, err)
	}
	for _, m := range privateMembers {
		if _, ok := members[m]; ok {
			return "", key, fmt.Errorf("%w: jwk holds private member %q", ErrDPoPProof, m)
		}
	}
	if err := json.Unmarshal(rawKey, &key); err != nil {
		return "", key, fmt.Errorf("%w: jwk: %w", ErrDPoPProof, err)
	}
	if key.Algorithm != alg {
		return "", key, fmt.Errorf("%w: alg %s with a %s key", ErrDPoPProof, alg, key.Algorithm)
	}
	return alg, key, nil
}

type proof struct {
	htm, htu, jti, ath, nonce string
	iat                       *jwt.NumericDate
}

func proofClaims(segment string) (proof, error) {
	var p proof
	data, err := decodeSegment(segment)
	if err != nil {
		return p, fmt.Errorf("%w: %w", ErrDPoPProof, err)
	}
	err = scanObject(data, []string{"htm", "htu", "jti", "ath", "iat", "nonce"}, func(name string, value []byte) (err error) {
		switch name {
		case "nonce":
			p.nonce, err = jsonString(name, value)
		case "htm":
			p.htm, err = jsonString(name, value)
		case "htu":
			p.htu, err = jsonString(name, value)
		case "jti":
			p.jti, err = jsonString(name, value)
		case "ath":
			p.ath, err = jsonString(name, value)
		case "iat":
			p.iat, err = numericDate(name, value)
		}
		return err
	})
	if err != nil {
		return p, fmt.Errorf("%w: %w", ErrDPoPProof, err)
	}
	return p, nil
}

// sameResource compares htu with the request URL as RFC 9449 §4.3 asks:
// scheme and host case-insensitively, default ports dropped, path exactly,
// query and fragment ignored.
func sameResource(htu string, req *url.URL) bool {
	u, err := url.Parse(htu)
	return err == nil && sameParsedResource(u, req)
}

// sameParsedResource is sameResource for a URL already parsed.
func sameParsedResource(u, req *url.URL) bool {
	if req == nil || !u.IsAbs() {
		return false
	}
	path := func(p string) string {
		if p == "" {
			return "/"
		}
		return p
	}
	return strings.EqualFold(u.Scheme, req.Scheme) && hostPort(u) == hostPort(req) && path(u.EscapedPath()) == path(req.EscapedPath())
}

func hostPort(u *url.URL) string {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" || (port == "80" && strings.EqualFold(u.Scheme, "http")) || (port == "443" && strings.EqualFold(u.Scheme, "https")) {
		return host
	}
	return host + ":" + port
}

// accessTokenHash is a proof's ath for token (RFC 9449 §4.2).
func accessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return b64.EncodeToString(sum[:])
}
