package cases

import (
	"context"
	"fmt"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/target"
)

func missionCases() []attack.Case {
	return []attack.Case{
		{About: attack.About{ID: "M-01", Category: "mission", Severity: attack.High, Expect: attack.Refuse, Source: "RFC 7519 §4.1.3; RFC 8725 §3.9",
			Title:   "Stolen token: valid, but for another service",
			Explain: "A token for Logging, stolen from Logging's traffic, is sent here. It is genuine in every way but aud. Checking aud is what makes a stolen token useless anywhere but where it was meant to go."},
			Run: func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
				owner := otherServer(e, rs)
				// The token is the owner's in every way, its scope included.
				raw, _, _, err := e.BaseFor(ctx, rs, "some-other-service")
				aud := "some-other-service"
				if owner != nil {
					aud = owner.Audience
					raw, _, _, err = e.Base(ctx, owner)
				}
				if err != nil {
					return attack.SkipOrFail(err)
				}
				v := attack.Judge(attack.Refuse, []attack.Observation{e.Send(ctx, rs, attack.Bearer("token for "+aud, raw))})
				if v.Status == attack.Pass && owner == nil {
					v.Reason = "the token's acceptance at its own service was not checked: the target names one resource server"
				}
				if v.Status == attack.Pass && owner != nil {
					// The same token must work where it belongs, or this
					// refusal proves nothing.
					ctrl := e.Send(ctx, owner, attack.Bearer("same token at "+owner.Name, raw))
					v.Observations = append(v.Observations, ctrl)
					if ctrl.Status < 200 || ctrl.Status >= 300 {
						return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("inconclusive: %s refused the token too (%d %s)", owner.Name, ctrl.Status, ctrl.Error), Observations: v.Observations}
					}
				}
				return v
			}},
		{About: attack.About{ID: "M-02", Category: "mission", Severity: attack.High, Expect: attack.Refuse, Source: "RFC 7519 §4.1.4",
			Title:   "Expired token (10 minutes ago)",
			Explain: "exp bounds how long a token works. Past it (plus a small leeway for clock skew) the token is refused, so a leaked token has a short life."},
			Run: attack.Requests(attack.Forged(func(_ *attack.Issuer, _, c map[string]any) {
				now := time.Now()
				c["iat"], c["nbf"], c["exp"] = now.Add(-15*time.Minute).Unix(), now.Add(-15*time.Minute).Unix(), now.Add(-10*time.Minute).Unix()
			}))},
		{About: attack.About{ID: "M-03", Category: "mission", Severity: attack.High, Expect: attack.Refuse, Source: "RFC 7519 §4.1.3",
			Title:   "Wrong audience",
			Explain: "aud names a service that does not exist here. Only tokens whose aud names this service may be accepted."},
			Run: attack.Requests(attack.Forged(func(_ *attack.Issuer, _, c map[string]any) { c["aud"] = "unrelated-service" }))},
		{About: attack.About{ID: "M-04", Category: "mission", Severity: attack.Critical, Expect: attack.Refuse, Source: "RFC 7519 §4.1.1; RFC 8725 §3.8",
			Title:   "Wrong issuer, signed with a trusted key",
			Explain: "The issuer is the trust anchor. A token naming another issuer is refused even when its signature verifies, because keys can be shared or mixed up between issuers."},
			Run: attack.Requests(attack.Forged(func(_ *attack.Issuer, _, c map[string]any) { c["iss"] = "https://evil-issuer.example" }))},
	}
}
