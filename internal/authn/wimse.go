package authn

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// WIMSE splits a workload's credentials in two (the drafts followed are
// named in docs/contract.md, so a later one is a visible change):
//
//   - a Workload Identity Token (WIT, draft-ietf-wimse-workload-creds-02)
//     says who the caller is and which key it holds (cnf.jwk); it is never
//     a bearer token;
//   - a Workload Proof Token (WPT, draft-ietf-wimse-wpt-01), signed by that
//     key for each request, says which service the request is for (aud,
//     its target URI), now, once.
//
// A copied WIT is useless without the key; a copied WPT is useless at any
// other URI, after its few seconds, and a second time.
const (
	// WITType and WPTType are the typ of each token.
	WITType = "wit+jwt"
	WPTType = "wpt+jwt"
	// WITHeader and WPTHeader are the request headers that carry them.
	WITHeader = "Workload-Identity-Token"
	WPTHeader = "Workload-Proof-Token"
	// WPTMaxLifetime bounds how far ahead a WPT's exp may lie: a proof is
	// for one request, so it lives seconds (draft-ietf-wimse-wpt-01 asks
	// for a short exp without a number; this is ours).
	WPTMaxLifetime = time.Minute
)

// WIMSE errors. Each is answered 400 with RFC 9457 problem details, as
// draft-ietf-wimse-wpt-01 asks, except ErrWITAsBearer, which came as a
// bearer token and is answered as one (RFC 6750).
var (
	ErrWIT           = errors.New("authn: invalid workload identity token")
	ErrWPT           = errors.New("authn: invalid workload proof token")
	ErrNoWPT         = errors.New("authn: workload identity token without a proof token")
	ErrWPTReplayed   = errors.New("authn: workload proof token already used")
	ErrWPTAudience   = errors.New("authn: workload proof token for another target")
	ErrWIMSERequired = errors.New("authn: this service accepts WIMSE workload credentials only")
	ErrWITAsBearer   = errors.New("authn: workload identity token presented as a bearer token")
	ErrWorkload      = errors.New("authn: access token is not the workload's")
)

// WorkloadIdentity is the profile of a WIT in trustDomain: typ wit+jwt; iss
// the trusted issuer (the drafts make iss optional; a verifier with one
// trusted issuer requires it); sub a workload URI in trustDomain
// (wimse://trustDomain/path, or a SPIFFE ID of it); no aud, since the WPT
// names the target; cnf.jwk is checked by the middleware.
func WorkloadIdentity(trustDomain string) (Profile, error) {
	if !spiffeTrustDomain.MatchString(trustDomain) {
		return Profile{}, fmt.Errorf("authn: %q is not a trust domain (lower-case letters, digits, '.', '-', '_')", trustDomain)
	}
	return Profile{
		name:       "wimse-wit",
		typeOK:     func(typ string) bool { return strings.EqualFold(typ, WITType) },
		issuer:     true,
		subject:    func(sub string) error { return workloadIn(trustDomain, sub) },
		noAudience: true,
	}, nil
}

// workloadIn accepts sub if it is a workload identifier of td: a SPIFFE ID,
// or the same shape under the wimse scheme.
func workloadIn(td, sub string) error {
	if rest, ok := strings.CutPrefix(sub, "wimse://"); ok {
		sub = "spiffe://" + rest
	}
	return spiffeIDIn(td, sub)
}

// workloadPath is what follows the trust domain in a workload URI, without
// its leading slash: the registry name an access token calls it by.
func workloadPath(sub string) string {
	_, rest, _ := strings.Cut(sub, "://")
	_, path, _ := strings.Cut(rest, "/")
	return path
}

// WIMSEConfig configures WithWIMSE.
type WIMSEConfig struct {
	// Replay makes each WPT single-use; required.
	Replay ReplayGuard
	// Required refuses requests without a WIT and its WPT.
	Required bool
	// BaseURL is this service as its clients address it: a WPT's aud must
	// name it. Required, as DPoPConfig.BaseURL.
	BaseURL *url.URL
	// TrustDomain is the trust domain whose workloads are accepted.
	TrustDomain string
}

// WithWIMSE accepts WIMSE workload credentials: a Workload-Identity-Token
// and its Workload-Proof-Token, with or without an access token. Without
// it, the two headers are ignored. Authenticate panics if cfg has no
// BaseURL, Replay or valid TrustDomain.
func WithWIMSE(cfg WIMSEConfig) Option { return func(m *middleware) { m.wimse = &cfg } }

// workloadChecker verifies WITs (with the one verifier's rules, under the
// WorkloadIdentity profile) and their WPTs.
type workloadChecker struct {
	cfg  WIMSEConfig
	wit  *Verifier
	seen witCache
}

