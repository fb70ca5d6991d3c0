package attack

import (
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/target"
)

// validLifetime is how long the suite's valid tokens live.
const validLifetime = 5 * time.Minute

// Claims builds the claims of a token valid for rs in every respect, in
// the shape of rs's profile (docs/conformance.md, "Token profiles").
func (ti *Issuer) Claims(rs *target.ResourceServer, now time.Time) map[string]any {
	p := rs.Token
	c := map[string]any{
		"sub": p.Sub(), "aud": rs.Audience,
		"iat": now.Unix(), "exp": now.Add(validLifetime).Unix(), "jti": RandomID(),
	}
	switch p.ProfileName() {
	case target.ProfileRFC9068:
		// RFC 9068 §2.2's required claims.
		c["iss"], c["nbf"], c["client_id"] = ti.URL, now.Unix(), target.DefaultClient
	case target.ProfileJWTSVID:
		// What SPIRE issues: sub, aud, exp, iat (and a jti, which the
		// standard permits and single-use servers need). No iss: a
		// JWT-SVID is trusted through its trust domain's bundle.
	case target.ProfileKubernetes:
		// What the TokenRequest API issues for a pod's projected volume.
		c["iss"], c["nbf"], c["aud"] = ti.URL, now.Unix(), []any{rs.Audience}
		c["kubernetes.io"] = map[string]any{
			"namespace":      p.Namespace,
			"serviceaccount": map[string]any{"name": p.ServiceAccount, "uid": "5f3c7a92-1d4e-4b8a-9c61-2e0f8d7b3a14"},
			"pod":            map[string]any{"name": p.ServiceAccount + "-7d9f8c6b5-x2k4q", "uid": "b81e6c2d-94a7-4f35-8e0b-6a1d3c5f7e92"},
		}
	}
	if rs.Scope != "" {
		c["scope"] = rs.Scope
	}
	override(c, p.Claims)
	return c
}

// Header builds the JOSE header of a valid token for rs signed by k.
func (ti *Issuer) Header(rs *target.ResourceServer, k SigningKey) map[string]any {
	h := map[string]any{"alg": k.Algorithm, "kid": k.ID}
	switch rs.Token.ProfileName() {
	case target.ProfileRFC9068:
		h["typ"] = "at+jwt"
	case target.ProfileJWTSVID:
		h["typ"] = "JWT"
	}
	override(h, rs.Token.Header)
	return h
}

// override sets the target's members; a null one is removed.
func override(dst, members map[string]any) {
	for name, v := range members {
		if v == nil {
			delete(dst, name)
		} else {
			dst[name] = v
		}
	}
}
