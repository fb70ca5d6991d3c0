package vulnerable

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// WIMSE flaws: each skips one check of a WIT (draft-ietf-wimse-workload-creds-02)
// or its WPT (draft-ietf-wimse-wpt-01), or answers refusals in another form.
const (
	WPTOptional             Flaw = "accepts a WIT without its WPT"
	WITAsBearer             Flaw = "accepts a WIT as a bearer token"
	WPTAudPathOnly          Flaw = "compares a WPT's aud by its path only"
	WPTAudStripsQuery       Flaw = "drops query and fragment from a WPT's aud before comparing"
	WPTIgnoresExp           Flaw = "accepts expired WPTs"
	WPTAcceptsFutureIAT     Flaw = "accepts WPTs issued in the future"
	WPTNoMaxLifetime        Flaw = "accepts WPTs of any lifetime"
	WPTNoReplayCheck        Flaw = "does not remember WPT jtis"
	WPTSkipsSignature       Flaw = "does not verify a WPT's signature"
	WPTAlgFromHeader        Flaw = "verifies a WPT under its own alg, not cnf.jwk's"
	WPTWTHOptional          Flaw = "accepts WPTs without wth"
	WPTIgnoresWTH           Flaw = "does not compare wth with the WIT"
	WPTATHOptional          Flaw = "accepts WPTs without ath beside an access token"
	WPTIgnoresATH           Flaw = "does not compare a WPT's ath with the access token"
	WITCnfOptional          Flaw = "accepts a WIT without cnf, skipping the proof"
	WITAcceptsPrivateJWK    Flaw = "accepts a WIT whose cnf.jwk holds private members"
	WITJWKAlgOptional       Flaw = "infers a WIT's key algorithm when cnf.jwk has no alg"
	WITAcceptsNone          Flaw = "accepts unsigned WITs"
	WITAcceptsHS256         Flaw = "accepts HS256 WITs unchecked"
	WITDiscoversKeysFromIss Flaw = "verifies a WIT with keys discovered from its iss"
	WITAnyTrustDomain       Flaw = "accepts a WIT naming a workload of any trust domain"
	WITIgnoresTyp           Flaw = "accepts WITs of any typ"
	WPTFirstHeaderWins      Flaw = "reads the first of several Workload-Proof-Token headers"
	WIMSERefusesWith401     Flaw = "refuses bad WIMSE credentials with a 401 bearer challenge"
	WITIgnoresExp           Flaw = "accepts expired WITs"
	WPTIgnoresTyp           Flaw = "accepts WPTs of any typ"
)

func init() {
	for flaw, ids := range WIMSECatches {
		Catches[flaw] = ids
	}
}

// WIMSECatches are the cases each WIMSE flaw fails, and no other wimse
// case: each case has a broken variant only it catches.
var WIMSECatches = map[Flaw][]string{
	WPTOptional: {"WIMSE-02"}, WPTIgnoresTyp: {"WIMSE-25"}, WITAsBearer: {"WIMSE-03"}, WPTAudPathOnly: {"WIMSE-04"},
	WPTAudStripsQuery: {"WIMSE-05"}, WPTIgnoresExp: {"WIMSE-06"}, WPTAcceptsFutureIAT: {"WIMSE-07"},
	WPTNoMaxLifetime: {"WIMSE-08"}, WPTNoReplayCheck: {"WIMSE-09"}, WPTSkipsSignature: {"WIMSE-10"},
	WPTAlgFromHeader: {"WIMSE-11"}, WPTWTHOptional: {"WIMSE-12"}, WPTIgnoresWTH: {"WIMSE-13"},
	WPTATHOptional: {"WIMSE-14"}, WPTIgnoresATH: {"WIMSE-15"}, WITCnfOptional: {"WIMSE-16"},
	WITAcceptsPrivateJWK: {"WIMSE-17"}, WITJWKAlgOptional: {"WIMSE-18"}, WITAcceptsNone: {"WIMSE-19"},
	WITAcceptsHS256: {"WIMSE-20"}, WITDiscoversKeysFromIss: {"WIMSE-21"}, WITAnyTrustDomain: {"WIMSE-22"},
	WITIgnoresTyp: {"WIMSE-23"}, WPTFirstHeaderWins: {"WIMSE-24"}, WIMSERefusesWith401: {"WIMSE-25"},
	WITIgnoresExp: {"WIMSE-26"},
}

const (
	witHeader = "Workload-Identity-Token"
	wptHeader = "Workload-Proof-Token"
)