// WIT verification cache: a workload sends the same WIT on every request
// for half an hour, so its verification is kept, by the WIT's SHA-256 (the
// wth its proofs carry anyway), for at most witCacheAge: a key withdrawn
// from the issuer's JWKS stops its WITs within that. Only verified WITs
// enter, at most witCacheSize of them.
const (
	witCacheAge  = time.Minute
	witCacheSize = 4096
)

type witCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]cachedWIT
}

type cachedWIT struct {
	workload Workload
	until    time.Time
}

func (c *witCache) get(sum [sha256.Size]byte, now time.Time) (Workload, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[sum]
	if !ok || !now.Before(e.until) {
		return Workload{}, false
	}
	return e.workload, true
}

func (c *witCache) put(sum [sha256.Size]byte, w Workload, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[[sha256.Size]byte]cachedWIT)
	}
	if len(c.entries) >= witCacheSize {
		for k := range c.entries { // any one: the cache is a shortcut, not a record
			delete(c.entries, k)
			break
		}
	}
	c.entries[sum] = cachedWIT{workload: w, until: until}
}

func newWorkloadChecker(v *Verifier, cfg WIMSEConfig) *workloadChecker {
	profile, err := WorkloadIdentity(cfg.TrustDomain)
	if err != nil || cfg.BaseURL == nil || cfg.Replay == nil {
		panic(fmt.Sprintf("authn: WithWIMSE needs BaseURL, Replay and a trust domain (%v)", err))
	}
	// The service's own settings (issuer, keys, algorithms, leeway, clock,
	// bounds), less what concerns access tokens only.
	c := v.cfg
	c.Profile, c.Status, c.Actors = profile, nil, nil
	wit, err := NewVerifier(c)
	if err != nil {
		panic(err)
	}
	return &workloadChecker{cfg: cfg, wit: wit}
}

// Workload is a verified WIT: the caller and the key it proved it holds.
type Workload struct {
	Claims *Claims
	Key    jwk.Key
	// jkt is Key's RFC 7638 thumbprint, which scopes its WPTs' jtis.
	jkt string
}

// workloadRequest is what a WPT must match: the request and the tokens
// sent with it.
type workloadRequest struct {
	wit, wpt    string
	url         *url.URL
	accessToken string
}

// verify checks the WIT, then the WPT made with its key for r, with the
// WPT's jti spent last so a refused proof does not use it up.
func (c *workloadChecker) verify(ctx context.Context, r workloadRequest) (*Workload, error) {
	w, err := c.verifyWIT(ctx, r.wit)
	if err != nil {
		return nil, err
	}
	proof, err := c.checkProof(r, w.Key)
	if err != nil {
		return nil, err
	}
	first, err := c.cfg.Replay.Use(ctx, "wpt:"+w.jkt+":"+proof.jti, proof.exp.Add(c.wit.cfg.Leeway))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUnavailable, err)
	}
	if !first {
		return nil, fmt.Errorf("%w: jti %s", ErrWPTReplayed, proof.jti)
	}
	claims := *w.Claims // the request's own copy: the cached one is shared
	w.Claims = &claims
	return &w, nil
}

// verifyWIT verifies a WIT and its cnf.jwk, or finds it verified in the
// cache.
func (c *workloadChecker) verifyWIT(ctx context.Context, wit string) (Workload, error) {
	sum, now := sha256.Sum256([]byte(wit)), c.wit.cfg.Now()
	if w, ok := c.seen.get(sum, now); ok {
		return w, nil
	}
	claims, err := c.wit.Verify(ctx, wit)
	if err != nil {
		return Workload{}, fmt.Errorf("%w: %w", ErrWIT, err)
	}
	key, err := confirmationKey(claims.Confirmation.JWK, c.wit.algorithms)
	if err != nil {
		return Workload{}, err
	}
	jkt, err := jwk.Thumbprint(key.Public)
	if err != nil {
		return Workload{}, fmt.Errorf("%w: %w", ErrWIT, err)
	}
	w := Workload{Claims: claims, Key: key, jkt: jkt}
	until := now.Add(witCacheAge)
	if exp := claims.ExpiresAt.Time; exp.Before(until) {
		until = exp
	}
	c.seen.put(sum, w, until)
	return w, nil
}

