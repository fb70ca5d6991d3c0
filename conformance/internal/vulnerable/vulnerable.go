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
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
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

// Flaw is one check left out.
type Flaw string

// The flaws, each named after what the server wrongly does.
const (
	Correct                  Flaw = ""
	AcceptsAlgNone           Flaw = "accepts alg none"
	AcceptsNoneAnyCase       Flaw = "accepts alg none in any letter case"
	SkipsSignature           Flaw = "decodes without verifying the signature"
	HMACWithPublicKey        Flaw = "verifies HS256 with the public key (key confusion)"
	ECDSAZeroAccepted        Flaw = "accepts ECDSA r=s=0"
	KidAsFilePath            Flaw = "reads the HMAC key from the file kid names"
	TrustsEmbeddedJWK        Flaw = "trusts the jwk header"
	FetchesJKU               Flaw = "fetches jku"
	FetchesX5U               Flaw = "fetches x5u"
	TrustsX5C                Flaw = "trusts the x5c header"
	TriesAllKeysWithoutKid   Flaw = "tries every key when kid is missing"
	RefetchesJWKSAlways      Flaw = "refetches the JWKS on every unknown kid"
	SkipsAudience            Flaw = "does not check aud"
	AudiencePrefix           Flaw = "matches aud by prefix"
	AudienceContains         Flaw = "matches aud by substring"
	AudienceCaseInsensitive  Flaw = "compares aud ignoring case"
	AudienceTrimmed          Flaw = "trims aud before comparing"
	AudienceStringified      Flaw = "stringifies aud members"
	SkipsIssuer              Flaw = "does not check iss"
	IssuerCaseInsensitive    Flaw = "compares iss ignoring case"
	IssuerTrailingSlash      Flaw = "ignores a trailing slash in iss"
	SkipsExpiry              Flaw = "does not check exp"
	ExpiryOptional           Flaw = "accepts tokens without exp"
	HugeLeeway               Flaw = "allows an hour of clock skew"
	SkipsNotBefore           Flaw = "does not check nbf"
	SkipsIssuedAt            Flaw = "does not check iat"
	LenientNumbers           Flaw = "reads numeric strings as NumericDate"
	SkipsType                Flaw = "accepts any typ"
	TypeOptional             Flaw = "accepts a missing typ"
	IgnoresCrit              Flaw = "ignores crit"
	SkipsSubject             Flaw = "accepts tokens without sub"
	FirstDuplicateWins       Flaw = "takes the first of duplicate members"
	NoReplayCheck            Flaw = "does not remember jti"
	RacyReplay               Flaw = "checks and stores jti in two steps"
	NoChallenge              Flaw = "answers 401 without WWW-Authenticate"
	ServerErrorOnGarbage     Flaw = "answers 500 to tokens it cannot split"
	AcceptsJSONSerialization Flaw = "accepts JWS JSON serialization"
	TokenInQuery             Flaw = "reads access_token from the query"
	NoSizeLimit              Flaw = "has no token size limit"
	LaxBase64                Flaw = "accepts padded base64"
	DiscoversKeysFromIss     Flaw = "trusts any iss and fetches its JWKS"
	AudienceIsPrefixOfOwn    Flaw = "accepts an aud its own name starts with"
	TreatsBadExpAsAbsent     Flaw = "ignores an exp it cannot parse"
	HS256DevSecret           Flaw = "also accepts HS256 with a default secret"
	UnwrapsNestedJWT         Flaw = "unwraps cty JWT and trusts the inner token"
	InflatesZip              Flaw = "inflates a zip payload"
	AlgorithmFromKey         Flaw = "verifies with the key's algorithm, whatever alg says"
	PolyglotReadsUnsigned    Flaw = "verifies a JSON JWS but reads claims from a compact-shaped member"
	NoTokenIs400             Flaw = "answers a missing token with 400"
	ChallengeWithoutCode     Flaw = "sends a Bearer challenge without an error code for bad tokens"
	IgnoresKeyUse            Flaw = "verifies with keys marked use: enc"
	IgnoresKeyOps            Flaw = "verifies with keys whose key_ops lack verify"
	RequiresUse              Flaw = "refuses keys published without use"
	NotBeforeFiveMinutes     Flaw = "allows nbf five minutes ahead"
	ZeroExpMeansNoExp        Flaw = "reads an exp of 0 or less as no expiry"
	RefetchesEveryFiveMin    Flaw = "refetches the JWKS at most every five minutes, unknown kid or not"
	ReplicaMemoryNotShared   Flaw = "runs replicas that each remember only their own used jtis"
	ForgetsOnRestart         Flaw = "keeps used jtis in memory only"
)

