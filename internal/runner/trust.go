package runner

import (
	"cmp"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/authn"
)

// ResourceServer holds the settings every resource server shares: whom it
// trusts, how much clock skew it tolerates, and how it takes DPoP.
type ResourceServer struct {
	Issuer  string
	JWKSURL string
	Leeway  time.Duration
	// JWKSMaxAge and JWKSMinRefresh tune the key cache (authn defaults).
	JWKSMaxAge     time.Duration
	JWKSMinRefresh time.Duration
	// DPoP is DPoPOff, DPoPOptional (the default) or DPoPRequired.
	DPoP string
	// PublicURL is this service as its clients address it (scheme and
	// host): a DPoP proof's htu must name it. Empty: the listener's
	// loopback URL, right for the demo and for a binary run as it is.
	PublicURL string
	// Profile is the token format accepted: rfc9068 (the default),
	// jwt-svid (of TrustDomain) or kubernetes.
	Profile     string
	TrustDomain string
	// MaxLifetime bounds how far ahead a token's exp may lie.
	MaxLifetime time.Duration
	// Actors, comma-separated, are the clients accepted acting for a
	// token's sub (act.sub of an exchanged token); none: no delegated
	// token is accepted.
	Actors string
	// StatusLists "on" checks tokens' status list entries against the
	// issuer's lists (draft-ietf-oauth-status-list); StatusMaxStale is how
	// long past its refresh a list is used while the issuer is down.
	StatusLists    string
	StatusMaxStale time.Duration
	// WIMSE is WIMSEOff (the default), WIMSEOptional or WIMSERequired:
	// whether WIMSE workload credentials (WIT and WPT) of TrustDomain are
	// accepted, or demanded.
	WIMSE string
}

