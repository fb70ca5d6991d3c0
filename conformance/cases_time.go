package conformance

import (
	"fmt"
	"time"
)

func timeCases() []Case {
	tc := func(id, title, explain string, sev Severity, change func(c map[string]any, now time.Time)) Case {
		return Case{ID: id, Category: "time", Severity: sev, Expect: Refuse, Source: "RFC 7519 §4.1.4-6; RFC 9068 §4",
			Title: title, Explain: explain,
			attempts: forged(func(_ *testIssuer, _, c map[string]any) { change(c, time.Now()) })}
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
	}
}