// Catches maps each flaw to the suite cases that must fail because of it.
var Catches = map[Flaw][]string{
	AcceptsAlgNone:           {"SIG-01"},
	AcceptsNoneAnyCase:       {"SIG-01", "SIG-02", "SIG-03", "SIG-04"},
	SkipsSignature:           {"SIG-05", "SIG-06", "SIG-07", "SIG-10"},
	HMACWithPublicKey:        {"SIG-08"},
	ECDSAZeroAccepted:        {"SIG-09"},
	KidAsFilePath:            {"KEY-07"},
	TrustsEmbeddedJWK:        {"KEY-01", "KEY-02"},
	FetchesJKU:               {"KEY-03"},
	FetchesX5U:               {"KEY-04"},
	TrustsX5C:                {"KEY-05"},
	TriesAllKeysWithoutKid:   {"KEY-06"},
	RefetchesJWKSAlways:      {"KEY-08"},
	SkipsAudience:            {"M-01", "M-03", "AUD-01", "AUD-02", "AUD-03", "AUD-04"},
	AudiencePrefix:           {"AUD-06"},
	AudienceContains:         {"AUD-06", "AUD-07"},
	AudienceCaseInsensitive:  {"AUD-05"},
	AudienceTrimmed:          {"AUD-11"},
	AudienceStringified:      {"AUD-10"},
	SkipsIssuer:              {"M-04", "ISS-01", "ISS-02", "ISS-03"},
	IssuerCaseInsensitive:    {"ISS-02"},
	IssuerTrailingSlash:      {"ISS-03"},
	SkipsExpiry:              {"M-02", "TIME-02"},
	ExpiryOptional:           {"TIME-01"},
	HugeLeeway:               {"M-02", "TIME-02"},
	SkipsNotBefore:           {"TIME-05"},
	SkipsIssuedAt:            {"TIME-06"},
	LenientNumbers:           {"TIME-04"},
	SkipsType:                {"HDR-01"},
	TypeOptional:             {"HDR-02"},
	IgnoresCrit:              {"HDR-03"},
	SkipsSubject:             {"SUB-01", "SUB-02"},
	FirstDuplicateWins:       {"FMT-05"},
	NoReplayCheck:            {"RPL-01", "RPL-02"},
	RacyReplay:               {"RPL-02"},
	NoChallenge:              {"FMT-14"},
	ServerErrorOnGarbage:     {"FMT-10"},
	AcceptsJSONSerialization: {"FMT-06"},
	TokenInQuery:             {"FMT-13"},
	NoSizeLimit:              {"FMT-02"},
	LaxBase64:                {"FMT-04"},
	DiscoversKeysFromIss:     {"ISS-05"},
	AudienceIsPrefixOfOwn:    {"AUD-08"},
	TreatsBadExpAsAbsent:     {"TIME-03", "TIME-07"},
	HS256DevSecret:           {"SIG-12"},
	UnwrapsNestedJWT:         {"HDR-05"},
	InflatesZip:              {"HDR-06"},
	AlgorithmFromKey:         {"SIG-13"},
	PolyglotReadsUnsigned:    {"FMT-07"},
	NoTokenIs400:             {"FMT-08"},
	ChallengeWithoutCode:     {"FMT-14"},
	IgnoresKeyUse:            {"KEY-09"},
	IgnoresKeyOps:            {"KEY-10"},
	RequiresUse:              {"CTRL-09"},
	NotBeforeFiveMinutes:     {"TIME-08"},
	ZeroExpMeansNoExp:        {"TIME-09"},
	RefetchesEveryFiveMin:    {"KEY-11"},
	ReplicaMemoryNotShared:   {"RPL-03"},
	ForgetsOnRestart:         {"RPL-04"},
}

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
}

// New returns the server.
func New(cfg Config) http.Handler {
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = []string{"EdDSA", "ES256", "RS256"}
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = 10 * time.Second
	}
	if cfg.Flaw == RefetchesEveryFiveMin {
		cfg.RefreshInterval = 5 * time.Minute
	}
	s := &server{cfg: cfg, client: &http.Client{Timeout: 2 * time.Second}, used: map[string]bool{}}
	if cfg.UsedFile != "" && !s.has(ForgetsOnRestart) {
		data, _ := os.ReadFile(cfg.UsedFile)
		for _, jti := range strings.Fields(string(data)) {
			s.used[jti] = true
		}
	}
	return s
}

var errRefused = errors.New("refused")

