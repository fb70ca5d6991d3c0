package vulnerable

import (
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Token profiles the server can verify, as the suite's target names them.
const (
	ProfileJWTSVID    = "jwt-svid"
	ProfileKubernetes = "kubernetes"
)

// defaultMaxLifetime bounds how far ahead an exp may lie.
const defaultMaxLifetime = time.Hour

// typeOK is the profile's typ rule: at+jwt (RFC 9068), absent, JWT or JOSE
// (JWT-SVID), anything (service-account tokens carry none).
func (s *server) typeOK(h map[string]any) bool {
	typ, hasTyp := h["typ"].(string)
	switch s.cfg.Profile {
	case ProfileJWTSVID:
		return !hasTyp || typ == "JWT" || typ == "JOSE"
	case ProfileKubernetes:
		return true
	}
	switch {
	case s.has(SkipsType):
		return true
	case !hasTyp && s.has(TypeOptional):
		return true
	}
	return strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
}

// headerOK is JWT-SVID's closed header: alg, kid and typ only (§2).
func (s *server) headerOK(h map[string]any) bool {
	if s.cfg.Profile != ProfileJWTSVID || s.has(SVIDExtraHeader) {
		return true
	}
	for name := range h {
		if name != "alg" && name != "kid" && name != "typ" {
			return false
		}
	}
	return true
}

// checksIssuer: a JWT-SVID is trusted through its bundle, not an iss.
func (s *server) checksIssuer() bool {
	return s.cfg.Profile != ProfileJWTSVID && !s.has(SkipsIssuer) && !s.has(DiscoversKeysFromIss)
}

// spiffePath is a SPIFFE ID's path: one or more segments of letters,
// digits, '.', '-', '_', none of them a dot segment (SPIFFE ID §2.2).
var spiffePath = regexp.MustCompile(`^(/[a-zA-Z0-9._-]+)+$`)

// subjectOK is the profile's subject rule.
func (s *server) subjectOK(c map[string]any) bool {
	sub, _ := c["sub"].(string)
	switch s.cfg.Profile {
	case ProfileJWTSVID:
		return s.spiffeIDOK(sub)
	case ProfileKubernetes:
		return s.serviceAccountOK(sub)
	}
	return true
}

func (s *server) spiffeIDOK(sub string) bool {
	var td string
	if s.has(SPIFFEIDLax) {
		// net/url and case folding: every spelling of a URL is one ID.
		u, err := url.Parse(sub)
		if err != nil || !strings.EqualFold(u.Scheme, "spiffe") {
			return false
		}
		td = strings.ToLower(u.Hostname())
	} else {
		rest, ok := strings.CutPrefix(sub, "spiffe://")
		if !ok {
			return false
		}
		var path string
		td, path, _ = strings.Cut(rest, "/")
		path = "/" + path
		if !spiffePath.MatchString(path) || strings.Contains(path, "/./") || strings.Contains(path, "/../") ||
			strings.HasSuffix(path, "/.") || strings.HasSuffix(path, "/..") {
			return false
		}
	}
	return td == s.cfg.TrustDomain || s.has(SVIDAnyTrustDomain) && td != ""
}

func (s *server) serviceAccountOK(sub string) bool {
	rest, ok := strings.CutPrefix(sub, "system:serviceaccount:")
	namespace, name, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 {
		return false
	}
	if !s.cfg.OnlySubject {
		return true
	}
	sameNamespace, sameName := namespace == s.cfg.Namespace, name == s.cfg.ServiceAccount
	switch {
	case s.has(ComparesAccountNameOnly):
		return sameName
	case s.has(ComparesNamespaceOnly):
		return sameNamespace
	}
	return sameNamespace && sameName
}

// audienceCountOK: JWT-SVID verifiers here take one audience only (§6.2).
func (s *server) audienceCountOK(aud any) bool {
	list, ok := aud.([]any)
	return s.cfg.Profile != ProfileJWTSVID || s.has(SVIDManyAudiences) || !ok || len(list) == 1
}

// legacyServiceAccount is a secret-based token's shape, which the flaw
// takes for a projected token without asking for exp or aud.
func (s *server) legacyServiceAccount(c map[string]any) bool {
	_, legacy := c["kubernetes.io/serviceaccount/namespace"]
	return legacy && s.cfg.Profile == ProfileKubernetes && s.has(AcceptsLegacyServiceAccount)
}

// lifetimeOK bounds exp: at most MaxLifetime (an hour) ahead.
func (s *server) lifetimeOK(exp time.Time, now time.Time) bool {
	limit := s.cfg.MaxLifetime
	if limit == 0 {
		limit = defaultMaxLifetime
	}
	return s.has(NoLifetimeBound) || !exp.After(now.Add(limit+time.Minute))
}
