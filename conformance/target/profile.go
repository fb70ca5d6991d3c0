package target

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
)

// Token profiles: the formats of valid token the suite can mint. Each is a
// standard's token, so a verifier of that standard accepts the suite's
// valid tokens and every attack differs from one in a single respect.
const (
	// ProfileRFC9068 is an OAuth 2.0 JWT access token (RFC 9068): typ
	// at+jwt, iss, sub, aud, exp, iat, jti, client_id. The default.
	ProfileRFC9068 = "rfc9068"
	// ProfileJWTSVID is a SPIFFE JWT-SVID (SPIFFE JWT-SVID standard): typ
	// JWT, sub a SPIFFE ID of the trust domain, aud, exp; no header
	// parameters but alg, kid and typ; RS, ES or PS algorithms only; trust
	// comes from the trust domain's bundle, not from an iss.
	ProfileJWTSVID = "jwt-svid"
	// ProfileKubernetes is a projected service-account token (Kubernetes
	// TokenRequest API): no typ, sub system:serviceaccount:NS:NAME, aud an
	// array, iss an issuer with OIDC discovery, and a kubernetes.io claim
	// naming namespace, service account and pod.
	ProfileKubernetes = "kubernetes"
)

// Profiles are the known profiles, the default first.
var Profiles = []string{ProfileRFC9068, ProfileJWTSVID, ProfileKubernetes}

// DefaultMaxLifetime is the longest lifetime (exp after now) a server must
// accept and the bound TIME-10 goes past: an hour, the longest a
// Kubernetes projected token lives by default and twelve times Identity's.
const DefaultMaxLifetime = time.Hour

// DefaultClient names the suite's caller in the subject of valid tokens.
const DefaultClient = "conformance-client"

// Token says what a valid token for one server looks like: its profile,
// the profile's settings, and overrides for an in-house format.
type Token struct {
	// Profile is rfc9068 (the default), jwt-svid or kubernetes.
	Profile string `json:"profile,omitempty"`
	// TrustDomain is the jwt-svid server's trust domain ("example.org").
	TrustDomain string `json:"trust_domain,omitempty"`
	// Namespace and ServiceAccount name the kubernetes caller.
	Namespace      string `json:"namespace,omitempty"`
	ServiceAccount string `json:"service_account,omitempty"`
	// Subject is the sub of valid tokens; by default the profile's shape
	// for conformance-client (spiffe://TRUST_DOMAIN/conformance-client,
	// system:serviceaccount:NAMESPACE:SERVICE_ACCOUNT).
	Subject string `json:"subject,omitempty"`
	// OnlySubject says the server accepts this subject only: tokens for
	// its neighbours (another client, workload, namespace or account) must
	// be refused (SUB-04 and SUB-05).
	OnlySubject bool `json:"only_subject,omitempty"`
	// MaxLifetime is the longest lifetime the server accepts, as a Go
	// duration; "1h" if empty (TIME-10).
	MaxLifetime string `json:"max_lifetime,omitempty"`
	// Header and Claims are set in every valid token after the profile's
	// members; a member set to null is removed ("typ": null).
	Header map[string]any `json:"header,omitempty"`
	Claims map[string]any `json:"claims,omitempty"`
}

// ProfileName is Profile, ProfileRFC9068 if empty.
func (t Token) ProfileName() string { return cmp.Or(t.Profile, ProfileRFC9068) }

// Sub is the subject of valid tokens: Subject, or the profile's shape.
func (t Token) Sub() string {
	if t.Subject != "" {
		return t.Subject
	}
	switch t.ProfileName() {
	case ProfileJWTSVID:
		return "spiffe://" + t.TrustDomain + "/" + DefaultClient
	case ProfileKubernetes:
		return "system:serviceaccount:" + t.Namespace + ":" + t.ServiceAccount
	}
	return DefaultClient
}

// Algorithms are the test issuer's algorithms a verifier of the profile
// accepts, in the order -alg auto tries them: JWT-SVID allows RS, ES and
// PS only (§2.1); Kubernetes signs service-account tokens with RSA or
// ECDSA keys.
func (t Token) Algorithms() []string {
	var allowed []string
	switch t.ProfileName() {
	case ProfileJWTSVID:
		allowed = []string{"ES256", "RS256", "PS256"}
	case ProfileKubernetes:
		allowed = []string{"ES256", "RS256"}
	default:
		return testissuer.Algorithms
	}
	return slices.DeleteFunc(slices.Clone(testissuer.Algorithms), func(alg string) bool { return !slices.Contains(allowed, alg) })
}

// Lifetime is MaxLifetime parsed, or DefaultMaxLifetime.
func (t Token) Lifetime() time.Duration { return durationOr(t.MaxLifetime, DefaultMaxLifetime) }

// minted are the members the suite sets itself: the key, the times and the
// token's id change with every token, and aud and iss are the target's
// audience and the test issuer, which cases compare against.
var minted = []string{"alg", "kid", "iss", "aud", "exp", "iat", "nbf", "jti"}

// trustDomainName is the SPIFFE ID standard's trust domain: lower-case
// letters, digits, dots, dashes and underscores.
var trustDomainName = regexp.MustCompile(`^[a-z0-9._-]+$`)

// k8sName is a DNS label, as namespaces and service accounts are named.
var k8sName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func (t Token) validate(where string) error {
	if err := t.validateProfile(where); err != nil {
		return err
	}
	for part, members := range map[string]map[string]any{"header": t.Header, "claims": t.Claims} {
		for name := range members {
			if part == "claims" && name == "sub" {
				return invalid("%s.claims.sub: the subject is token.subject", where)
			}
			if slices.Contains(minted, name) {
				return invalid("%s.%s.%s: the suite sets %s itself (the audience and the test issuer are the target's; keys, times and jti change per token)", where, part, name, strings.Join(minted, ", "))
			}
		}
	}
	if d, err := time.ParseDuration(t.MaxLifetime); t.MaxLifetime != "" && (err != nil || d <= 0) {
		return invalid("%s.max_lifetime: %q is not a duration like \"1h\"", where, t.MaxLifetime)
	}
	return nil
}

// validateProfile checks the profile's own settings.
func (t Token) validateProfile(where string) error {
	switch t.ProfileName() {
	case ProfileRFC9068:
	case ProfileJWTSVID:
		if !trustDomainName.MatchString(t.TrustDomain) {
			return invalid("%s.trust_domain: %q is not a SPIFFE trust domain (lower-case letters, digits, '.', '-', '_')", where, t.TrustDomain)
		}
		if t.Subject != "" && !strings.HasPrefix(t.Subject, "spiffe://"+t.TrustDomain+"/") {
			return invalid("%s.subject: %q is not a SPIFFE ID of trust domain %q", where, t.Subject, t.TrustDomain)
		}
	case ProfileKubernetes:
		if !k8sName.MatchString(t.Namespace) || !k8sName.MatchString(t.ServiceAccount) {
			return invalid("%s: profile kubernetes needs namespace and service_account (DNS labels), not %q and %q", where, t.Namespace, t.ServiceAccount)
		}
	default:
		return invalid("%s.profile: %q is not one of %s", where, t.Profile, strings.Join(Profiles, ", "))
	}
	return nil
}

// Describe is the profile as a report names it.
func (t Token) Describe() string {
	s := t.ProfileName()
	if len(t.Header)+len(t.Claims) > 0 {
		s += fmt.Sprintf(" with %d overrides", len(t.Header)+len(t.Claims))
	}
	return s
}
