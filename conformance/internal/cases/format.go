package cases

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/target"
)

func formatCases() []attack.Case {
	fc := func(id, title, explain, source string, sev attack.Severity, build func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error)) attack.Case {
		return attack.Case{About: attack.About{ID: id, Category: "format and cost", Severity: sev, Expect: attack.Refuse, Source: source,
			Title:   title,
			Explain: explain},
			Run: attack.Requests(build)}
	}
	static := func(label, authorization string) func(context.Context, *attack.Kit, *target.ResourceServer) ([]attack.Attempt, error) {
		return func(context.Context, *attack.Kit, *target.ResourceServer) ([]attack.Attempt, error) {
			return []attack.Attempt{{Label: label, Authorization: authorization}}, nil
		}
	}
	return []attack.Case{
		fc("FMT-01", "Header of many dots", "Splitting a token of tens of thousands of dots allocated memory per dot in golang-jwt; a token's shape must be checked before any work proportional to it.",
			"CVE-2025-30204", attack.Medium, static("20,000 dots", "Bearer e"+strings.Repeat(".", 20000))),
		fc("FMT-02", "Oversized token (64 KiB)", "A token should be small. Without a size limit every request can make the server decode and hash megabytes before refusing.",
			"RFC 8725 §3.1; availability", attack.Medium, func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				if e.Issuer == nil {
					return nil, attack.ErrNeedsTestIssuer
				}
				_, h, c, err := e.Base(ctx, rs)
				if err != nil {
					return nil, err
				}
				c["padding"] = strings.Repeat("A", 64<<10)
				tok, err := e.Forge(h, c)
				return []attack.Attempt{attack.Bearer("64 KiB", tok)}, err
			}),
		fc("FMT-03", "Invalid base64url in the header", "Lenient decoders skip bad characters; two parsers reading the same bytes differently is how signature checks get bypassed.",
			"RFC 7515 §2", attack.Medium, func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				base, err := e.Token(ctx, rs)
				if err != nil {
					return nil, err
				}
				return []attack.Attempt{attack.Bearer("'!' in header", "!"+base.HeaderB64[1:]+"."+base.PayloadB64+"."+base.SignatureB64)}, nil
			}),
		fc("FMT-04", "Padding in base64url segments", "JWS segments are base64url without padding; tolerating '=' is harmless alone but shows a lax decoder.",
			"RFC 7515 §2", attack.Low, func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				base, err := e.Token(ctx, rs)
				return []attack.Attempt{attack.Bearer("padded signature", base.Raw+"==")}, err
			}),
		fc("FMT-05", "Duplicate JSON member names", "{\"aud\":\"this\",\"aud\":\"other\"}: parsers disagree on which wins. RFC 7519 allows refusing or taking the last; taking the first accepts a token its issuer meant for another service.",
			"RFC 7519 §4; RFC 8725 §3.12", attack.High, func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				if e.Issuer == nil {
					return nil, attack.ErrNeedsTestIssuer
				}
				_, h, c, err := e.Base(ctx, rs)
				if err != nil {
					return nil, err
				}
				own, _ := json.Marshal(c["aud"])
				delete(c, "aud")
				body, _ := json.Marshal(c)
				dupAud := fmt.Sprintf(`{"aud":%s,%s,"aud":"some-other-service"}`, own, body[1:len(body)-1])
				// Only aud: a duplicate alg's acceptance could not be told
				// from a verifier that takes the algorithm from the key (SIG-13).
				k := e.Issuer.Primary
				claimsSeg, _ := attack.MarshalSegment(dupAud)
				hdrSeg, _ := attack.MarshalSegment(h)
				t1, err := attack.SignSegments(k.Signer, k.Algorithm, hdrSeg, claimsSeg)
				return []attack.Attempt{attack.Bearer("aud twice, own value first", t1)}, err
			}),
		fc("FMT-06", "JWS JSON serialization instead of compact", "Access tokens in headers are compact JWS. Accepting JSON serialization opens parser-differential attacks between the two forms.",
			"RFC 7515 §7.2; RFC 9068", attack.Medium, func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				base, err := e.Token(ctx, rs)
				hdr, payload, sig := base.HeaderB64, base.PayloadB64, base.SignatureB64
				flat := fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, hdr, payload, sig)
				general := fmt.Sprintf(`{"payload":%q,"signatures":[{"protected":%q,"signature":%q}]}`, payload, hdr, sig)
				return []attack.Attempt{attack.Bearer("flattened JSON", flat), attack.Bearer("general JSON", general),
					attack.Bearer("flattened JSON, base64url", attack.B64([]byte(flat)))}, err
			}),
		{About: attack.About{ID: "FMT-07", Category: "format and cost", Severity: attack.Critical, Expect: attack.Refuse, Source: "CVE-2022-39227",
			Title:   "JSON/compact polyglot: verifies one payload, reads another",
			Explain: "A JSON document carries a genuine signature over claims for another service, and a member name shaped like a compact token whose payload, unsigned, names this service. python-jwt verified the signed part and read the claims from the unsigned one: anyone holding any token could write any claims."},
			Run: checkPolyglot},
		{About: attack.About{ID: "FMT-08", Category: "format and cost", Severity: attack.Medium, Expect: attack.Refuse, Source: "RFC 6750 §3.1",
			Title:   "No token at all: 401 with a Bearer challenge",
			Explain: "The baseline refusal. A request without credentials gets 401 and WWW-Authenticate: Bearer (RFC 6750 §3.1), so a client knows to get a token; a 400 or a bare 401 leaves it guessing."},
			Run: func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
				o := e.Send(ctx, rs, attack.Attempt{Label: "no Authorization header"})
				v := attack.Judge(attack.Refuse, []attack.Observation{o})
				scheme, _, _ := strings.Cut(o.Challenge, " ")
				switch {
				case v.Status != attack.Pass:
				case o.Status != http.StatusUnauthorized:
					v.Status, v.Reason = attack.Fail, fmt.Sprintf("answered %d, not 401 (%s)", o.Status, o.Error)
				case !strings.EqualFold(scheme, "Bearer") && !(rs.DPoP && strings.EqualFold(scheme, "DPoP")):
					// A server that takes DPoP tokens only names that scheme (RFC 9449 §7.1).
					v.Status, v.Reason = attack.Fail, fmt.Sprintf("401 without a Bearer challenge (WWW-Authenticate %s)", attack.QuoteBounded(o.Challenge))
				}
				return v
			}},
		fc("FMT-09", "Empty bearer credentials", "'Bearer' followed by nothing, or by spaces.",
			"RFC 6750 §2.1", attack.Medium, func(context.Context, *attack.Kit, *target.ResourceServer) ([]attack.Attempt, error) {
				return []attack.Attempt{{Label: "Bearer", Authorization: "Bearer"}, {Label: "Bearer + space", Authorization: "Bearer "}, {Label: "Bearer + spaces", Authorization: "Bearer    "}}, nil
			}),
		fc("FMT-10", "Garbage instead of a token", "Anything that is not a JWS is refused with 401, not a 500 from a parser that panicked.",
			"RFC 6750 §3.1", attack.Medium, func(context.Context, *attack.Kit, *target.ResourceServer) ([]attack.Attempt, error) {
				return []attack.Attempt{attack.Bearer("word", "not-a-jwt"), attack.Bearer("three dots", "..."), attack.Bearer("bytes outside ASCII", "\xff\xfe\xfd"),
					attack.Bearer("JSON", `{"sub":"admin"}`), attack.Bearer("header only", attack.B64([]byte(`{"alg":"none"}`)))}, nil
			}),
		fc("FMT-11", "An encrypted token (JWE) where a signed one is expected", "Five segments and alg dir: a JWE is not signed. A library that also decrypts may accept a token the attacker encrypted with a key it chose.",
			"RFC 8725bis; CVE-2023-51774", attack.High, func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				base, err := e.Token(ctx, rs)
				h := base.Header
				if err != nil {
					return nil, err
				}
				jweHdr, _ := attack.MarshalSegment(map[string]any{"alg": "dir", "enc": "A256GCM", "kid": h["kid"], "typ": "at+jwt"})
				return []attack.Attempt{attack.Bearer("JWE compact", jweHdr+".."+attack.RandomID()+"."+attack.RandomID()+attack.RandomID()+"."+attack.RandomID())}, nil
			}),
		fc("FMT-12", "Payload that is not JSON", "A correctly signed payload that is not a JSON object has no claims to check; it must be refused, not read as empty claims.",
			"RFC 7519 §7.2", attack.Medium, func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				if e.Issuer == nil {
					return nil, attack.ErrNeedsTestIssuer
				}
				h := e.Issuer.Header(rs, e.Issuer.Primary)
				var out []attack.Attempt
				for label, payload := range map[string]string{"text": "hello", "array": `["sub","admin"]`, "null": "null"} {
					tok, err := e.Forge(h, payload)
					if err != nil {
						return nil, err
					}
					out = append(out, attack.Bearer(label, tok))
				}
				return out, nil
			}),
		fc("FMT-13", "Token in the URL query instead of the header", "access_token in a URL ends up in logs, proxies and browser history. OAuth 2.0 Security BCP: resource servers must not accept it.",
			"RFC 9700 §4.3.2; RFC 6750 §2.3", attack.Low, func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				raw, _, _, err := e.Base(ctx, rs)
				return []attack.Attempt{{Label: "access_token in query", Query: "access_token=" + raw}}, err
			}),
		fc("FMT-16", "Two Authorization headers, one of them a valid token", "Authorization is one field (RFC 9110 §11.6.2); two of them are a malformed request, whichever comes first. A server that reads one while a proxy in front reads the other can be made to act on a token nothing checked, and Envoy's JWT filter crashed on the pair (CVE-2025-64527).",
			"RFC 9110 §5.3, §11.6.2; RFC 6750 §2; CVE-2025-64527", attack.Low, twoAuthorizations),
		{About: attack.About{ID: "FMT-17", Category: "format and cost", Severity: attack.Medium, Expect: attack.Survive, Source: "CVE-2025-53864 (Nimbus JOSE+JWT); RFC 8259 §9",
			Title:   "A claim nested 2,000 arrays deep, under the size limit: answered, and the server still serves",
			Explain: "A parser that recurses once per level runs out of stack on a few thousand nested brackets, which fit in 8 KiB (Nimbus JOSE+JWT, CVE-2025-53864). Accepting the token (the claim is unknown, so ignored) or refusing it (too deep) are both right; a 5xx, a dropped connection or a server that stops serving are not."},
			Run: checkDeepNesting},
		fc("FMT-15", "Another spelling of a valid token: characters outside base64url after the signature", "A lenient decoder that skips what is not base64url (Python's b64decode without validate, say) verifies token+\"!!!!\" as the token itself. Each spelling is then a new token to whatever is keyed on the string: a replay cache, a deny-list, a rate limit.",
			"RFC 7515 §2, §7.1; RFC 4648 §3.3", attack.Medium, otherSpellings),
	}
}

