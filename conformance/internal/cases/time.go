package cases

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/target"
)

func timeCases() []attack.Case {
	tc := func(id, title, explain string, sev attack.Severity, change func(c map[string]any, now time.Time)) attack.Case {
		return attack.Case{About: attack.About{ID: id, Category: "time", Severity: sev, Expect: attack.Refuse, Source: "RFC 7519 §4.1.4-6; RFC 9068 §4",
			Title:   title,
			Explain: explain},
			Run: attack.Requests(attack.Forged(func(_ *attack.Issuer, _, c map[string]any) { change(c, time.Now()) }))}
	}
	return []attack.Case{
		tc("TIME-01", "exp missing", "A token without exp never expires: one leak is forever. Access tokens must carry exp.", attack.High,
			func(c map[string]any, _ time.Time) { delete(c, "exp") }),
		{About: attack.About{ID: "TIME-02", Category: "time", Severity: attack.High, Expect: attack.Refuse, Source: "RFC 7519 §4.1.4-6; RFC 9068 §4",
			Title:   "exp just past the largest leeway the target allows (max_leeway + 15 s ago)",
			Explain: "Leeway is for clock skew, not an extension of the token's life: once exp and the server's leeway have passed, the token is refused. The suite goes 15 s past the target's max_leeway (60 s unless set), so a server within its documented leeway passes and one with minutes of it does not."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				past := e.Target.Leeway() + 15*time.Second
				return attack.Forged(func(_ *attack.Issuer, _, c map[string]any) {
					now := time.Now()
					c["iat"], c["nbf"], c["exp"] = now.Add(-5*time.Minute-past).Unix(), now.Add(-5*time.Minute-past).Unix(), now.Add(-past).Unix()
				})(ctx, e, rs)
			})},
		tc("TIME-03", "exp is a word", "exp is a JSON number of seconds; \"tomorrow\" is malformed.", attack.Medium,
			func(c map[string]any, _ time.Time) { c["exp"] = "tomorrow" }),
		tc("TIME-04", "exp is a numeric string", "\"9999999999\" is a string, not a NumericDate; lenient parsing hides type confusion.", attack.Medium,
			func(c map[string]any, now time.Time) { c["exp"] = fmt.Sprint(now.Add(time.Hour).Unix()) }),
		tc("TIME-05", "nbf 10 minutes in the future", "nbf says when a token starts to work; before it, the token is refused.", attack.Medium,
			func(c map[string]any, now time.Time) { c["nbf"] = now.Add(10 * time.Minute).Unix() }),
		tc("TIME-06", "iat 10 minutes in the future", "A token issued in the future comes from a broken or forged issuer clock.", attack.Medium,
			func(c map[string]any, now time.Time) { c["iat"] = now.Add(10 * time.Minute).Unix() }),
		tc("TIME-07", "exp is null", "null is not a time; a verifier that reads it as zero or as absent-but-fine is wrong either way.", attack.Medium,
			func(c map[string]any, _ time.Time) { c["exp"] = nil }),
		{About: attack.About{ID: "TIME-08", Category: "time", Severity: attack.Medium, Expect: attack.Refuse, Source: "RFC 7519 §4.1.4-6; RFC 8725 §3.10",
			Title:   "Effective clock-skew leeway of exp, nbf and iat, measured",
			Explain: "Leeway absorbs clock skew of seconds. A library with a fixed five-minute allowance for nbf, or none for iat, passes the 10-minute cases and still accepts tokens from a clock minutes off. The suite bisects each bound up to 10 minutes, reports it, and fails any above the target's max_leeway (60 s unless set); the figures include the clock difference between the suite and the server."},
			Run: measureLeeway},
		{About: attack.About{ID: "TIME-09", Category: "time", Severity: attack.High, Expect: attack.Refuse, Source: "RFC 7519 §2 (NumericDate); RFC 8725 §3.11",
			Title:   "exp of 0, negative, or too large for any number type",
			Explain: "exp 0 is 1970; a verifier that reads 0 as 'not set' (a common zero-value bug) accepts the token forever. A value past float64 (1e400) must be refused, not parsed as infinity or zero."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				if e.Issuer == nil {
					return nil, attack.ErrNeedsTestIssuer
				}
				var out []attack.Attempt
				for _, exp := range []string{"0", "-1", "1e400", "-1e400"} {
					c := e.Issuer.Claims(rs, time.Now())
					delete(c, "exp")
					body, _ := json.Marshal(c)
					claims := fmt.Sprintf(`%s,"exp":%s}`, body[:len(body)-1], exp)
					hdr, _ := attack.MarshalSegment(e.Issuer.Header(rs, e.Issuer.Primary))
					payload, _ := attack.MarshalSegment(claims)
					tok, err := attack.SignSegments(e.Issuer.Primary.Signer, e.Issuer.Primary.Algorithm, hdr, payload)
					if err != nil {
						return nil, err
					}
					out = append(out, attack.Bearer("exp "+exp, tok))
				}
				return out, nil
			})},
		numericDateTypes("TIME-11", "nbf"),
		numericDateTypes("TIME-12", "iat"),
		{About: attack.About{ID: "TIME-10", Category: "time", Severity: attack.Medium, Expect: attack.Refuse, Source: "RFC 8725 §3.10; RFC 9068 §5; Kubernetes TokenRequest",
			Title:   "A token that lives longer than the server allows (max_lifetime + 10 min, and ten years)",
			Explain: "exp bounds what a stolen token is worth, but only if someone bounds exp: a token minted for ten years, by a misconfigured or compromised issuer, is a permanent credential. A verifier caps the lifetime it accepts (the target's max_lifetime, an hour unless set) and refuses a token whose exp lies beyond it."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				var out []attack.Attempt
				for _, ahead := range []struct {
					label string
					life  time.Duration
				}{{"exp max_lifetime + 10 min ahead", rs.Token.Lifetime() + 10*time.Minute}, {"exp ten years ahead", 10 * 365 * 24 * time.Hour}} {
					attempts, err := attack.ForgedAs(ahead.label, func(_ *attack.Issuer, _, c map[string]any) {
						c["exp"] = time.Now().Add(ahead.life).Unix()
					})(ctx, e, rs)
					if err != nil {
						return nil, err
					}
					out = append(out, attempts...)
				}
				return out, nil
			})},
	}
}

