package authn

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// A Profile is a token format: the checks a Verifier makes on top of what
// every token gets (a size bound, compact JWS with strict JSON, an allowed
// asymmetric alg, a trusted key's signature, aud, exp, nbf and iat within
// the leeway, a bounded lifetime, a sub). The zero value is AccessToken.
type Profile struct {
	name string
	// algorithms the format allows; nil: every one the Config allows.
	algorithms []string
	// typeOK judges the typ header ("" when absent).
	typeOK func(typ string) bool
	// closedHeader refuses header members other than alg, kid and typ.
	closedHeader bool
	// issuer: iss must equal Config.Issuer.
	issuer bool
	// subject judges sub; nil: any non-empty string.
	subject func(sub string) error
	// oneAudience refuses tokens for several audiences.
	oneAudience bool
	// needsJTI refuses tokens without jti.
	needsJTI bool
	// noAudience: the format has no aud (a WIT, whose proofs name the
	// target), so none is checked.
	noAudience bool
}

// The profiles that need no setting.
var (
	// AccessToken is an OAuth 2.0 JWT access token (RFC 9068): typ at+jwt
	// (or application/at+jwt), iss the trusted issuer, sub, jti.
	AccessToken = Profile{name: "rfc9068", typeOK: isAccessTokenType, issuer: true, needsJTI: true}
	// ClientAssertion is an RFC 7523 client assertion, which has no
	// registered typ: never for access tokens, where it would let an ID
	// token or an assertion pass as one.
	ClientAssertion = Profile{name: "rfc7523", typeOK: func(string) bool { return true }, issuer: true, needsJTI: true}
	// ServiceAccount is a Kubernetes projected service-account token: iss
	// the cluster's issuer, sub system:serviceaccount:NAMESPACE:NAME, no
	// typ or typ JWT. jti is optional (clusters before 1.29 omit it), so a
	// single-use server refuses a token without one itself.
	ServiceAccount = Profile{name: "kubernetes", typeOK: isPlainJWTType, issuer: true, subject: serviceAccountSubject}
)

// JWTSVID is the SPIFFE JWT-SVID format for one trust domain (the SPIFFE
// JWT-SVID standard): typ absent, JWT or JOSE; alg ES256 or RS256 of the
// standard's RS, ES and PS; no other header parameter; sub a SPIFFE ID of
// trustDomain with a workload path; exactly one audience (the standard
// strongly recommends it, §6.2). iss is not checked: the trust domain's
// keys (Config.KeySet) vouch for it.
func JWTSVID(trustDomain string) (Profile, error) {
	if !spiffeTrustDomain.MatchString(trustDomain) {
		return Profile{}, fmt.Errorf("authn: %q is not a SPIFFE trust domain (lower-case letters, digits, '.', '-', '_')", trustDomain)
	}
	return Profile{
		name:         "jwt-svid",
		algorithms:   []string{jwk.ES256, jwk.RS256},
		typeOK:       func(typ string) bool { return typ == "" || typ == "JWT" || typ == "JOSE" },
		closedHeader: true,
		subject:      func(sub string) error { return spiffeIDIn(trustDomain, sub) },
		oneAudience:  true,
	}, nil
}

// Name is the profile's name: rfc9068, rfc7523, jwt-svid or kubernetes.
func (p Profile) Name() string { return p.orDefault().name }

func (p Profile) orDefault() Profile {
	if p.name == "" {
		return AccessToken
	}
	return p
}

// checkIdentity checks who the token names (sub, in the profile's shape)
// and that it can be told from its siblings (jti).
func (p Profile) checkIdentity(c *Claims) error {
	switch {
	case c.Subject == "":
		return ErrNoSubject
	case p.subject != nil:
		if err := p.subject(c.Subject); err != nil {
			return err
		}
	}
	if c.ID == "" && p.needsJTI {
		return ErrNoTokenID
	}
	return nil
}

// isPlainJWTType accepts no typ or the generic JWT.
func isPlainJWTType(typ string) bool { return typ == "" || strings.EqualFold(typ, "JWT") }

// The SPIFFE ID standard's grammar (§2.1, §2.2): a trust domain of
// lower-case letters, digits, '.', '-' and '_'; path segments of letters,
// digits, '.', '-' and '_', none of them "." or "..".
var (
	spiffeTrustDomain = regexp.MustCompile(`^[a-z0-9._-]+$`)
	spiffePath        = regexp.MustCompile(`^(/[a-zA-Z0-9._-]+)+$`)
)

// spiffeIDIn accepts exactly one spelling of a workload's SPIFFE ID in td:
// no upper case in scheme or trust domain, no percent-encoding, dot
// segments, query, fragment, userinfo, port or trailing slash, and a path
// (the bare trust domain names no workload).
func spiffeIDIn(td, sub string) error {
	rest, ok := strings.CutPrefix(sub, "spiffe://")
	if !ok {
		return fmt.Errorf("%w: not a SPIFFE ID", ErrSubject)
	}
	domain, path, _ := strings.Cut(rest, "/")
	switch {
	case domain != td:
		return fmt.Errorf("%w: SPIFFE ID of another trust domain than %s", ErrSubject, td)
	case !spiffePath.MatchString("/" + path):
		return fmt.Errorf("%w: not a workload's SPIFFE ID", ErrSubject)
	}
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("%w: dot segment in a SPIFFE ID", ErrSubject)
		}
	}
	return nil
}

// k8sName is a DNS label (RFC 1123), as namespaces and service accounts
// are named.
var k8sName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func serviceAccountSubject(sub string) error {
	rest, ok := strings.CutPrefix(sub, "system:serviceaccount:")
	namespace, name, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || !k8sName.MatchString(namespace) || !k8sName.MatchString(name) {
		return fmt.Errorf("%w: not system:serviceaccount:NAMESPACE:NAME", ErrSubject)
	}
	return nil
}
