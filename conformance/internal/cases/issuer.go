package cases

import (
	"context"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/target"
)

func issuerCases() []attack.Case {
	iss := func(id, title, explain string, sev attack.Severity, change func(ti *attack.Issuer, c map[string]any)) attack.Case {
		return attack.Case{About: attack.About{ID: id, Category: "issuer", Severity: sev, Expect: attack.Refuse, Source: "RFC 7519 §4.1.1; RFC 8725 §3.8",
			Title:   title,
			Explain: explain},
			Run: attack.Requests(attack.Forged(func(ti *attack.Issuer, _, c map[string]any) { change(ti, c) }))}
	}
	return []attack.Case{
		iss("ISS-01", "iss missing", "Without iss nobody vouches for the token; the trust anchor is absent.", attack.High,
			func(_ *attack.Issuer, c map[string]any) { delete(c, "iss") }),
		iss("ISS-02", "iss differs in letter case", "Issuer identifiers compare exactly, as strings.", attack.Medium,
			func(ti *attack.Issuer, c map[string]any) { c["iss"] = strings.ToUpper(ti.URL) }),
		iss("ISS-03", "iss with a trailing slash", "https://id.example/ and https://id.example are different issuers (RFC 8414 §3.3).", attack.Medium,
			func(ti *attack.Issuer, c map[string]any) { c["iss"] = ti.URL + "/" }),
		iss("ISS-04", "iss is a number", "iss is a string; a verifier that converts types may compare garbage.", attack.Medium,
			func(_ *attack.Issuer, c map[string]any) { c["iss"] = 1 }),
		// The audience near-misses, at iss: each was accepted by some
		// library's issuer check while its aud check held.
		iss("ISS-06", "iss with surrounding whitespace", "Trimming before comparing is not exact comparison: ' https://id.example ' names no issuer.", attack.Medium,
			func(ti *attack.Issuer, c map[string]any) { c["iss"] = " " + ti.URL + " " }),
		iss("ISS-07", "iss is an array holding the issuer", "iss is one string. A verifier that takes an array and looks for the issuer in it (fast-jwt, CVE-2025-30144) lets a token name several issuers and pass for each.", attack.High,
			func(ti *attack.Issuer, c map[string]any) { c["iss"] = []any{ti.URL, "https://evil-issuer.example"} }),
		iss("ISS-08", "iss is a part of the issuer", "A containment check ('is iss in the expected issuer?', PyJWT CVE-2024-53861) accepts any substring, such as the issuer without its last character.", attack.High,
			func(ti *attack.Issuer, c map[string]any) { c["iss"] = ti.URL[:len(ti.URL)-1] }),
		iss("ISS-09", "iss has the issuer as a prefix", "A prefix match (startsWith) would let https://id.example.evil.example through, an issuer anyone can register.", attack.High,
			func(ti *attack.Issuer, c map[string]any) { c["iss"] = ti.URL + ".evil.example" }),
		{About: attack.About{ID: "ISS-05", Category: "issuer", Severity: attack.Critical, Expect: attack.Refuse, Source: "RFC 8725 §3.8",
			Title:   "Another issuer's token, signed with that issuer's key",
			Explain: "A genuine token from a different issuer (its own key, its own iss) is refused: trusting one issuer means trusting only its keys."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				if e.Issuer == nil {
					return nil, attack.ErrNeedsTestIssuer
				}
				k := e.Issuer.Other
				c := e.Issuer.Claims(rs, time.Now())
				c["iss"] = e.Issuer.URL + "/other"
				tok, err := attack.Sign(k.Signer, k.Algorithm, e.Issuer.Header(rs, k), c)
				return []attack.Attempt{attack.Bearer("other issuer", tok)}, err
			})},
	}
}
