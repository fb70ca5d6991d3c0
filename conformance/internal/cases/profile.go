package cases

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
)

// profileCases are the checks a token profile brings: the shapes of its
// subject, and what its standard forbids that RFC 9068 allows.
func profileCases() []attack.Case {
	return append(spiffeCases(), kubernetesCases()...)
}

// spiffeIDShapes are subjects that are not the valid token's SPIFFE ID but
// that a lenient parser (net/url, case folding, normalising paths) reads
// as it, or as a workload of the trust domain. td is the trust domain,
// path the valid subject's path ("/conformance-client").
var spiffeIDShapes = []struct {
	id, title string
	sev       attack.Severity
	sub       func(td, path string) string
}{
	{"SVID-01", "sub is the bare trust domain (spiffe://TD, no workload path)", attack.High,
		func(td, _ string) string { return "spiffe://" + td }},
	{"SVID-03", "SPIFFE ID with the scheme in upper case (SPIFFE://)", attack.Medium,
		func(td, path string) string { return "SPIFFE://" + td + path }},
	{"SVID-04", "SPIFFE ID with the trust domain in upper case", attack.Medium,
		func(td, path string) string { return "spiffe://" + strings.ToUpper(td) + path }},
	{"SVID-05", "SPIFFE ID with a percent-encoded path character", attack.Medium,
		func(td, path string) string { return "spiffe://" + td + percentEncodeFirst(path) }},
	{"SVID-06", "SPIFFE ID with dot segments (/x/../path)", attack.Medium,
		func(td, path string) string { return "spiffe://" + td + "/x/.." + path }},
	{"SVID-07", "SPIFFE ID with a query (?x=1)", attack.Medium,
		func(td, path string) string { return "spiffe://" + td + path + "?x=1" }},
	{"SVID-08", "SPIFFE ID with a fragment (#x)", attack.Medium,
		func(td, path string) string { return "spiffe://" + td + path + "#x" }},
	{"SVID-09", "SPIFFE ID with userinfo (spiffe://user@TD/…)", attack.Medium,
		func(td, path string) string { return "spiffe://user@" + td + path }},
	{"SVID-10", "SPIFFE ID with a port (spiffe://TD:443/…)", attack.Medium,
		func(td, path string) string { return "spiffe://" + td + ":443" + path }},
	{"SVID-11", "SPIFFE ID with a trailing slash", attack.Medium,
		func(td, path string) string { return "spiffe://" + td + path + "/" }},
}

func spiffeCases() []attack.Case {
	svid := func(id, title, explain string, sev attack.Severity, build func(context.Context, *attack.Kit, *target.ResourceServer) ([]attack.Attempt, error)) attack.Case {
		return attack.Case{About: attack.About{ID: id, Category: "token profile", Severity: sev, Expect: attack.Refuse,
			Source: "SPIFFE JWT-SVID §2-3; SPIFFE ID §2", Title: title, Explain: explain, Profiles: []string{target.ProfileJWTSVID}},
			Run: attack.Requests(build)}
	}
	const shapeExplain = "A SPIFFE ID has one spelling: scheme spiffe, a lower-case trust domain, and a path of plain segments with no dot segments, percent-encoding, query, fragment, userinfo, port or trailing slash. Authorisation compares IDs as strings, so a verifier that accepts another spelling of a workload's ID lets one ID pass for another, and a policy written for one spelling misses the rest."
	cases := []attack.Case{
		svid("SVID-02", "A SPIFFE ID of another trust domain, signed with this trust domain's key", "Keys are trusted per trust domain: this domain's bundle vouches for spiffe://this-domain/… only. A verifier that checks the signature against any bundle it holds, whatever the subject's trust domain, lets one domain's authority mint identities of another.",
			attack.Critical, attack.Forged(func(_ *attack.Issuer, _, c map[string]any) {
				c["sub"] = "spiffe://attacker.example/" + target.DefaultClient
			})),
		svid("SVID-12", "Two audiences (this server and another)", "The standard strongly recommends one audience: whoever receives a token with two can replay it to the other (JWT-SVID §6.2). A JWT-SVID verifier that refuses tokens for several audiences closes that door for every caller.",
			attack.Low, attack.Forged(func(_ *attack.Issuer, _, c map[string]any) {
				c["aud"] = []any{audienceOf(c), "spiffe://attacker.example/other-service"}
			})),
		svid("SVID-13", "A header parameter the JWT-SVID standard does not list", "\"Any header not described here, registered or private, MUST NOT be included in the JWT-SVID JOSE Header\" (§2): a token with one is not a JWT-SVID, and a verifier that accepts it is no longer checking the format it claims to.",
			attack.Low, attack.Forged(func(_ *attack.Issuer, h, _ map[string]any) { h["x-trace"] = "conformance" })),
		svid("SVID-14", "alg outside the JWT-SVID list (EdDSA), signed with a key of the bundle", "JWT-SVID allows RS, ES and PS algorithms only and \"validators receiving a token with the alg parameter set to a different value MUST reject the token\" (§2.1), whatever key verifies it.",
			attack.Medium, func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				if e.Issuer == nil {
					return nil, attack.ErrNeedsTestIssuer
				}
				k, ok := e.Keys.Get(testissuer.Primary, "EdDSA")
				if !ok {
					return nil, attack.ErrNeedsTestIssuer
				}
				tok, err := attack.Sign(k.Signer, k.Algorithm, e.Issuer.Header(rs, k), e.Issuer.Claims(rs, time.Now()))
				return []attack.Attempt{attack.Bearer("EdDSA JWT-SVID", tok)}, err
			}),
	}
	for _, shape := range spiffeIDShapes {
		cases = append(cases, svid(shape.id, shape.title, shapeExplain, shape.sev, func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
			td := rs.Token.TrustDomain
			path := strings.TrimPrefix(rs.Token.Sub(), "spiffe://"+td)
			return attack.Forged(func(_ *attack.Issuer, _, c map[string]any) { c["sub"] = shape.sub(td, path) })(ctx, e, rs)
		}))
	}
	slices.SortFunc(cases, func(a, b attack.Case) int { return strings.Compare(a.ID, b.ID) })
	return cases
}

