package vulnerable

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

func (s *server) checkClaims(c map[string]any) error {
	if s.checksIssuer() {
		iss, ok := c["iss"].(string)
		want := s.cfg.Issuer
		if list, isList := c["iss"].([]any); isList && s.has(IssuerInArray) {
			iss, ok = want, slices.Contains(list, any(want))
		}
		switch {
		case !ok:
			return errRefused
		case s.has(IssuerTrimmed):
			if strings.TrimSpace(iss) != want {
				return errRefused
			}
		case s.has(IssuerSubstring):
			if iss == "" || !strings.Contains(want, iss) {
				return errRefused
			}
		case s.has(IssuerPrefix):
			if !strings.HasPrefix(iss, want) {
				return errRefused
			}
		case s.has(IssuerCaseInsensitive):
			if !strings.EqualFold(iss, want) {
				return errRefused
			}
		case s.has(IssuerTrailingSlash):
			if strings.TrimSuffix(iss, "/") != want {
				return errRefused
			}
		case iss != want:
			return errRefused
		}
	}
	legacy := s.legacyServiceAccount(c)
	if !s.has(SkipsAudience) && !legacy && (!s.audienceOK(c["aud"]) || !s.audienceCountOK(c["aud"])) {
		return errRefused
	}
	now := time.Now()
	leeway := cmp.Or(s.cfg.Leeway, 5*time.Second)
	if s.has(HugeLeeway) {
		leeway = time.Hour
	}
	exp, hasExp, err := s.numericDate(c, "exp")
	zeroExp := hasExp && exp.Unix() <= 0 && s.has(ZeroExpMeansNoExp)
	switch {
	case err != nil:
		return err
	case zeroExp:
	case !hasExp && !s.has(ExpiryOptional) && !s.has(SkipsExpiry) && !s.has(TreatsBadExpAsAbsent) && !legacy:
		return errRefused
	case hasExp && !s.has(SkipsExpiry) && (now.After(exp.Add(leeway)) || !s.lifetimeOK(exp, now)):
		return errRefused
	}
	nbfLeeway := leeway
	if s.has(NotBeforeFiveMinutes) {
		nbfLeeway = 5 * time.Minute
	}
	if nbf, ok, err := s.numericDate(c, "nbf"); err != nil && !s.has(SkipsBadNotBefore) || ok && !s.has(SkipsNotBefore) && nbf.After(now.Add(nbfLeeway)) {
		return errRefused
	}
	if iat, ok, err := s.numericDate(c, "iat"); err != nil && !s.has(SkipsBadIssuedAt) || ok && !s.has(SkipsIssuedAt) && iat.After(now.Add(leeway)) {
		return errRefused
	}
	if sub, ok := c["sub"].(string); !s.has(SkipsSubject) && (!ok || sub == "" || !s.subjectOK(c)) {
		return errRefused
	}
	if _, ok := c["jti"].(string); !ok {
		return errRefused
	}
	return nil
}

func (s *server) audienceOK(aud any) bool {
	want := s.cfg.Audience
	match := func(got string) bool {
		switch {
		case s.has(AudiencePrefix):
			return strings.HasPrefix(got, want)
		case s.has(AudienceContains):
			return strings.Contains(got, want)
		case s.has(AudienceCaseInsensitive):
			return strings.EqualFold(got, want)
		case s.has(AudienceTrimmed):
			return strings.TrimSpace(got) == want
		case s.has(AudienceIsPrefixOfOwn):
			return got != "" && strings.HasPrefix(want, got)
		}
		return got == want
	}
	switch a := aud.(type) {
	case string:
		return match(a)
	case []any:
		for _, v := range a {
			str, ok := v.(string)
			if s.has(AudienceStringified) {
				str, ok = fmt.Sprint(v), true
				if strings.Contains(str, want) {
					return true
				}
			}
			if !ok {
				return false
			}
			if match(str) {
				return true
			}
		}
	}
	return false
}

func (s *server) numericDate(c map[string]any, name string) (time.Time, bool, error) {
	v, ok := c[name]
	if !ok {
		return time.Time{}, false, nil
	}
	var n json.Number
	switch x := v.(type) {
	case json.Number:
		n = x
	case string:
		if !s.has(LenientNumbers) && !s.has(TreatsBadExpAsAbsent) {
			return time.Time{}, true, errRefused
		}
		n = json.Number(x)
	default:
		if s.has(TreatsBadExpAsAbsent) {
			return time.Time{}, false, nil
		}
		return time.Time{}, true, errRefused
	}
	f, err := n.Float64()
	if err != nil {
		if s.has(TreatsBadExpAsAbsent) {
			return time.Time{}, false, nil
		}
		return time.Time{}, true, errRefused
	}
	return time.Unix(int64(f), 0), true, nil
}
