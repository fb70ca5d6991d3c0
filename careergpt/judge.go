package careergpt

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// proofChecks are what CareerGPT can tell of DPoP from a bound token and
// the proof sent with it.
func proofChecks(token, proof *TokenView) []Check {
	if token == nil {
		return nil
	}
	cnf, _ := token.Claims["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	if jkt == "" {
		return nil
	}
	if proof == nil {
		return []Check{{Name: "sent with a DPoP proof (the token is bound to a key)", OK: false}}
	}
	data, _ := json.Marshal(proof.Header["jwk"])
	var key jwk.Key
	thumb := ""
	if json.Unmarshal(data, &key) == nil {
		thumb, _ = jwk.Thumbprint(key.Public)
	}
	return []Check{
		{Name: "sent with a DPoP proof (the token is bound to a key)", OK: true},
		{Name: "proof signed by the key the token is bound to (cnf.jkt)", OK: thumb == jkt},
	}
}

// workloadChecks are what CareerGPT can tell of a WIMSE call: a WPT went
// with the WIT, made for this request's URI, and not used before.
func workloadChecks(wit, wpt *TokenView, target, reasonCode string) []Check {
	if wit == nil {
		return nil
	}
	if wpt == nil {
		return []Check{{Name: "sent with a Workload-Proof-Token (the WIT alone proves nothing)", OK: false}}
	}
	aud, _ := wpt.Claims["aud"].(string)
	if u, err := url.Parse(target); err == nil {
		u.RawQuery, u.Fragment = "", ""
		target = u.String()
	}
	return []Check{
		{Name: "sent with a Workload-Proof-Token (the WIT alone proves nothing)", OK: true},
		{Name: "WPT's aud is this request's URI " + target, OK: aud == target},
		{Name: "WPT not used before (its jti is single-use)", OK: reasonCode != "wpt_replayed"},
	}
}

// checks lists the checks the receiver makes and how this token fares in
// each, as CareerGPT can tell from the token, the issuer's JWKS and the answer.
func (s *Server) checks(ctx context.Context, t *TokenView, receiver, reasonCode string) []Check {
	kid, _ := t.Header["kid"].(string)
	_, keyErr := s.jwks.Key(ctx, kid)
	iss, _ := t.Claims["iss"].(string)
	exp, _ := t.Claims["exp"].(float64)
	var auds []string
	switch a := t.Claims["aud"].(type) {
	case string:
		auds = []string{a}
	case []any:
		for _, v := range a {
			if s, ok := v.(string); ok {
				auds = append(auds, s)
			}
		}
	}
	checks := []Check{
		{"signed by a key Identity publishes (kid " + kid + ")", keyErr == nil},
		{"iss is the trusted issuer " + s.cfg.IdentityURL, iss == s.cfg.IdentityURL},
		{"aud names " + receiver, slices.Contains(auds, receiver)},
		{"not expired (exp + leeway)", s.deps.Now().Before(time.Unix(int64(exp), 0).Add(s.cfg.PeerLeeway))},
	}
	if receiver == NotificationAudience {
		checks = append(checks, Check{"jti not used before (single-use)", reasonCode != authn.ReasonReplayed})
	}
	return checks
}

// decodeToken shows a token's header and claims, without its signature.
func decodeToken(raw string) *TokenView {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil
	}
	v := &TokenView{}
	for i, dst := range []*map[string]any{&v.Header, &v.Claims} {
		data, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(data, dst) != nil {
			return nil
		}
	}
	v.JTI, _ = v.Claims["jti"].(string)
	return v
}