// serveWorkload answers a request with WIMSE headers: the WIT, its WPT,
// and the access token beside them, if any.
func (s *server) serveWorkload(w http.ResponseWriter, r *http.Request) {
	refuse := func(why string) {
		if s.has(WIMSERefusesWith401) {
			s.refuse(w, "invalid_token", why)
			return
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": why, "status": http.StatusBadRequest})
	}
	wpts := r.Header.Values(wptHeader)
	if len(wpts) > 1 && !s.has(WPTFirstHeaderWins) {
		refuse("several WPTs")
		return
	}
	wit := r.Header.Get(witHeader)
	key, err := s.verifyWIT(r.Context(), wit)
	if err != nil {
		refuse("bad WIT")
		return
	}
	token := ""
	if scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		token = strings.TrimSpace(rest)
	}
	claims := map[string]any{}
	if token != "" {
		if claims, err = s.verify(r.Context(), token); err != nil {
			s.refuse(w, "invalid_token", err.Error())
			return
		}
	}
	switch {
	case key == nil: // WITCnfOptional: nothing to prove
	case len(wpts) == 0 && s.has(WPTOptional):
	case len(wpts) == 0:
		refuse("no WPT")
		return
	default:
		if err := s.checkWPT(r, wpts[0], *key, wit, token); err != nil {
			refuse("bad WPT")
			return
		}
	}
	s.admit(w, claims)
}

// verifyWIT checks a WIT and returns its cnf.jwk (nil for a WIT without
// cnf, under WITCnfOptional).
func (s *server) verifyWIT(ctx context.Context, wit string) (*jwk.Key, error) {
	parts := strings.Split(wit, ".")
	if len(parts) != 3 {
		return nil, errRefused
	}
	h, err := s.object(parts[0])
	if err != nil {
		return nil, err
	}
	c, err := s.object(parts[1])
	if err != nil {
		return nil, err
	}
	if typ, _ := h["typ"].(string); typ != "wit+jwt" && !s.has(WITIgnoresTyp) {
		return nil, errRefused
	}
	if err := s.witSignature(ctx, h, c, parts); err != nil {
		return nil, err
	}
	exp, ok, err := s.numericDate(c, "exp")
	if err != nil || !ok || exp.Before(time.Now().Add(-5*time.Second)) && !s.has(WITIgnoresExp) {
		return nil, errRefused
	}
	sub, _ := c["sub"].(string)
	td := s.cfg.WIMSE
	if !strings.HasPrefix(sub, "wimse://"+td+"/") && !strings.HasPrefix(sub, "spiffe://"+td+"/") && !s.has(WITAnyTrustDomain) {
		return nil, errRefused
	}
	cnf, _ := c["cnf"].(map[string]any)
	members, ok := cnf["jwk"].(map[string]any)
	switch {
	case !ok && s.has(WITCnfOptional):
		return nil, nil
	case !ok:
		return nil, errRefused
	}
	if _, private := members["d"]; private && !s.has(WITAcceptsPrivateJWK) {
		return nil, errRefused
	}
	if _, hasAlg := members["alg"]; !hasAlg && !s.has(WITJWKAlgOptional) {
		return nil, errRefused
	}
	delete(members, "d")
	raw, _ := json.Marshal(members)
	var key jwk.Key
	if err := json.Unmarshal(raw, &key); err != nil {
		return nil, errRefused
	}
	return &key, nil
}