// ActorList is rs.Actors as a list.
func (rs ResourceServer) ActorList() []string {
	var out []string
	for a := range strings.SplitSeq(rs.Actors, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// TokenProfile is the verifier's profile for rs.Profile.
func (rs ResourceServer) TokenProfile() (authn.Profile, error) {
	switch rs.Profile {
	case "", authn.AccessToken.Name():
		return authn.AccessToken, nil
	case authn.ServiceAccount.Name():
		return authn.ServiceAccount, nil
	case "jwt-svid":
		p, err := authn.JWTSVID(rs.TrustDomain)
		if err != nil {
			return p, fmt.Errorf("TOKEN_PROFILE=jwt-svid needs TRUST_DOMAIN: %w", err)
		}
		return p, nil
	}
	return authn.Profile{}, fmt.Errorf("TOKEN_PROFILE=%q: want rfc9068, jwt-svid or kubernetes", rs.Profile)
}

// DPoP modes of a resource server.
const (
	// DPoPOff: bearer tokens only; "Authorization: DPoP" is no credential.
	DPoPOff = "off"
	// DPoPOptional: bearer tokens, and DPoP-bound tokens with their proofs.
	// The default, so that every documented client (Notification binds its
	// audit tokens) works with a resource server left at its defaults.
	DPoPOptional = "optional"
	// DPoPRequired: DPoP-bound tokens with their proofs only.
	DPoPRequired = "required"
)

// DPoPConfig is the middleware's DPoP configuration for rs.DPoP, or nil
// when DPoP is off; proofs are remembered in replay, and must name
// rs.PublicURL, or else the instance's own URL.
func (rs ResourceServer) DPoPConfig(replay authn.ReplayGuard, in Instance) (*authn.DPoPConfig, error) {
	switch rs.DPoP {
	case DPoPOff:
		return nil, nil
	case "", DPoPOptional, DPoPRequired: // "": the zero value, optional
	default:
		return nil, fmt.Errorf("DPOP=%q: want off, optional or required", rs.DPoP)
	}
	base, err := rs.publicURL(in)
	if err != nil {
		return nil, err
	}
	return &authn.DPoPConfig{Replay: replay, Required: rs.DPoP == DPoPRequired, BaseURL: base}, nil
}

// WIMSE modes of a resource server.
const (
	WIMSEOff      = "off"
	WIMSEOptional = "optional"
	WIMSERequired = "required"
)

// WIMSEConfig is the middleware's WIMSE configuration for rs.WIMSE, or nil
// when it is off; proofs are remembered in replay, and their aud must name
// rs.PublicURL, or else the instance's own URL.
func (rs ResourceServer) WIMSEConfig(replay authn.ReplayGuard, in Instance) (*authn.WIMSEConfig, error) {
	switch rs.WIMSE {
	case "", WIMSEOff:
		return nil, nil
	case WIMSEOptional, WIMSERequired:
	default:
		return nil, fmt.Errorf("WIMSE=%q: want off, optional or required", rs.WIMSE)
	}
	if _, err := authn.WorkloadIdentity(rs.TrustDomain); err != nil {
		return nil, fmt.Errorf("WIMSE=%s needs TRUST_DOMAIN: %w", rs.WIMSE, err)
	}
	base, err := rs.publicURL(in)
	if err != nil {
		return nil, err
	}
	return &authn.WIMSEConfig{Replay: replay, Required: rs.WIMSE == WIMSERequired, BaseURL: base, TrustDomain: rs.TrustDomain}, nil
}

// publicURL is rs.PublicURL, or the instance's URL, as proofs name it.
func (rs ResourceServer) publicURL(in Instance) (*url.URL, error) {
	public := cmp.Or(rs.PublicURL, in.URL)
	base, err := url.Parse(public)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || strings.Trim(base.Path, "/") != "" || base.RawQuery != "" {
		return nil, fmt.Errorf("PUBLIC_URL=%q: want scheme://host[:port], as clients address this service", public)
	}
	base.Path = ""
	return base, nil
}

// Flags registers every setting of ResourceServer.
func (rs *ResourceServer) Flags(fs *flag.FlagSet, env Env) {
	StringFlag(fs, env, &rs.Issuer, "issuer", "TRUSTED_ISSUER", "http://127.0.0.1:9001", "the one issuer whose tokens are accepted")
	StringFlag(fs, env, &rs.JWKSURL, "jwks-url", "JWKS_URL", "", "issuer's JWKS; discovered from its RFC 8414 metadata when empty")
	DurationFlag(fs, env, &rs.Leeway, "leeway", "LEEWAY", authn.DefaultLeeway, "clock-skew leeway for exp, nbf, iat")
	DurationFlag(fs, env, &rs.JWKSMaxAge, "jwks-max-age", "JWKS_MAX_AGE", authn.DefaultMaxKeyAge, "age after which cached keys are refreshed in the background")
	DurationFlag(fs, env, &rs.JWKSMinRefresh, "jwks-min-refresh", "JWKS_MIN_REFRESH", authn.DefaultMinRefreshInterval, "least time between two JWKS fetches")
	StringFlag(fs, env, &rs.DPoP, "dpop", "DPOP", DPoPOptional, "DPoP-bound tokens (RFC 9449): off, optional or required")
	StringFlag(fs, env, &rs.PublicURL, "public-url", "PUBLIC_URL", "", "this service's URL as clients address it, which DPoP proofs must name (default: the listen address on loopback)")
	StringFlag(fs, env, &rs.Profile, "token-profile", "TOKEN_PROFILE", "rfc9068", "token format accepted: rfc9068 (access tokens), jwt-svid (SPIFFE, with TRUST_DOMAIN) or kubernetes (service-account tokens)")
	StringFlag(fs, env, &rs.TrustDomain, "trust-domain", "TRUST_DOMAIN", "", "the trust domain whose workloads are accepted: their JWT-SVIDs (TOKEN_PROFILE=jwt-svid) and WITs (WIMSE)")
	StringFlag(fs, env, &rs.WIMSE, "wimse", "WIMSE", WIMSEOff, "WIMSE workload credentials (Workload-Identity-Token and Workload-Proof-Token): off, optional or required")
	DurationFlag(fs, env, &rs.MaxLifetime, "max-token-lifetime", "MAX_TOKEN_LIFETIME", authn.DefaultMaxLifetime, "tokens whose exp lies further ahead are refused")
	StringFlag(fs, env, &rs.Actors, "accepted-actors", "ACCEPTED_ACTORS", "", "comma-separated clients accepted acting for a token's sub (RFC 8693 act); none: delegated tokens are refused")
	StringFlag(fs, env, &rs.StatusLists, "status-lists", "STATUS_LISTS", "off", "on: refuse tokens their issuer's status list marks revoked or suspended (draft-ietf-oauth-status-list)")
	DurationFlag(fs, env, &rs.StatusMaxStale, "status-max-stale", "STATUS_MAX_STALE", authn.DefaultStatusMaxStale, "how long past its refresh a status list is used while its issuer is unreachable; then tokens pointing into it are refused")
}

// Verifier returns the verifier for audience, with a remote key set, both
// counted in the instance's metrics.
func (rs ResourceServer) Verifier(audience string, in Instance) (*authn.Verifier, error) {
	profile, err := rs.TokenProfile()
	if err != nil {
		return nil, err
	}
	metrics := authn.NewMetrics(in.Registerer())
	keys, err := authn.NewRemoteKeySet(authn.RemoteKeySetConfig{JWKSURL: rs.JWKSURL, Issuer: rs.Issuer, Logger: in.Logger,
		MaxKeyAge: rs.JWKSMaxAge, MinRefreshInterval: rs.JWKSMinRefresh, Metrics: metrics})
	if err != nil {
		return nil, err
	}
	cfg := authn.Config{Profile: profile, Issuer: rs.Issuer, Audience: audience, KeySet: keys, Leeway: rs.Leeway, MaxLifetime: rs.MaxLifetime, Metrics: metrics,
		Actors: rs.ActorList()}
	switch rs.StatusLists {
	case "", "off":
	case "on":
		if cfg.Status, err = authn.NewStatusLists(authn.StatusListsConfig{Issuer: rs.Issuer, KeySet: keys, MaxStale: rs.StatusMaxStale, Logger: in.Logger}); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("STATUS_LISTS=%q: want on or off", rs.StatusLists)
	}
	return authn.NewVerifier(cfg)
}
