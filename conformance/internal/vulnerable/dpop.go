package vulnerable

import (
	"cmp"
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

// checkDPoP is RFC 9449 §4.3 and §7, less the flaw's check.
func (s *server) checkDPoP(r *http.Request, dpop bool, token string, claims map[string]any) error {
	cnf, _ := claims["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	proof := r.Header.Get("DPoP")
	if len(r.Header.Values("DPoP")) > 1 && !s.has(DPoPFirstHeaderWins) {
		return fmt.Errorf("%w: several DPoP headers", errRefused)
	}
	switch {
	case !dpop && jkt != "" && !s.has(DPoPBearerAllowed):
		return fmt.Errorf("%w: bound token as bearer", errRefused)
	case !dpop:
		return nil
	case jkt == "":
		return fmt.Errorf("%w: DPoP scheme, unbound token", errRefused)
	case proof == "" && s.has(DPoPProofOptional):
		return nil
	}
	parts := strings.Split(proof, ".")
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
	if typ, _ := h["typ"].(string); typ != "dpop+jwt" && !s.has(DPoPIgnoresTyp) {
		return errRefused
	}
	raw, _ := json.Marshal(h["jwk"])
	var members map[string]any
	_ = json.Unmarshal(raw, &members)
	if _, private := members["d"]; private && !s.has(DPoPAcceptsPrivateJWK) {
		return errRefused
	}
	delete(members, "d")
	raw, _ = json.Marshal(members)
	var key jwk.Key
	if err := json.Unmarshal(raw, &key); err != nil {
		return errRefused
	}
	alg, _ := h["alg"].(string)
	switch {
	case alg == "none" && s.has(DPoPAcceptsNone), alg == "HS256" && s.has(DPoPAcceptsHS256):
	case alg != key.Algorithm:
		return errRefused
	case s.has(DPoPSkipsProofSignature):
	default:
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil || jwt.GetSigningMethod(alg).Verify(parts[0]+"."+parts[1], sig, key.Public) != nil {
			return errRefused
		}
	}
	if thumb, _ := jwk.Thumbprint(key.Public); thumb != jkt && !s.has(DPoPIgnoresBinding) {
		return errRefused
	}
	if err := s.checkProofClaims(r, c); err != nil {
		return err
	}
	iat, ok, err := s.numericDate(c, "iat")
	now := time.Now()
	switch {
	case !ok && s.has(DPoPClaimsOptional):
	case err != nil || !ok:
		return errRefused
	case iat.Before(now.Add(-65*time.Second)) && !s.has(DPoPNoMaxAge):
		return errRefused
	case iat.After(now.Add(5*time.Second)) && !s.has(DPoPAcceptsFutureIAT):
		return errRefused
	}
	sum := sha256.Sum256([]byte(token))
	ath, hasATH := c["ath"].(string)
	switch {
	case !hasATH && !s.has(DPoPATHOptional):
		return errRefused
	case hasATH && ath != base64.RawURLEncoding.EncodeToString(sum[:]) && !s.has(DPoPIgnoresATH):
		return errRefused
	}
	jti, _ := c["jti"].(string)
	if jti == "" && !s.has(DPoPClaimsOptional) {
		return errRefused
	}
	if nonce, ok := c["nonce"].(string); s.cfg.DPoPNonce && (!ok || nonce != s.nonce && !s.has(DPoPNonceAnyValue)) {
		return errUseNonce
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proofs[jti] && !s.has(DPoPNoProofReplayCheck) {
		return errRefused
	}
	s.proofs[jti] = true
	return nil
}

// checkProofClaims compares htm and htu with the request; htu as RFC 9449
// §4.3 (9) says, scheme and host case-insensitively, default port dropped,
// query ignored.
func (s *server) checkProofClaims(r *http.Request, c map[string]any) error {
	htm, hasHTM := c["htm"].(string)
	htu, hasHTU := c["htu"].(string)
	if s.has(DPoPClaimsOptional) {
		hasHTM, hasHTU = true, true
		htm, htu = cmp.Or(htm, r.Method), cmp.Or(htu, "http://"+r.Host+r.URL.Path)
	}
	if (!hasHTM || htm != r.Method) && !s.has(DPoPIgnoresHTM) {
		return errRefused
	}
	u, err := url.Parse(htu)
	same := err == nil && strings.EqualFold(u.Scheme, "http") && strings.EqualFold(u.Host, r.Host) && u.EscapedPath() == r.URL.Path
	if s.has(DPoPHTUExact) {
		same = htu == "http://"+r.Host+r.URL.Path
	}
	if (!hasHTU || !same) && !s.has(DPoPIgnoresHTU) {
		return errRefused
	}
	return nil
}
