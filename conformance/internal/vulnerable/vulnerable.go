// Package vulnerable is a resource server with one deliberately missing
// check per Flaw, for proving that the conformance suite catches each.
// With no flaw it is correct, and the suite must pass it without a false
// alarm. It is written independently of internal/authn on purpose: the
// suite's verdicts must not depend on this project's own verifier.
//
// Never use it for anything but testing the suite.
package vulnerable

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// Config configures a server.
type Config struct {
	Issuer, JWKSURL, Audience, Scope string
	SingleUse                        bool
	Flaw                             Flaw
	// Algorithms it accepts; EdDSA, ES256 and RS256 if empty.
	Algorithms []string
	// RefreshInterval is the least time between two JWKS fetches for an
	// unknown kid; 10 s if zero.
	RefreshInterval time.Duration
	// DPoP accepts DPoP-bound tokens with proofs (RFC 9449); DPoPNonce
	// demands its own nonce in them (§9).
	DPoP, DPoPNonce bool
	// Leeway is its clock-skew leeway; 5 s if zero. A setting, not a flaw:
	// go-jose's default is 60 s.
	Leeway time.Duration
	// Profile is the token profile it verifies: "" (RFC 9068), jwt-svid
	// (sub a SPIFFE ID of TrustDomain) or kubernetes (sub a service
	// account; Namespace and ServiceAccount the only one accepted when
	// OnlySubject).
	Profile, TrustDomain, Namespace, ServiceAccount string
	OnlySubject                                     bool
	// MaxLifetime bounds how far ahead exp may lie; an hour if zero.
	MaxLifetime time.Duration
	// Actors are the current actors (act.sub) it accepts in delegated
	// tokens, nested at most MaxActorChain deep (4 if zero); without
	// Actors it accepts no delegated token.
	Actors        []string
	MaxActorChain int
	// StatusLists checks tokens' status list entries (2-bit lists under
	// Issuer, signed by its keys).
	StatusLists bool
	// WIMSE, if set, is the trust domain whose WIMSE workload credentials
	// (WIT and WPT) it accepts beside bearer tokens.
	WIMSE string
	// UsedFile, if set, keeps used jtis across restarts (one per line).
	// ReplicaMemoryNotShared is a deployment of two servers, each with its
	// own memory; the server itself behaves correctly.
	UsedFile string
}

type server struct {
	cfg    Config
	client *http.Client

	mu        sync.Mutex
	keys      map[string]jwk.Key
	fetchedAt time.Time
	used      map[string]bool
	proofs    map[string]bool // used DPoP proof jtis
	// workloadProofs are used WPT jtis.
	workloadProofs map[string]bool
	lists          map[string]cachedStatusList
	nonce          string // the DPoP nonce it demands, with DPoPNonce
}

// New returns the server.
func New(cfg Config) http.Handler {
	switch {
	case len(cfg.Algorithms) > 0:
	case cfg.Profile == ProfileJWTSVID && cfg.Flaw != SVIDAnyAlgorithm:
		cfg.Algorithms = []string{"ES256", "RS256", "PS256"} // JWT-SVID §2.1
	case cfg.Profile == ProfileJWTSVID:
		cfg.Algorithms = []string{"EdDSA", "ES256", "RS256", "PS256"}
	default:
		cfg.Algorithms = []string{"EdDSA", "ES256", "RS256"}
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = 10 * time.Second
	}
	if cfg.Flaw == RefetchesEveryFiveMin {
		cfg.RefreshInterval = 5 * time.Minute
	}
	s := &server{cfg: cfg, client: &http.Client{Timeout: 2 * time.Second}, used: map[string]bool{}, proofs: map[string]bool{}, workloadProofs: map[string]bool{}, lists: map[string]cachedStatusList{},
		nonce: fmt.Sprintf("n-%d", time.Now().UnixNano())}
	if cfg.UsedFile != "" && !s.has(ForgetsOnRestart) {
		data, _ := os.ReadFile(cfg.UsedFile)
		for _, jti := range strings.Fields(string(data)) {
			s.used[jti] = true
		}
	}
	return s
}

var (
	errRefused  = errors.New("refused")
	errUseNonce = errors.New("use the server's DPoP nonce")
)

func (s *server) has(f Flaw) bool { return s.cfg.Flaw == f }

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(r.Header.Values("Authorization")) > 1 && !s.has(FirstAuthorizationWins) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vulnerable", error="invalid_request"`)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if s.cfg.WIMSE != "" && (r.Header.Get(witHeader) != "" || r.Header.Get(wptHeader) != "") {
		s.serveWorkload(w, r)
		return
	}
	token, dpop := "", false
	if scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		token = strings.TrimSpace(rest)
	} else if ok && s.cfg.DPoP && strings.EqualFold(scheme, "DPoP") {
		token, dpop = strings.TrimSpace(rest), true
	}
	if token == "" && s.has(TokenInQuery) {
		token = r.URL.Query().Get("access_token")
	}
	if token == "" {
		if s.has(NoTokenIs400) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vulnerable"`)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.refuse(w, "", "no token")
		return
	}
	if s.has(ServerErrorOnGarbage) && strings.Count(token, ".") != 2 {
		http.Error(w, "index out of range", http.StatusInternalServerError)
		return
	}
	if s.cfg.WIMSE != "" && s.has(WITAsBearer) && s.witAsBearer(r.Context(), token) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	claims, err := s.verify(r.Context(), token)
	if err == nil {
		err = s.checkDPoP(r, dpop, token, claims)
	}
	if errors.Is(err, errUseNonce) {
		w.Header().Set("DPoP-Nonce", s.nonce)
		w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", error_description="a proof needs the server's nonce"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if err != nil {
		s.refuse(w, "invalid_token", err.Error())
		return
	}
	s.admit(w, claims)
}