// confirmationKey is a WIT's cnf.jwk: a public key, with the alg
// (draft-ietf-wimse-workload-creds-02 makes it mandatory) its WPTs must use.
func confirmationKey(raw json.RawMessage, algorithms []string) (jwk.Key, error) {
	var key jwk.Key
	if raw == nil {
		return key, fmt.Errorf("%w: no cnf.jwk", ErrWIT)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return key, fmt.Errorf("%w: cnf.jwk: %w", ErrWIT, err)
	}
	if _, ok := members["alg"]; !ok {
		return key, fmt.Errorf("%w: cnf.jwk has no alg", ErrWIT)
	}
	for _, m := range privateMembers {
		if _, ok := members[m]; ok {
			return key, fmt.Errorf("%w: cnf.jwk holds private member %q", ErrWIT, m)
		}
	}
	if err := json.Unmarshal(raw, &key); err != nil {
		return key, fmt.Errorf("%w: cnf.jwk: %w", ErrWIT, err)
	}
	if !slices.Contains(algorithms, key.Algorithm) {
		return key, fmt.Errorf("%w: cnf.jwk alg %q", ErrWIT, key.Algorithm)
	}
	return key, nil
}

type workloadProof struct {
	aud, jti, wth, ath string
	exp, iat           *jwt.NumericDate
}

// checkProof checks r's WPT against key, and everything it names but its
// jti's single use.
func (c *workloadChecker) checkProof(r workloadRequest, key jwk.Key) (workloadProof, error) {
	var p workloadProof
	if len(r.wpt) > c.wit.cfg.MaxTokenSize || strings.Count(r.wpt, ".") != 2 {
		return p, fmt.Errorf("%w: not a compact JWS of at most %d bytes", ErrWPT, c.wit.cfg.MaxTokenSize)
	}
	headerB64, rest, _ := strings.Cut(r.wpt, ".")
	payloadB64, sigB64, _ := strings.Cut(rest, ".")
	var h header
	if err := parseHeader(headerB64, &h); err != nil {
		return p, fmt.Errorf("%w: %w", ErrWPT, err)
	}
	switch {
	case !strings.EqualFold(h.Typ, WPTType):
		return p, fmt.Errorf("%w: typ %q", ErrWPT, h.Typ)
	case h.Alg != key.Algorithm:
		return p, fmt.Errorf("%w: alg %q, the WIT's key is %s", ErrWPT, h.Alg, key.Algorithm)
	}
	p, err := proofClaimsOf(payloadB64)
	if err != nil {
		return p, err
	}
	if err := c.matches(p, r); err != nil {
		return p, err
	}
	sig, err := b64.DecodeString(sigB64)
	if err != nil {
		return p, fmt.Errorf("%w: signature encoding", ErrWPT)
	}
	if err := jwt.GetSigningMethod(h.Alg).Verify(r.wpt[:len(headerB64)+1+len(payloadB64)], sig, key.Public); err != nil {
		return p, fmt.Errorf("%w: signature: %w", ErrWPT, err)
	}
	return p, nil
}

// matches checks a WPT's claims against the request and tokens it came
// with.
func (c *workloadChecker) matches(p workloadProof, r workloadRequest) error {
	now, leeway := c.wit.cfg.Now(), c.wit.cfg.Leeway
	switch {
	case !sameTarget(p.aud, r.url):
		return fmt.Errorf("%w: aud %q is not this request's target %v", ErrWPTAudience, p.aud, r.url)
	case p.exp == nil || p.exp.Before(now.Add(-leeway)) || p.exp.After(now.Add(WPTMaxLifetime+leeway)):
		return fmt.Errorf("%w: exp missing, past, or more than %s ahead", ErrWPT, WPTMaxLifetime)
	case p.iat != nil && p.iat.After(now.Add(leeway)):
		return fmt.Errorf("%w: iat in the future", ErrWPT)
	case p.jti == "" || len(p.jti) > maxProofJTI:
		return fmt.Errorf("%w: jti missing or longer than %d bytes", ErrWPT, maxProofJTI)
	case p.wth != accessTokenHash(r.wit): // the WIT's SHA-256, as the cache's key
		return fmt.Errorf("%w: wth is not the hash of the WIT sent", ErrWPT)
	case r.accessToken != "" && p.ath != accessTokenHash(r.accessToken):
		return fmt.Errorf("%w: ath is not the hash of the access token sent", ErrWPT)
	}
	return nil
}

// sameTarget compares a WPT's aud with the request's target URI: as DPoP's
// htu (scheme and host case-insensitively, default ports dropped, path
// exactly), except that aud itself may carry no query or fragment
// (draft-ietf-wimse-wpt-01: the target URI without them).
func sameTarget(aud string, req *url.URL) bool {
	u, err := url.Parse(aud)
	if err != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(aud, "#") {
		return false
	}
	return sameParsedResource(u, req)
}

