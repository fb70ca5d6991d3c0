package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/target"
)

func timeCases() []Case {
	tc := func(id, title, explain string, sev Severity, change func(c map[string]any, now time.Time)) Case {
		return Case{About: About{ID: id, Category: "time", Severity: sev, Expect: Refuse, Source: "RFC 7519 §4.1.4-6; RFC 9068 §4",
			Title:   title,
			Explain: explain},
			Run: requests(forged(func(_ *testIssuer, _, c map[string]any) { change(c, time.Now()) }))}
	}
	return []Case{
		tc("TIME-01", "exp missing", "A token without exp never expires: one leak is forever. Access tokens must carry exp.", High,
			func(c map[string]any, _ time.Time) { delete(c, "exp") }),
		tc("TIME-02", "exp 45 s ago, just past any allowed leeway", "Leeway is for clock skew (at most 30 s here), not an extension of the token's life.", High,
			func(c map[string]any, now time.Time) {
				c["iat"], c["nbf"], c["exp"] = now.Add(-5*time.Minute).Unix(), now.Add(-5*time.Minute).Unix(), now.Add(-45*time.Second).Unix()
			}),
		tc("TIME-03", "exp is a word", "exp is a JSON number of seconds; \"tomorrow\" is malformed.", Medium,
			func(c map[string]any, _ time.Time) { c["exp"] = "tomorrow" }),
		tc("TIME-04", "exp is a numeric string", "\"9999999999\" is a string, not a NumericDate; lenient parsing hides type confusion.", Medium,
			func(c map[string]any, now time.Time) { c["exp"] = fmt.Sprint(now.Add(time.Hour).Unix()) }),
		tc("TIME-05", "nbf 10 minutes in the future", "nbf says when a token starts to work; before it, the token is refused.", Medium,
			func(c map[string]any, now time.Time) { c["nbf"] = now.Add(10 * time.Minute).Unix() }),
		tc("TIME-06", "iat 10 minutes in the future", "A token issued in the future comes from a broken or forged issuer clock.", Medium,
			func(c map[string]any, now time.Time) { c["iat"] = now.Add(10 * time.Minute).Unix() }),
		tc("TIME-07", "exp is null", "null is not a time; a verifier that reads it as zero or as absent-but-fine is wrong either way.", Medium,
			func(c map[string]any, _ time.Time) { c["exp"] = nil }),
		{About: About{ID: "TIME-08", Category: "time", Severity: Medium, Expect: Refuse, Source: "RFC 7519 §4.1.4-6; RFC 8725 §3.10",
			Title:   "Effective clock-skew leeway of exp, nbf and iat, measured",
			Explain: "Leeway absorbs clock skew of seconds. A library with a fixed five-minute allowance for nbf, or none for iat, passes the 10-minute cases and still accepts tokens from a clock minutes off. The suite bisects each bound up to 10 minutes, reports it, and fails any above the target's max_leeway (60 s unless set); the figures include the clock difference between the suite and the server."},
			Run: measureLeeway},
		{About: About{ID: "TIME-09", Category: "time", Severity: High, Expect: Refuse, Source: "RFC 7519 §2 (NumericDate); RFC 8725 §3.11",
			Title:   "exp of 0, negative, or too large for any number type",
			Explain: "exp 0 is 1970; a verifier that reads 0 as 'not set' (a common zero-value bug) accepts the token forever. A value past float64 (1e400) must be refused, not parsed as infinity or zero."},
			Run: requests(func(ctx context.Context, e *env, rs *target.ResourceServer) ([]attempt, error) {
				if e.issuer == nil {
					return nil, errNeedsTestIssuer
				}
				var out []attempt
				for _, exp := range []string{"0", "-1", "1e400", "-1e400"} {
					c := e.issuer.claims(rs, time.Now())
					delete(c, "exp")
					body, _ := json.Marshal(c)
					claims := fmt.Sprintf(`%s,"exp":%s}`, body[:len(body)-1], exp)
					hdr, _ := marshalSegment(e.issuer.header(e.issuer.primary))
					payload, _ := marshalSegment(claims)
					tok, err := signSegments(e.issuer.primary.Signer, e.issuer.primary.Algorithm, hdr, payload)
					if err != nil {
						return nil, err
					}
					out = append(out, bearer("exp "+exp, tok))
				}
				return out, nil
			})},
	}
}

// Bounds of the leeway measurement.
const (
	leewayProbeMax   = 10 * time.Minute
	leewayBisections = 9 // 600 s / 2^9: about 1.2 s
)

// measureLeeway is TIME-08: for exp (in the past), nbf and iat (in the
// future) it finds by bisection the largest offset the server accepts.
func measureLeeway(ctx context.Context, e *env, rs *target.ResourceServer) verdict {
	if e.issuer == nil {
		return skipOrFail(errNeedsTestIssuer)
	}
	limit := e.target.Leeway()
	bounds := []struct {
		claim string
		set   func(c map[string]any, now time.Time, d time.Duration)
	}{
		{"exp", func(c map[string]any, now time.Time, d time.Duration) {
			c["iat"], c["nbf"], c["exp"] = now.Add(-d-time.Minute).Unix(), now.Add(-d-time.Minute).Unix(), now.Add(-d).Unix()
		}},
		{"nbf", func(c map[string]any, now time.Time, d time.Duration) { c["nbf"] = now.Add(d).Unix() }},
		{"iat", func(c map[string]any, now time.Time, d time.Duration) { c["iat"] = now.Add(d).Unix() }},
	}
	var found, over []string
	var obs []Observation
	for _, b := range bounds {
		accepts := func(d time.Duration) (bool, Observation) {
			c := e.issuer.claims(rs, time.Now())
			b.set(c, time.Now(), d)
			tok, err := e.forge(e.issuer.header(e.issuer.primary), c)
			if err != nil {
				return false, Observation{Label: b.claim, Error: err.Error()}
			}
			o := e.send(ctx, rs, bearer(fmt.Sprintf("%s off by %s", b.claim, d), tok))
			return o.Status >= 200 && o.Status < 300, o
		}
		// The control is a plainly valid token (exp a minute ahead, nbf and
		// iat a minute ago); a strict verifier may refuse offset 0 itself.
		if ok, o := accepts(-time.Minute); !ok {
			return verdict{Fail, fmt.Sprintf("inconclusive: a valid token (%s a minute inside its bound) was refused (%d %s)", b.claim, o.Status, o.Error), []Observation{o}}
		}
		if ok, o := accepts(leewayProbeMax); ok {
			over = append(over, fmt.Sprintf("%s accepted %s off", b.claim, leewayProbeMax))
			obs = append(obs, o)
			continue
		}
		lo, hi := time.Duration(0), leewayProbeMax
		for range leewayBisections {
			mid := (lo + hi) / 2
			if ok, _ := accepts(mid); ok {
				lo = mid
			} else {
				hi = mid
			}
		}
		found = append(found, fmt.Sprintf("%s %s", b.claim, lo.Round(time.Second)))
		if lo > limit {
			over = append(over, fmt.Sprintf("%s accepted about %s off", b.claim, lo.Round(time.Second)))
		}
	}
	summary := "effective leeway: " + strings.Join(found, ", ")
	if len(over) > 0 {
		return verdict{Fail, fmt.Sprintf("%s; above max_leeway %s: %s", summary, limit, strings.Join(over, "; ")), obs}
	}
	return verdict{Pass, summary + " (±1.2 s, clock difference included)", nil}
}