func (s *server) has(f Flaw) bool { return s.cfg.Flaw == f }

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token := ""
	if scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		token = strings.TrimSpace(rest)
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
	claims, err := s.verify(r.Context(), token)
	if err != nil {
		s.refuse(w, "invalid_token", err.Error())
		return
	}
	if scope, _ := claims["scope"].(string); s.cfg.Scope != "" && !slices.Contains(strings.Fields(scope), s.cfg.Scope) {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	w.WriteHeader(http.StatusNoContent)
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
	claims, err := s.object(payload)
	if err != nil {
		return nil, err
	}

	if err := s.checkClaims(claims); err != nil {
		return nil, err
	}
	iss, _ := claims["iss"].(string)
	if err := s.checkSignature(ctx, header, parts, iss); err != nil {
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

func (s *server) checkClaims(c map[string]any) error {
	if !s.has(SkipsIssuer) && !s.has(DiscoversKeysFromIss) {
		iss, ok := c["iss"].(string)
		want := s.cfg.Issuer
		switch {
		case !ok:
			return errRefused
		case s.has(IssuerCaseInsensitive):
			if !strings.EqualFold(iss, want) {
				return errRefused
			}
		case s.has(IssuerTrailingSlash):
			if strings.TrimSuffix(iss, "/") != want {
				return errRefused
			}
		case iss != want:
			return errRefused
		}
	}
	if !s.has(SkipsAudience) && !s.audienceOK(c["aud"]) {
		return errRefused
	}
	now := time.Now()
	leeway := 5 * time.Second
	if s.has(HugeLeeway) {
		leeway = time.Hour
	}
	exp, hasExp, err := s.numericDate(c, "exp")
	zeroExp := hasExp && exp.Unix() <= 0 && s.has(ZeroExpMeansNoExp)
	switch {
	case err != nil:
		return err
	case zeroExp:
	case !hasExp && !s.has(ExpiryOptional) && !s.has(SkipsExpiry) && !s.has(TreatsBadExpAsAbsent):
		return errRefused
	case hasExp && !s.has(SkipsExpiry) && now.After(exp.Add(leeway)):
		return errRefused
	}
	nbfLeeway := leeway
	if s.has(NotBeforeFiveMinutes) {
		nbfLeeway = 5 * time.Minute
	}
	if nbf, ok, err := s.numericDate(c, "nbf"); err != nil || ok && !s.has(SkipsNotBefore) && nbf.After(now.Add(nbfLeeway)) {
		return errRefused
	}
	if iat, ok, err := s.numericDate(c, "iat"); err != nil || ok && !s.has(SkipsIssuedAt) && iat.After(now.Add(leeway)) {
		return errRefused
	}
	if sub, ok := c["sub"].(string); !s.has(SkipsSubject) && (!ok || sub == "") {
		return errRefused
	}
	if _, ok := c["jti"].(string); !ok {
		return errRefused
	}
	return nil
}

func (s *server) audienceOK(aud any) bool {
	want := s.cfg.Audience
	match := func(got string) bool {
		switch {
		case s.has(AudiencePrefix):
			return strings.HasPrefix(got, want)
		case s.has(AudienceContains):
			return strings.Contains(got, want)
		case s.has(AudienceCaseInsensitive):
			return strings.EqualFold(got, want)
		case s.has(AudienceTrimmed):
			return strings.TrimSpace(got) == want
		case s.has(AudienceIsPrefixOfOwn):
			return got != "" && strings.HasPrefix(want, got)
		}
		return got == want
	}
	switch a := aud.(type) {
	case string:
		return match(a)
	case []any:
		for _, v := range a {
			str, ok := v.(string)
			if s.has(AudienceStringified) {
				str, ok = fmt.Sprint(v), true
				if strings.Contains(str, want) {
					return true
				}
			}
			if !ok {
				return false
			}
			if match(str) {
				return true
			}
		}
	}
	return false
}

func (s *server) numericDate(c map[string]any, name string) (time.Time, bool, error) {
	v, ok := c[name]
	if !ok {
		return time.Time{}, false, nil
	}
	var n json.Number
	switch x := v.(type) {
	case json.Number:
		n = x
	case string:
		if !s.has(LenientNumbers) && !s.has(TreatsBadExpAsAbsent) {
			return time.Time{}, true, errRefused
		}
		n = json.Number(x)
	default:
		if s.has(TreatsBadExpAsAbsent) {
			return time.Time{}, false, nil
		}
		return time.Time{}, true, errRefused
	}
	f, err := n.Float64()
	if err != nil {
		if s.has(TreatsBadExpAsAbsent) {
			return time.Time{}, false, nil
		}
		return time.Time{}, true, errRefused
	}
	return time.Unix(int64(f), 0), true, nil
}

func (s *server) checkSignature(ctx context.Context, h map[string]any, parts []string, iss string) error {
	alg, _ := h["alg"].(string)
	typ, hasTyp := h["typ"].(string)
	switch {
	case s.has(SkipsType):
	case !hasTyp && s.has(TypeOptional):
	case !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt"):
		return errRefused
	}
	if _, ok := h["crit"]; ok && !s.has(IgnoresCrit) {
		return errRefused
	}
	if alg == "none" && s.has(AcceptsAlgNone) || strings.EqualFold(alg, "none") && s.has(AcceptsNoneAnyCase) {
		return nil
	}
	sigSegment := parts[2]
	if s.has(LaxBase64) {
		sigSegment = strings.TrimRight(sigSegment, "=")
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
	method := jwt.GetSigningMethod(alg)
	if method == nil || method.Verify(input, sig, key) != nil {
		return errRefused
	}
	return nil
}

// chooseKey returns the key to verify with, or an error.
func (s *server) chooseKey(ctx context.Context, h map[string]any, alg, kid, iss string) (any, error) {
	if alg == "HS256" {
		switch {
		case s.has(KidAsFilePath) && strings.Contains(kid, "/"):
			return os.ReadFile(kid) // /dev/null: an empty key the attacker also knows
		case s.has(HS256DevSecret):
			return []byte("secret"), nil
		case s.has(HMACWithPublicKey):
			k, ok := s.key(ctx, kid)
			if !ok {
				return nil, errRefused
			}
			der, _ := x509.MarshalPKIXPublicKey(k.Public)
			return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
		}
		return nil, errRefused
	}
	if !slices.Contains(s.cfg.Algorithms, alg) {
		return nil, errRefused
	}
	if raw, ok := h["jwk"]; ok {
		if !s.has(TrustsEmbeddedJWK) {
			return nil, errRefused
		}
		data, _ := json.Marshal(raw)
		var k jwk.Key
		if json.Unmarshal(data, &k) != nil {
			return nil, errRefused
		}
		return k.Public, nil
	}
	for _, param := range []string{"jku", "x5u"} {
		u, ok := h[param].(string)
		if !ok {
			continue
		}
		if param == "jku" && s.has(FetchesJKU) || param == "x5u" && s.has(FetchesX5U) {
			if resp, err := s.client.Get(u); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		return nil, errRefused
	}
	if chain, ok := h["x5c"].([]any); ok {
		if !s.has(TrustsX5C) || len(chain) == 0 {
			return nil, errRefused
		}
		der, _ := base64.StdEncoding.DecodeString(fmt.Sprint(chain[0]))
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, errRefused
		}
		return cert.PublicKey, nil
	}
	if kid == "" {
		if s.has(TriesAllKeysWithoutKid) {
			return nil, nil
		}
		return nil, errRefused
	}
	k, ok := s.key(ctx, kid)
	if s.has(DiscoversKeysFromIss) {
		k, ok = s.fetchSet(ctx, iss+"/jwks.json")[kid]
	}
	if !ok {
		return nil, errRefused
	}
	if s.has(AlgorithmFromKey) {
		return keyWithAlg{k}, nil
	}
	if k.Algorithm != alg {
		return nil, errRefused
	}
	if _, isEC := k.Public.(*ecdsa.PublicKey); isEC != (alg == "ES256") {
		return nil, errRefused
	}
	return k.Public, nil
}

// keyWithAlg marks a key whose own algorithm verifies, whatever the header says.
type keyWithAlg struct{ jwk.Key }

func (s *server) key(ctx context.Context, kid string) (jwk.Key, bool) {
	s.mu.Lock()
	k, ok := s.keys[kid]
	stale := time.Since(s.fetchedAt) > s.cfg.RefreshInterval
	s.mu.Unlock()
	if ok {
		return k, true
	}
	if stale || s.has(RefetchesJWKSAlways) {
		s.fetch(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok = s.keys[kid]
	return k, ok
}

func (s *server) allKeys(ctx context.Context) []jwk.Key {
	s.key(ctx, "")
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []jwk.Key
	for _, k := range s.keys {
		out = append(out, k)
	}
	return out
}

func (s *server) fetch(ctx context.Context) {
	keys := s.fetchSet(ctx, s.cfg.JWKSURL)
	if keys == nil {
		return
	}
	s.mu.Lock()
	s.keys, s.fetchedAt = keys, time.Now()
	s.mu.Unlock()
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

func (s *server) fetchSet(ctx context.Context, url string) map[string]jwk.Key {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if json.NewDecoder(resp.Body).Decode(&raw) != nil {
		return nil
	}
	// How this server reads a key's stated purpose, flaws included.
	kept := raw.Keys[:0]
	for _, k := range raw.Keys {
		_, hasUse := k["use"]
		switch {
		case s.has(RequiresUse) && !hasUse:
			continue
		case s.has(IgnoresKeyUse):
			delete(k, "use")
		case s.has(IgnoresKeyOps):
			delete(k, "key_ops")
		}
		kept = append(kept, k)
	}
	data, _ := json.Marshal(map[string]any{"keys": kept})
	var set jwk.Set
	if json.Unmarshal(data, &set) != nil {
		return nil
	}
	keys := map[string]jwk.Key{}
	for _, k := range set.Keys {
		keys[k.ID] = k
	}
	return keys
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