// admit answers an authenticated request: 403 without the configured
// scope, else 204.
func (s *server) admit(w http.ResponseWriter, claims map[string]any) {
	if s.cfg.Scope != "" && !s.scopeOK(claims) {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// scopeOK is whether the token grants the configured scope, as this
// server reads scope.
func (s *server) scopeOK(claims map[string]any) bool {
	scope, _ := claims["scope"].(string)
	if scp, ok := claims["scp"].(string); ok && scope == "" && s.has(ReadsSCP) {
		scope = scp
	}
	need := s.cfg.Scope
	switch {
	case s.has(IgnoresScope):
		return true
	case s.has(ScopePrefix):
		return slices.ContainsFunc(strings.Fields(scope), func(got string) bool { return strings.HasPrefix(got, need) })
	case s.has(ScopeSubstring):
		return strings.Contains(scope, need)
	case s.has(ScopeExactString):
		return scope == need
	}
	return slices.Contains(strings.Fields(scope), need)
}

func (s *server) refuse(w http.ResponseWriter, code, why string) {
	if !s.has(NoChallenge) {
		challenge := `Bearer realm="vulnerable"`
		if code != "" && !s.has(ChallengeWithoutCode) {
			challenge += fmt.Sprintf(`, error=%q, error_description=%q`, code, why)
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	w.WriteHeader(http.StatusUnauthorized)
}

func (s *server) verify(ctx context.Context, token string) (map[string]any, error) {
	if len(token) > 8<<10 && !s.has(NoSizeLimit) {
		return nil, errRefused
	}
	if strings.HasPrefix(token, "{") && s.has(PolyglotReadsUnsigned) {
		return s.verifyPolyglot(ctx, token)
	}
	if strings.HasPrefix(token, "{") && s.has(AcceptsJSONSerialization) {
		var flat struct{ Protected, Payload, Signature string }
		if json.Unmarshal([]byte(token), &flat) == nil {
			token = flat.Protected + "." + flat.Payload + "." + flat.Signature
		}
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errRefused
	}
	header, err := s.object(parts[0])
	if err != nil {
		return nil, err
	}
	if header["cty"] == "JWT" && s.has(UnwrapsNestedJWT) {
		// Checks the envelope's and the inner token's signatures, but none
		// of the inner token's claims.
		inner, err := base64.RawURLEncoding.DecodeString(parts[1])
		innerParts := strings.Split(string(inner), ".")
		if err != nil || len(innerParts) != 3 {
			return nil, errRefused
		}
		innerHeader, err := s.object(innerParts[0])
		if err != nil {
			return nil, err
		}
		if err := s.checkSignature(ctx, header, parts, s.cfg.Issuer); err != nil {
			return nil, err
		}
		if err := s.checkSignature(ctx, innerHeader, innerParts, s.cfg.Issuer); err != nil {
			return nil, err
		}
		return s.object(innerParts[1])
	}
	payload := parts[1]
	if header["zip"] == "DEF" && s.has(InflatesZip) {
		data, err := base64.RawURLEncoding.DecodeString(payload)
		if err != nil {
			return nil, errRefused
		}
		plain, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(data)), 1<<20))
		if err != nil {
			return nil, errRefused
		}
		payload = base64.RawURLEncoding.EncodeToString(plain)
	}
	if s.has(RecursesIntoClaims) {
		data, _ := base64.RawURLEncoding.DecodeString(payload)
		nesting(data, 0)
	}
	claims, err := s.object(payload)
	if err != nil {
		return nil, err
	}

	if err := s.checkClaims(claims); err != nil {
		return nil, err
	}
	if err := s.checkActor(claims); err != nil {
		return nil, err
	}
	iss, _ := claims["iss"].(string)
	if err := s.checkSignature(ctx, header, parts, iss); err != nil {
		return nil, err
	}
	if err := s.checkStatus(ctx, claims); err != nil {
		return nil, err
	}
	if s.cfg.SingleUse && !s.has(NoReplayCheck) {
		if err := s.useOnce(fmt.Sprint(claims["jti"])); err != nil {
			return nil, err
		}
	}
	return claims, nil
}

// object decodes a segment into a JSON object, refusing duplicate members.
func (s *server) object(segment string) (map[string]any, error) {
	enc := base64.RawURLEncoding.Strict()
	if s.has(LaxBase64) {
		segment = strings.TrimRight(segment, "=")
	}
	data, err := enc.DecodeString(segment)
	if err != nil {
		return nil, errRefused
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errRefused
	}
	obj := map[string]any{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, errRefused
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, errRefused
		}
		name := t.(string)
		if _, dup := obj[name]; dup {
			if s.has(FirstDuplicateWins) {
				continue
			}
			return nil, errRefused
		}
		obj[name] = v
	}
	if _, err := dec.Token(); err != nil || dec.More() {
		return nil, errRefused
	}
	return obj, nil
}

