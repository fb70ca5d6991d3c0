package cases

import (
	"context"
	"strings"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/target"
)

// scopeCases vary the scope of a valid token for a server that names the
// scope its request needs (resource_servers[].scope).
func scopeCases() []attack.Case {
	sc := func(id, title, explain string, sev attack.Severity, expect attack.Expectation, change func(need string, c map[string]any)) attack.Case {
		return attack.Case{About: attack.About{ID: id, Category: "scope", Severity: sev, Expect: expect, Source: "RFC 9068 §2.2.3; RFC 6749 §3.3; RFC 6750 §3.1",
			Title: title, Explain: explain},
			Applies: scopedServers,
			Run: func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
				return attack.Requests(attack.Forged(func(_ *attack.Issuer, _, c map[string]any) { change(rs.Scope, c) }))(ctx, e, rs)
			}}
	}
	return []attack.Case{
		sc("SCOPE-01", "The needed scope among several others", "scope is a space-separated list (RFC 6749 §3.3); a token that holds the needed scope beside others is enough.",
			attack.Medium, attack.Accept, func(need string, c map[string]any) { c["scope"] = "other:read " + need + " other:admin" }),
		sc("SCOPE-02", "No scope at all", "A token without scope grants nothing; a server that checks only who calls and for which audience lets every caller do everything it serves.",
			attack.High, attack.Refuse, func(_ string, c map[string]any) { delete(c, "scope") }),
		sc("SCOPE-03", "Another operation's scope only", "A token for reading is not a token for writing: the scope is what the issuer allowed this caller to do here.",
			attack.High, attack.Refuse, func(need string, c map[string]any) { c["scope"] = otherScope(need) }),
		sc("SCOPE-04", "A scope that has the needed one as a prefix", "Scopes compare as whole words: \"logs:writer\" is not \"logs:write\". A prefix match (startsWith) lets any longer scope through.",
			attack.Medium, attack.Refuse, func(need string, c map[string]any) { c["scope"] = need + "er" }),
		sc("SCOPE-05", "The needed scope inside a longer word", "A substring match over the scope string (contains) finds \"logs:write\" in \"no-logs:write-ever\".",
			attack.Medium, attack.Refuse, func(need string, c map[string]any) { c["scope"] = "no-" + need + "-ever" }),
		sc("SCOPE-06", "The needed scope in scp instead of scope", "RFC 9068 carries scopes in scope. A verifier that also reads scp (another vendor's claim) takes permission from a claim this issuer does not define, and whatever puts data there.",
			attack.Low, attack.Refuse, func(need string, c map[string]any) {
				delete(c, "scope")
				c["scp"] = need
			}),
	}
}

func scopedServers(rs *target.ResourceServer) string {
	if rs.Scope == "" {
		return "the target names no scope for this server (resource_servers[].scope)"
	}
	return ""
}

// otherScope is a scope of the same resource for another operation:
// logs:read for logs:write, or another word altogether.
func otherScope(need string) string {
	if prefix, op, ok := strings.Cut(need, ":"); ok {
		if op == "read" {
			return prefix + ":write"
		}
		return prefix + ":read"
	}
	return need + "-other"
}