// otherSpellings is FMT-15: characters outside base64url after a fresh
// token each, so single-use servers judge the spelling, not a replay.
func otherSpellings(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
	var out []attack.Attempt
	for _, extra := range []string{"!!!!", "%%"} {
		base, err := e.Token(ctx, rs)
		if err != nil {
			return nil, err
		}
		out = append(out, attack.Bearer("token+"+extra, base.Raw+extra))
	}
	return out, nil
}

// twoAuthorizations is FMT-16: a fresh valid token beside garbage, in both
// orders.
func twoAuthorizations(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
	var out []attack.Attempt
	for _, validFirst := range []bool{true, false} {
		base, err := e.Token(ctx, rs)
		if err != nil {
			return nil, err
		}
		a := attack.Attempt{Label: "valid, then garbage", Authorization: "Bearer " + base.Raw, SecondAuthorization: "Bearer not-a-token"}
		if !validFirst {
			a = attack.Attempt{Label: "garbage, then valid", Authorization: "Bearer not-a-token", SecondAuthorization: "Bearer " + base.Raw}
		}
		out = append(out, a)
	}
	return out, nil
}

// checkDeepNesting is FMT-17: the nested claim answered, then a valid
// token still accepted.
func checkDeepNesting(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
	attempts, err := attack.ForgedAs(fmt.Sprintf("%d nested arrays", nestingDepth), func(_ *attack.Issuer, _, c map[string]any) {
		c["x-nested"] = json.RawMessage(strings.Repeat("[", nestingDepth) + strings.Repeat("]", nestingDepth))
	})(ctx, e, rs)
	if err != nil {
		return attack.SkipOrFail(err)
	}
	v := attack.Judge(attack.Survive, []attack.Observation{e.Send(ctx, rs, attempts[0])})
	raw, _, _, err := e.Base(ctx, rs)
	if err != nil {
		return attack.SkipOrFail(err)
	}
	after := attack.Judge(attack.Accept, []attack.Observation{e.Send(ctx, rs, attack.Bearer("a valid token after it", raw))})
	if after.Status != attack.Pass {
		after.Outcome, after.Cause = attack.Broke, "stopped serving after a deeply nested claim"
		after.Observations = append(v.Observations, after.Observations...)
		return after
	}
	return v
}