func (s *server) checkSignature(ctx context.Context, h map[string]any, parts []string, iss string) error {
	alg, _ := h["alg"].(string)
	if !s.typeOK(h) || !s.headerOK(h) {
		return errRefused
	}
	if _, ok := h["crit"]; ok && !s.has(IgnoresCrit) {
		return errRefused
	}
	if alg == "none" && s.has(AcceptsAlgNone) || strings.EqualFold(alg, "none") && s.has(AcceptsNoneAnyCase) {
		return nil
	}
	sigSegment := parts[2]
	switch {
	case s.has(LaxBase64):
		sigSegment = strings.TrimRight(sigSegment, "=")
	case s.has(SkipsNonAlphabet):
		sigSegment = strings.Map(func(r rune) rune {
			if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
				return r
			}
			return -1
		}, sigSegment)
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(sigSegment)
	if err != nil {
		return errRefused
	}
	input := parts[0] + "." + parts[1]
	if s.has(SkipsSignature) {
		return nil
	}
	kid, _ := h["kid"].(string)
	key, err := s.chooseKey(ctx, h, alg, kid, iss)
	if err != nil {
		return err
	}
	if alg == "ES256" && s.has(ECDSAZeroAccepted) && !slices.ContainsFunc(sig, func(b byte) bool { return b != 0 }) {
		return nil // the psychic-signature bug: zero r and s pass
	}
	if kid == "" && s.has(TriesAllKeysWithoutKid) {
		for _, k := range s.allKeys(ctx) {
			if k.Algorithm == alg && jwt.GetSigningMethod(alg).Verify(input, sig, k.Public) == nil {
				return nil
			}
		}
		return errRefused
	}
	if k, ok := key.(keyWithAlg); ok {
		alg, key = k.Algorithm, k.Public
	}
	if n := signatureSize[alg]; s.has(TruncatesLongSignature) && len(sig) > n {
		sig = sig[:n] // compares what it expects, ignores the rest
	}
	method := jwt.GetSigningMethod(alg)
	if method == nil || method.Verify(input, sig, key) != nil {
		return errRefused
	}
	return nil
}

// signatureSize is each algorithm's signature length with this suite's
// keys (RSA 2048).
var signatureSize = map[string]int{"ES256": 64, "EdDSA": 64, "RS256": 256, "PS256": 256}

// nesting walks data's brackets by recursion, as a recursive-descent
// parser does, and overflows its budget (a stack, in the parsers this
// imitates) beyond 1,000 levels: the handler panics, the connection drops.
func nesting(data []byte, depth int) []byte {
	if depth > 1000 {
		panic("vulnerable: parser stack exhausted")
	}
	for len(data) > 0 {
		c := data[0]
		data = data[1:]
		switch c {
		case '[', '{':
			data = nesting(data, depth+1)
		case ']', '}':
			return data
		}
	}
	return data
}

func (s *server) useOnce(jti string) error {
	s.mu.Lock()
	seen := s.used[jti]
	if s.has(RacyReplay) {
		s.mu.Unlock()
		time.Sleep(20 * time.Millisecond) // the window between check and store
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	if seen {
		return errRefused
	}
	s.used[jti] = true
	if s.cfg.UsedFile != "" && !s.has(ForgetsOnRestart) {
		f, err := os.OpenFile(s.cfg.UsedFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(f, jti)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return nil
}

// verifyPolyglot is CVE-2022-39227's bug: the signature is checked over the
// JSON members, the claims are read from a member name shaped like a
// compact token.
func (s *server) verifyPolyglot(ctx context.Context, token string) (map[string]any, error) {
	var doc map[string]any
	if json.Unmarshal([]byte(token), &doc) != nil {
		return nil, errRefused
	}
	protected, _ := doc["protected"].(string)
	payload, _ := doc["payload"].(string)
	signature, _ := doc["signature"].(string)
	header, err := s.object(protected)
	if err != nil {
		return nil, err
	}
	if err := s.checkSignature(ctx, header, []string{protected, payload, signature}, s.cfg.Issuer); err != nil {
		return nil, err
	}
	for name := range doc {
		if parts := strings.Split(strings.TrimSpace(name), "."); len(parts) == 3 {
			claims, err := s.object(parts[1])
			if err != nil {
				return nil, err
			}
			return claims, s.checkClaims(claims)
		}
	}
	return nil, errRefused
}
