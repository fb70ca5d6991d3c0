package conformance

import (
	"context"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/target"
)

func issuerCases() []Case {
	iss := func(id, title, explain string, sev Severity, change func(ti *testIssuer, c map[string]any)) Case {
		return Case{About: About{ID: id, Category: "issuer", Severity: sev, Expect: Refuse, Source: "RFC 7519 §4.1.1; RFC 8725 §3.8",
			Title:   title,
			Explain: explain},
			Run: requests(forged(func(ti *testIssuer, _, c map[string]any) { change(ti, c) }))}
	}
	return []Case{
		iss("ISS-01", "iss missing", "Without iss nobody vouches for the token; the trust anchor is absent.", High,
			func(_ *testIssuer, c map[string]any) { delete(c, "iss") }),
		iss("ISS-02", "iss differs in letter case", "Issuer identifiers compare exactly, as strings.", Medium,
			func(ti *testIssuer, c map[string]any) { c["iss"] = strings.ToUpper(ti.url) }),
		iss("ISS-03", "iss with a trailing slash", "https://id.example/ and https://id.example are different issuers (RFC 8414 §3.3).", Medium,
			func(ti *testIssuer, c map[string]any) { c["iss"] = ti.url + "/" }),
		iss("ISS-04", "iss is a number", "iss is a string; a verifier that converts types may compare garbage.", Medium,
			func(_ *testIssuer, c map[string]any) { c["iss"] = 1 }),
		{About: About{ID: "ISS-05", Category: "issuer", Severity: Critical, Expect: Refuse, Source: "RFC 8725 §3.8",
			Title:   "Another issuer's token, signed with that issuer's key",
			Explain: "A genuine token from a different issuer (its own key, its own iss) is refused: trusting one issuer means trusting only its keys."},
			Run: requests(func(ctx context.Context, e *env, rs *target.ResourceServer) ([]attempt, error) {
				if e.issuer == nil {
					return nil, errNeedsTestIssuer
				}
				k := e.issuer.other
				c := e.issuer.claims(rs, time.Now())
				c["iss"] = e.issuer.url + "/other"
				tok, err := sign(k.Signer, k.Algorithm, e.issuer.header(k), c)
				return []attempt{bearer("other issuer", tok)}, err
			})},
	}
}