// nestingDepth is FMT-17's: deep enough to exhaust a recursive parser's
// stack, shallow enough (4 KiB of brackets) to pass any size limit.
const nestingDepth = 2000

// noTokenCases send no usable credentials; RFC 6750 §3.1 says such a
// refusal carries no error code.
var noTokenCases = []string{"FMT-08", "FMT-09", "FMT-13", "FMT-16"}

// rfc6750Case is judged from every refusal the run saw.
var rfc6750Case = attack.Case{Phase: attack.Summary, About: attack.About{ID: "FMT-14", Category: "format and cost", Severity: attack.Low, Expect: attack.Refuse, Source: "RFC 6750 §3",
	Title:   "Every refusal of a token carries a WWW-Authenticate: Bearer challenge",
	Explain: "RFC 6750 says how to refuse: WWW-Authenticate: Bearer on every 400, 401 or 403 about the token, with error=\"invalid_token\" (or invalid_request, insufficient_scope) when a token was sent. Clients rely on it to tell 'get a new token' from 'you may not'."},
	Run: func(_ context.Context, e *attack.Kit, _ *target.ResourceServer) attack.Verdict {
		return judgeChallenges(e.Results)
	}}

// checkPolyglot is FMT-07. An acceptance counts only if it proves the
// unsigned claims were used: the signed claims are for another audience,
// and the same signed claims alone (flattened JSON) must be refused first.
func checkPolyglot(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
	other, otherAud := "", "some-other-service"
	var err error
	if e.Issuer != nil {
		other, _, _, err = e.BaseFor(ctx, rs, otherAud)
	} else if owner := otherServer(e, rs); owner != nil {
		otherAud = owner.Audience
		other, _, _, err = e.Base(ctx, owner)
	} else {
		err = attack.ErrNeedsTestIssuer
	}
	if err != nil {
		return attack.SkipOrFail(err)
	}
	base, err := e.Token(ctx, rs)
	mine := base.Claims
	if err != nil {
		return attack.SkipOrFail(err)
	}
	parts := strings.Split(other, ".")
	hdr, payload, sig := parts[0], parts[1], parts[2]
	signedAlone := e.Send(ctx, rs, attack.Bearer("signed part alone (aud "+otherAud+")", fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, hdr, payload, sig)))
	if signedAlone.Status >= 200 && signedAlone.Status < 300 {
		return attack.Verdict{Status: attack.Pass, Reason: "inconclusive: the server accepts the signed JSON form for another audience (see FMT-06 and M-03), so a polyglot proves nothing more", Observations: []attack.Observation{signedAlone}}
	}
	unsigned, _ := attack.MarshalSegment(mine)
	poly := e.Send(ctx, rs, attack.Bearer("polyglot (signed aud "+otherAud+", unsigned aud "+rs.Audience+")",
		fmt.Sprintf(`{"  %s.%s.":"","protected":%q,"payload":%q,"signature":%q}`, hdr, unsigned, hdr, payload, sig)))
	obs := []attack.Observation{signedAlone, poly}
	switch {
	case poly.Status >= 200 && poly.Status < 300:
		return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("ACCEPTED with %d: the signature covers claims for %s, so the server acted on the unsigned claims", poly.Status, otherAud), Observations: obs}
	case poly.Status == 0:
		return attack.Verdict{Status: attack.Fail, Reason: poly.Error, Observations: obs}
	case poly.Status >= 500:
		return attack.Verdict{Status: attack.Pass, Reason: fmt.Sprintf("refused, with a %d (not an acceptance; FMT-10 judges server errors)", poly.Status), Observations: obs}
	}
	return attack.Verdict{Status: attack.Pass, Observations: obs}
}