// witSignature verifies a WIT's signature by its issuer's key: the one
// trusted issuer's, or, under WITDiscoversKeysFromIss, whoever iss names.
func (s *server) witSignature(ctx context.Context, h, c map[string]any, parts []string) error {
	alg, _ := h["alg"].(string)
	iss, _ := c["iss"].(string)
	switch {
	case alg == "none" && s.has(WITAcceptsNone), alg == "HS256" && s.has(WITAcceptsHS256):
		return nil
	case iss != s.cfg.Issuer && !s.has(WITDiscoversKeysFromIss):
		return errRefused
	}
	kid, _ := h["kid"].(string)
	k, ok := s.key(ctx, kid)
	if s.has(WITDiscoversKeysFromIss) {
		k, ok = s.fetchSet(ctx, iss+"/jwks.json")[kid]
	}
	if !ok || k.Algorithm != alg {
		return errRefused
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || jwt.GetSigningMethod(alg).Verify(parts[0]+"."+parts[1], sig, k.Public) != nil {
		return errRefused
	}
	return nil
}

// checkWPT checks a WPT against the WIT's key, the request, the WIT and
// the access token sent with it.
func (s *server) checkWPT(r *http.Request, wpt string, key jwk.Key, wit, token string) error {
	parts := strings.Split(wpt, ".")
	if len(parts) != 3 {
		return errRefused
	}
	h, err := s.object(parts[0])
	if err != nil {
		return err
	}
	c, err := s.object(parts[1])
	if err != nil {
		return err
	}
	alg, _ := h["alg"].(string)
	if typ, _ := h["typ"].(string); typ != "wpt+jwt" && !s.has(WPTIgnoresTyp) || alg != key.Algorithm && !s.has(WPTAlgFromHeader) {
		return errRefused
	}
	if !s.has(WPTSkipsSignature) {
		method := jwt.GetSigningMethod(alg)
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if method == nil || err != nil || method.Verify(parts[0]+"."+parts[1], sig, key.Public) != nil {
			return errRefused
		}
	}
	aud, _ := c["aud"].(string)
	if !s.sameTarget(r, aud) {
		return errRefused
	}
	if err := s.wptTimes(c); err != nil {
		return err
	}
	if err := s.wptHashes(c, wit, token); err != nil {
		return err
	}
	jti, _ := c["jti"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	if jti == "" || s.workloadProofs[jti] && !s.has(WPTNoReplayCheck) {
		return errRefused
	}
	s.workloadProofs[jti] = true
	return nil
}

// sameTarget compares aud with the request's target URI, which it must be
// exactly, without query or fragment.
func (s *server) sameTarget(r *http.Request, aud string) bool {
	if s.has(WPTAudPathOnly) {
		_, rest, _ := strings.Cut(aud, "://")
		_, path, _ := strings.Cut(rest, "/")
		return "/"+path == r.URL.Path
	}
	if s.has(WPTAudStripsQuery) {
		aud, _, _ = strings.Cut(aud, "#")
		aud, _, _ = strings.Cut(aud, "?")
	}
	u, err := url.Parse(aud)
	return err == nil && u.RawQuery == "" && !u.ForceQuery && !strings.Contains(aud, "#") &&
		strings.EqualFold(u.Scheme, "http") && strings.EqualFold(u.Host, r.Host) && u.EscapedPath() == r.URL.Path
}

// wptTimes checks a WPT's exp (not past, at most a minute ahead) and iat
// (not in the future), with 5 s of leeway.
func (s *server) wptTimes(c map[string]any) error {
	now := time.Now()
	exp, ok, err := s.numericDate(c, "exp")
	switch {
	case err != nil || !ok:
		return errRefused
	case exp.Before(now.Add(-5*time.Second)) && !s.has(WPTIgnoresExp):
		return fmt.Errorf("%w: expired WPT", errRefused)
	case exp.After(now.Add(65*time.Second)) && !s.has(WPTNoMaxLifetime):
		return fmt.Errorf("%w: long-lived WPT", errRefused)
	}
	if iat, ok, err := s.numericDate(c, "iat"); err != nil || ok && iat.After(now.Add(5*time.Second)) && !s.has(WPTAcceptsFutureIAT) {
		return errRefused
	}
	return nil
}

// wptHashes checks wth against the WIT and ath against the access token.
func (s *server) wptHashes(c map[string]any, wit, token string) error {
	hash := func(v string) string {
		sum := sha256.Sum256([]byte(v))
		return base64.RawURLEncoding.EncodeToString(sum[:])
	}
	wth, hasWTH := c["wth"].(string)
	switch {
	case !hasWTH && !s.has(WPTWTHOptional):
		return errRefused
	case hasWTH && wth != hash(wit) && !s.has(WPTIgnoresWTH):
		return errRefused
	}
	if token == "" {
		return nil
	}
	ath, hasATH := c["ath"].(string)
	switch {
	case !hasATH && !s.has(WPTATHOptional):
		return errRefused
	case hasATH && ath != hash(token) && !s.has(WPTIgnoresATH):
		return errRefused
	}
	return nil
}

// witAsBearer is WITAsBearer: a bearer token typed wit+jwt is taken as
// the WIT it is, and the caller let in.
func (s *server) witAsBearer(ctx context.Context, token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	h, err := s.object(parts[0])
	if err != nil || h["typ"] != "wit+jwt" {
		return false
	}
	_, err = s.verifyWIT(ctx, token)
	return err == nil
}