// percentEncodeFirst writes the path's first letter after its slash as a
// percent-encoded octet: /conformance-client becomes /%63onformance-client.
func percentEncodeFirst(path string) string {
	if len(path) < 2 {
		return path + "%2e"
	}
	return path[:1] + "%" + strings.ToUpper(hex2(path[1])) + path[2:]
}

func hex2(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

func kubernetesCases() []attack.Case {
	k8s := func(id, title, explain string, sev attack.Severity, onlySubject bool, change func(p target.Token, c map[string]any)) attack.Case {
		c := attack.Case{About: attack.About{ID: id, Category: "token profile", Severity: sev, Expect: attack.Refuse,
			Source: "Kubernetes service account tokens; TokenRequest API", Title: title, Explain: explain, Profiles: []string{target.ProfileKubernetes}},
			Run: func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
				return attack.Requests(attack.Forged(func(_ *attack.Issuer, _, c map[string]any) { change(rs.Token, c) }))(ctx, e, rs)
			}}
		if onlySubject {
			c.Applies = onlySubjectServers
		}
		return c
	}
	serviceAccount := func(c map[string]any, namespace, name string) {
		c["sub"] = "system:serviceaccount:" + namespace + ":" + name
		info := attack.Clone(c["kubernetes.io"].(map[string]any))
		sa := attack.Clone(info["serviceaccount"].(map[string]any))
		info["namespace"], sa["name"] = namespace, name
		info["serviceaccount"] = sa
		c["kubernetes.io"] = info
	}
	return []attack.Case{
		k8s("K8S-01", "The same service account name in another namespace", "Namespaces are the boundary between teams: system:serviceaccount:other:NAME is another identity than system:serviceaccount:NS:NAME. A verifier that compares the account's name, not the namespace, admits every namespace that creates an account of that name.",
			attack.High, true, func(p target.Token, c map[string]any) { serviceAccount(c, "other-"+p.Namespace, p.ServiceAccount) }),
		k8s("K8S-02", "Another service account of the same namespace", "Every pod of the namespace can have a token of its own account; a verifier that checks the namespace only admits all of them.",
			attack.High, true, func(p target.Token, c map[string]any) { serviceAccount(c, p.Namespace, "other-"+p.ServiceAccount) }),
		k8s("K8S-03", "A legacy secret-based service-account token (no exp, no aud)", "Before projected tokens, Kubernetes stored a token per service account in a Secret: no expiry, no audience, readable by anyone who can read Secrets, and often leaked. Such a token, even signed by a trusted key, must not pass for a projected one.",
			attack.High, false, func(p target.Token, c map[string]any) {
				delete(c, "exp")
				delete(c, "aud")
				delete(c, "nbf")
				delete(c, "kubernetes.io")
				c["kubernetes.io/serviceaccount/namespace"] = p.Namespace
				c["kubernetes.io/serviceaccount/secret.name"] = p.ServiceAccount + "-token-x7k2q"
				c["kubernetes.io/serviceaccount/service-account.name"] = p.ServiceAccount
				c["kubernetes.io/serviceaccount/service-account.uid"] = "5f3c7a92-1d4e-4b8a-9c61-2e0f8d7b3a14"
			}),
	}
}

func onlySubjectServers(rs *target.ResourceServer) string {
	if !rs.Token.OnlySubject {
		return "the target does not declare that this server accepts only " + rs.Token.Sub() + " (token.only_subject)"
	}
	return ""
}