func proofClaimsOf(segment string) (workloadProof, error) {
	var p workloadProof
	data, err := decodeSegment(segment)
	if err != nil {
		return p, fmt.Errorf("%w: %w", ErrWPT, err)
	}
	err = scanObject(data, []string{"aud", "exp", "iat", "jti", "wth", "ath", "tth", "oth"}, func(name string, value []byte) (err error) {
		switch name {
		case "aud":
			p.aud, err = jsonString(name, value)
		case "exp":
			p.exp, err = numericDate(name, value)
		case "iat":
			p.iat, err = numericDate(name, value)
		case "jti":
			p.jti, err = jsonString(name, value)
		case "wth":
			p.wth, err = jsonString(name, value)
		case "ath":
			p.ath, err = jsonString(name, value)
		}
		return err
	})
	if err != nil {
		return p, fmt.Errorf("%w: %w", ErrWPT, err)
	}
	return p, nil
}

type workloadKey struct{}

// WorkloadFromContext returns the WIT Authenticate verified for this
// request, if it came with WIMSE credentials.
func WorkloadFromContext(ctx context.Context) (*Workload, bool) {
	w, ok := ctx.Value(workloadKey{}).(*Workload)
	return w, ok
}

// authenticateWorkload admits a request by its WIT and WPT, and its access
// token if it carries one (a bearer token, or a DPoP-bound one with its
// proof where DPoP is on): that token must then be the workload's own (its
// client, or its current actor, is the WIT's workload), or a workload
// holding a stolen token could present it with its own proof. Without an
// access token, the request's claims are the WIT's.
func (m *middleware) authenticateWorkload(r *http.Request) (*Claims, *Workload, string, error) {
	wits, wpts := r.Header.Values(WITHeader), r.Header.Values(WPTHeader)
	switch {
	case len(wits) != 1:
		return nil, nil, "", fmt.Errorf("%w: %d %s headers, want one", ErrWIT, len(wits), WITHeader)
	case len(wpts) == 0:
		return nil, nil, "", ErrNoWPT
	case len(wpts) > 1:
		return nil, nil, "", fmt.Errorf("%w: %d %s headers, want one", ErrWPT, len(wpts), WPTHeader)
	}
	req := workloadRequest{wit: wits[0], wpt: wpts[0], url: requestURL(r, m.wimse.BaseURL)}
	var scheme string
	if len(r.Header.Values("Authorization")) > 0 {
		var err error
		if scheme, req.accessToken, err = credentials(r, m.dpop != nil); err != nil {
			return nil, nil, "", err
		}
	}
	// The workload's credentials first: they say whether this request is
	// for this service at all (the WPT's aud), whatever token rides along.
	w, err := m.workloads.verify(r.Context(), req)
	if err != nil {
		return nil, nil, "", err
	}
	if req.accessToken == "" {
		return w.Claims, w, "", nil
	}
	claims, err := m.verifier.Verify(r.Context(), req.accessToken)
	if err != nil {
		return nil, nil, "", err
	}
	if caller := tokenCaller(claims); caller != w.Claims.Subject && caller != workloadPath(w.Claims.Subject) {
		return nil, nil, "", fmt.Errorf("%w: token of %q, WIT of %q", ErrWorkload, caller, w.Claims.Subject)
	}
	if err := m.checkPresentation(r, scheme, req.accessToken, claims); err != nil {
		return nil, nil, "", err
	}
	return claims, w, req.accessToken, nil
}

// tokenCaller is who presents a token: its current actor, its client, or
// its subject.
func tokenCaller(c *Claims) string {
	switch {
	case c.Actor != nil:
		return c.Actor.Subject
	case c.ClientID != "":
		return c.ClientID
	}
	return c.Subject
}

// wimseRefusal reports whether err is answered as a WIMSE refusal: 400
// with problem details (draft-ietf-wimse-wpt-01).
func wimseRefusal(err error) bool {
	for _, e := range []error{ErrWIT, ErrWPT, ErrNoWPT, ErrWPTReplayed, ErrWPTAudience, ErrWIMSERequired, ErrWorkload} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// writeProblem answers a WIMSE refusal with RFC 9457 problem details; the
// reason member is Reason(err), as in every other refusal.
func writeProblem(w http.ResponseWriter, err error) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type":   "urn:s2sjwt:wimse:" + Reason(err),
		"title":  Describe(err),
		"status": http.StatusBadRequest,
		"reason": Reason(err),
	})
}

// isWIT reports whether raw, presented as a bearer token, is a WIT: a
// refusal with its own reason, since a WIT is never a bearer token.
func isWIT(raw string) bool {
	t, err := Parse(raw)
	return err == nil && strings.EqualFold(t.header.Typ, WITType)
}