// Bounds of the leeway measurement.
const (
	leewayProbeMax   = 10 * time.Minute
	leewayBisections = 9 // 600 s / 2^9: about 1.2 s
	// leewayResolution is what the measurement cannot tell apart: one
	// bisection step, and the second NumericDates are truncated to. A
	// server at exactly max_leeway can measure that much above it.
	leewayResolution = leewayProbeMax>>leewayBisections + time.Second
)

// measureLeeway is TIME-08: for exp (in the past), nbf and iat (in the
// future) it finds by bisection the largest offset the server accepts.
func measureLeeway(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
	if e.Issuer == nil {
		return attack.SkipOrFail(attack.ErrNeedsTestIssuer)
	}
	limit := e.Target.Leeway()
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
	var obs []attack.Observation
	for _, b := range bounds {
		accepts := func(d time.Duration) (bool, attack.Observation) {
			c := e.Issuer.Claims(rs, time.Now())
			b.set(c, time.Now(), d)
			tok, err := e.Forge(e.Issuer.Header(rs, e.Issuer.Primary), c)
			if err != nil {
				return false, attack.Observation{Label: b.claim, Error: err.Error()}
			}
			o := e.Send(ctx, rs, attack.Bearer(fmt.Sprintf("%s off by %s", b.claim, d), tok))
			return o.Status >= 200 && o.Status < 300, o
		}
		// The control is a plainly valid token (exp a minute ahead, nbf and
		// iat a minute ago); a strict verifier may refuse offset 0 itself.
		if ok, o := accepts(-time.Minute); !ok {
			return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("inconclusive: a valid token (%s a minute inside its bound) was refused (%d %s)", b.claim, o.Status, o.Error), Observations: []attack.Observation{o}}
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
		if lo > limit+leewayResolution {
			over = append(over, fmt.Sprintf("%s accepted about %s off", b.claim, lo.Round(time.Second)))
		}
	}
	summary := "effective leeway: " + strings.Join(found, ", ")
	if len(over) > 0 {
		return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("%s; above max_leeway %s: %s", summary, limit, strings.Join(over, "; ")), Observations: obs}
	}
	return attack.Verdict{Status: attack.Pass, Reason: summary + " (±1.2 s, clock difference included)"}
}

// numericDateTypes is the type-confusion class for a NumericDate claim:
// ten minutes ahead, which a server that reads the claim refuses, written
// as each JSON type that can carry it and is not a number (null and
// booleans carry no time: accepting them shows leniency, not harm). A server that skips a claim it
// cannot read (Rust's jsonwebtoken, CVE-2026-25537: nbf as a string) or
// reads a string as a number where a number is required accepts one.
func numericDateTypes(id, claim string) attack.Case {
	return attack.Case{About: attack.About{ID: id, Category: "time", Severity: attack.Medium, Expect: attack.Refuse,
		Source:  "RFC 7519 §2 (NumericDate), §4.1.5-6; CVE-2026-25537",
		Title:   claim + " ten minutes ahead, as a string, an array and an object",
		Explain: claim + " is a JSON number. Written as anything else, it is malformed and the token refused; a verifier that skips what it cannot read accepts a token its issuer said is not valid yet."},
		Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
			ahead := time.Now().Add(10 * time.Minute).Unix()
			var out []attack.Attempt
			for _, v := range []struct {
				label string
				value any
			}{
				{"a numeric string", fmt.Sprint(ahead)}, {"an array", []any{ahead}}, {"an object", map[string]any{"seconds": ahead}},
			} {
				attempts, err := attack.ForgedAs(claim+" as "+v.label, func(_ *attack.Issuer, _, c map[string]any) { c[claim] = v.value })(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				out = append(out, attempts...)
			}
			return out, nil
		})}
}