// challengeProblem says what is wrong with o's challenge under RFC 6750 §3,
// or "": a Bearer challenge, with an error code when a token was sent.
func challengeProblem(o attack.Observation, noToken bool) string {
	scheme, params, _ := strings.Cut(o.Challenge, " ")
	switch {
	case !strings.EqualFold(scheme, "Bearer") && !(noToken && strings.EqualFold(scheme, "DPoP")):
		// Without credentials, a DPoP-only server names DPoP (RFC 9449 §7.1).
		return fmt.Sprintf("%d without a Bearer challenge (WWW-Authenticate %s)", o.Status, attack.QuoteBounded(o.Challenge))
	case !noToken && !slices.ContainsFunc([]string{"invalid_token", "invalid_request", "insufficient_scope"},
		func(code string) bool { return strings.Contains(params, `error="`+code+`"`) }):
		return fmt.Sprintf("%d challenge has no error code (%s)", o.Status, attack.QuoteBounded(o.Challenge))
	}
	return ""
}

// judgeChallenges checks every refusal (400, 401, 403) of a token the run
// saw: RFC 6750 §3 says each carries a Bearer challenge, with an error code
// when a token was sent. It reports how many were wrong, with one example.
func judgeChallenges(results []attack.Result) attack.Verdict {
	seen, wrong := 0, 0
	var example string
	var obs []attack.Observation
	for _, r := range results {
		// DPoP refusals carry DPoP challenges (RFC 9449 §7.1); WIMSE ones
		// are problem details (draft-ietf-wimse-wpt-01, WIMSE-25).
		if r.Expected != attack.Refuse || r.Category == "dpop" || r.Category == "wimse" {
			continue
		}
		for _, o := range r.Observations {
			if o.Status != http.StatusBadRequest && o.Status != http.StatusUnauthorized && o.Status != http.StatusForbidden {
				continue
			}
			seen++
			problem := challengeProblem(o, slices.Contains(noTokenCases, r.ID))
			if problem == "" {
				continue
			}
			wrong++
			if example == "" {
				example = fmt.Sprintf("%s %s: %s", r.ID, o.Label, problem)
				obs = append(obs, o)
			}
		}
	}
	switch {
	case seen == 0:
		return attack.Verdict{Status: attack.NotApplicable, Reason: "the server refused no token with 400, 401 or 403"}
	case wrong > 0:
		return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("%d of %d refusals are not RFC 6750 challenges; for example %s", wrong, seen, example), Observations: obs}
	}
	return attack.Verdict{Status: attack.Pass}
}
