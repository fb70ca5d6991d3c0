package cases

import (
	"strings"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
)

func audienceCases() []attack.Case {
	aud := func(id, title, explain string, sev attack.Severity, value func(own string) any) attack.Case {
		return attack.Case{About: attack.About{ID: id, Category: "audience", Severity: sev, Expect: attack.Refuse, Source: "RFC 7519 §4.1.3; RFC 9068 §4",
			Title:   title,
			Explain: explain},
			Run: attack.Requests(attack.Forged(func(_ *attack.Issuer, _, c map[string]any) {
				if v := value(audienceOf(c)); v == nil {
					delete(c, "aud")
				} else {
					c["aud"] = sameForm(c["aud"], v)
				}
			}))}
	}
	return []attack.Case{
		aud("AUD-01", "aud missing", "A token without aud is for anyone; an access token must say whom it is for.", attack.High, func(string) any { return nil }),
		aud("AUD-02", "aud is an empty string", "An empty aud names no service, so it cannot name this one.", attack.High, func(string) any { return "" }),
		aud("AUD-03", "aud is an empty array", "An empty list of audiences names no service.", attack.High, func(string) any { return []any{} }),
		aud("AUD-04", "aud array without the service", "Being one of several named audiences counts; being absent from the list does not.", attack.High,
			func(string) any { return []any{"billing-service", "search-service"} }),
		aud("AUD-05", "aud differs in letter case", "Audience values compare exactly: Logging-Service is not logging-service.", attack.High,
			func(own string) any { return strings.ToUpper(own[:1]) + own[1:] }),
		aud("AUD-06", "aud has the service as a prefix", "A prefix match (startsWith) would let logging-service.evil.example through.", attack.High,
			func(own string) any { return own + ".evil.example" }),
		aud("AUD-07", "aud has the service as a suffix", "A suffix or contains match would let evil-logging-service through.", attack.High,
			func(own string) any { return "evil-" + own }),
		aud("AUD-08", "aud is a truncated service name", "A match on a shortened value means the comparison is not exact.", attack.High,
			func(own string) any { return own[:len(own)-1] }),
		aud("AUD-09", "aud is a number", "aud is a string or an array of strings; anything else is malformed.", attack.Medium, func(string) any { return 42 }),
		aud("AUD-10", "aud array holds an object with the service", "A verifier that stringifies array members could match {\"aud\":\"…\"}.", attack.Medium,
			func(own string) any { return []any{map[string]any{"aud": own}} }),
		aud("AUD-11", "aud has surrounding whitespace", "Trimming before comparing is not exact comparison.", attack.Medium,
			func(own string) any { return " " + own + " " }),
	}
}

// audienceOf is a token's one audience, whether aud is a string or an
// array of one (kubernetes); "" for none or several.
func audienceOf(c map[string]any) string {
	switch aud := c["aud"].(type) {
	case string:
		return aud
	case []any:
		if len(aud) == 1 {
			s, _ := aud[0].(string)
			return s
		}
	}
	return ""
}

// sameForm writes a string audience the way the valid token writes aud, so
// the value is the only difference.
func sameForm(own, v any) any {
	if s, ok := v.(string); ok {
		if _, list := own.([]any); list {
			return []any{s}
		}
	}
	return v
}
