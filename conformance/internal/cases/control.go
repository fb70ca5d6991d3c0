package cases

import (
	"context"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
)

func controlCases() []attack.Case {
	return []attack.Case{
		{About: attack.About{ID: baseControlID, Category: "control", Severity: attack.High, Expect: attack.Accept, Source: "RFC 9068 §4",
			Title:   "A valid token is accepted",
			Explain: "The positive control. Every attack below is this token with one thing wrong; if this one is refused, no refusal below means anything."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				raw, _, _, err := e.Base(ctx, rs)
				return []attack.Attempt{attack.Bearer("valid token", raw)}, err
			})},
		{About: attack.About{ID: "CTRL-02", Category: "control", Severity: attack.Medium, Expect: attack.Accept, Source: "RFC 7519 §4.1.3",
			Title:   "aud as an array that contains the service",
			Explain: "aud may be a string or an array of strings; a token for several audiences that include this service is for this service."},
			Run: attack.Requests(attack.Forged(func(_ *attack.Issuer, _, c map[string]any) { c["aud"] = []any{"some-other-service", audienceOf(c)} }))},
		{About: attack.About{ID: "CTRL-03", Category: "control", Severity: attack.Low, Expect: attack.Accept, Source: "RFC 7519 §4.1.4-5 (\"some small leeway\")",
			Title:   "iat and nbf 2 s in the future, within clock-skew leeway",
			Explain: "Clocks drift. RFC 7519 allows a small leeway, and without any, a token from an issuer whose clock runs 2 s ahead is refused: an outage waiting for a clock to drift. An interoperability finding, not a security one (TIME-08 reports the leeway measured)."},
			Run: attack.Requests(attack.Forged(func(_ *attack.Issuer, _, c map[string]any) {
				t := time.Now().Add(2 * time.Second).Unix()
				c["iat"], c["nbf"] = t, t
			}))},
		{About: attack.About{ID: "CTRL-04", Category: "control", Severity: attack.High, Expect: attack.Accept, Source: "RFC 7517 §4.5",
			Title:   "A token signed by the issuer's second (rotated) key",
			Explain: "Issuers rotate keys and publish old and new side by side. A verifier must pick the key by kid from the whole set, or every rotation becomes an outage."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				if e.Issuer == nil {
					return nil, attack.ErrNeedsTestIssuer
				}
				k := e.Issuer.Rotated
				tok, err := attack.Sign(k.Signer, k.Algorithm, e.Issuer.Header(rs, k), e.Issuer.Claims(rs, time.Now()))
				return []attack.Attempt{attack.Bearer("rotated kid", tok)}, err
			})},
		{About: attack.About{ID: "CTRL-05", Category: "control", Severity: attack.Medium, Expect: attack.Accept, Source: "RFC 7519 §4.3; RFC 7515 §4",
			Title:   "Extra claims and extra header parameters",
			Explain: "Tokens may carry claims and headers a verifier does not know; unless listed in crit, they are ignored, not a reason to refuse."},
			Run: attack.Requests(attack.Forged(func(_ *attack.Issuer, h, c map[string]any) {
				h["x-trace"] = "conformance"
				c["tenant"], c["roles"] = "acme", []string{"reader"}
			}))},
		{About: attack.About{ID: finalControlID, Category: "control", Severity: attack.High, Expect: attack.Accept, Source: "availability",
			Title:   "A fresh valid token still works after all attacks",
			Explain: "A server that survives the attacks by falling over, or by locking everyone out, has not passed them."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				raw, _, _, err := e.Base(ctx, rs)
				return []attack.Attempt{attack.Bearer("fresh token", raw)}, err
			})},
		{About: attack.About{ID: "CTRL-07", Category: "control", Severity: attack.Low, Expect: attack.Accept, Source: "RFC 9068 §2.1; RFC 7515 §4.1.9",
			Title:   "typ application/at+jwt (the full media type)",
			Explain: "typ may carry the full media type; application/at+jwt and at+jwt name the same thing."},
			Run: attack.Requests(attack.Forged(func(_ *attack.Issuer, h, _ map[string]any) { h["typ"] = "application/at+jwt" }))},
		{About: attack.About{ID: "CTRL-08", Category: "control", Severity: attack.Low, Expect: attack.Accept, Source: "RFC 9110 §11.1",
			Title:   "Authorization scheme in lower case (bearer)",
			Explain: "HTTP authentication scheme names are case-insensitive; 'bearer' is 'Bearer'."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				raw, _, _, err := e.Base(ctx, rs)
				return []attack.Attempt{{Label: "bearer scheme", Authorization: "bearer " + raw}}, err
			})},
		{About: attack.About{ID: "CTRL-09", Category: "control", Severity: attack.Low, Expect: attack.Accept, Source: "RFC 7517 §4.2",
			Title:   "A key published without use verifies",
			Explain: "use is optional in a JWKS; many issuers omit it. A verifier that refuses every key without use: sig cannot talk to them (an interoperability failure, not a security one)."},
			Run: attack.Requests(signedByRole(testissuer.NoUse, "key without use"))},
	}
}

// otherAudience is another resource server's audience, for stolen tokens.
func otherServer(e *attack.Kit, rs *target.ResourceServer) *target.ResourceServer {
	for i := range e.Target.ResourceServers {
		if other := &e.Target.ResourceServers[i]; other.Audience != rs.Audience {
			return other
		}
	}
	return nil
}
