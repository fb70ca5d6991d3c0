package vulnerable

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
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
	default:
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil || jwt.GetSigningMethod(alg).Verify(parts[0]+"."+parts[1], sig, key.Public) != nil {
			return errRefused
		}
	}
	if thumb, _ := jwk.Thumbprint(key.Public); thumb != jkt && !s.has(DPoPIgnoresBinding) {
		return errRefused
	}
	if c["htm"] != r.Method && !s.has(DPoPIgnoresHTM) {
		return errRefused
	}
	if c["htu"] != "http://"+r.Host+r.URL.Path && !s.has(DPoPIgnoresHTU) {
		return errRefused
	}
	iat, ok, err := s.numericDate(c, "iat")
	now := time.Now()
	switch {
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proofs[jti] && !s.has(DPoPNoProofReplayCheck) {
		return errRefused
	}
	s.proofs[jti] = true
	return nil
}
