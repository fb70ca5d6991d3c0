package conformance

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
)

// AlgorithmSupport is what one server did with one valid token of each
// algorithm the test issuer signs with, before any attack.
type AlgorithmSupport struct {
	Server   string            `json:"server"`
	Accepted []string          `json:"accepted"`
	Ran      []string          `json:"ran"`               // the algorithms the catalogue ran under
	Refused  map[string]string `json:"refused,omitempty"` // algorithm → what the server answered
	// token and kids describe the valid tokens sent, for the message when
	// none is accepted: what they share, and each algorithm's kid.
	token string
	kids  map[string]string
}

// probeAlgorithms sends rs a valid token under each algorithm.
func (s *Suite) probeAlgorithms(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) AlgorithmSupport {
	support := AlgorithmSupport{Server: rs.Name, Refused: map[string]string{}, kids: map[string]string{}}
	for _, alg := range rs.Token.Algorithms() {
		run, err := e.WithIssuer(alg)
		var o Observation
		if err == nil {
			var raw string
			var h, c map[string]any
			if raw, h, c, err = run.Base(ctx, rs); err == nil {
				support.token = fmt.Sprintf("profile %s: typ %v, iss %v, sub %v, aud %v", rs.Token.Describe(), h["typ"], c["iss"], c["sub"], c["aud"])
				support.kids[alg] = fmt.Sprint(h["kid"])
				o = run.Send(ctx, rs, attack.Bearer("valid "+alg+" token", raw))
			}
		}
		switch {
		case err != nil:
			support.Refused[alg] = err.Error()
		case o.Status >= 200 && o.Status < 300:
			support.Accepted = append(support.Accepted, alg)
		case o.Status == 0:
			support.Refused[alg] = o.Error
		default:
			support.Refused[alg] = strings.TrimSpace(fmt.Sprintf("%d %s", o.Status, o.Error))
		}
	}
	return support
}

// algorithmRuns returns one Kit per algorithm the catalogue runs under
// against rs, or a configuration error when rs accepted none of them.
func (s *Suite) algorithmRuns(e *attack.Kit, rs *target.ResourceServer, support AlgorithmSupport) ([]*attack.Kit, error) {
	mode := s.target.TestIssuer.AlgorithmMode()
	var algs []string
	switch mode {
	case target.AlgAll:
		algs = support.Accepted
	case target.AlgAuto:
		algs = support.Accepted[:min(1, len(support.Accepted))]
	default:
		if slices.Contains(support.Accepted, mode) {
			algs = []string{mode}
		}
	}
	if len(algs) == 0 {
		return nil, fmt.Errorf("%w: resource server %q accepted no valid token from the test issuer under %s.\n"+
			"It answered: %s.\nThe tokens it refused: %s.\n"+
			"Is it running at %s, and does it trust issuer %s with JWKS %s (or find it by discovery)? %s",
			ErrConfig, rs.Name, modeWords(mode, rs), support.refusals(), support.sentTokens(), rs.URL, e.IssuerURL, e.IssuerURL+testissuer.JWKSPath,
			profileHint(rs.Token))
	}
	runs := make([]*attack.Kit, 0, len(algs))
	for _, alg := range algs {
		run, err := e.WithIssuer(alg)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		runs = append(runs, run)
	}
	return runs, nil
}

func modeWords(mode string, rs *target.ResourceServer) string {
	if mode == target.AlgAuto || mode == target.AlgAll {
		return "any of " + strings.Join(rs.Token.Algorithms(), ", ")
	}
	return mode
}

// profileHint says which setting of the target would change the tokens.
func profileHint(p target.Token) string {
	switch p.ProfileName() {
	case target.ProfileJWTSVID:
		return fmt.Sprintf("The tokens were JWT-SVIDs of trust domain %s (token.profile jwt-svid); a SPIFFE verifier fetches "+
			"the trust domain's bundle, which the test issuer serves at %s. If it expects another subject, set token.subject.", p.TrustDomain, testissuer.BundlePath)
	case target.ProfileKubernetes:
		return "The tokens were service-account tokens (token.profile kubernetes); a verifier finds the keys by OIDC discovery at " +
			"the issuer or at " + testissuer.KubernetesJWKSPath + ". If it expects another audience or subject, set audience or token.subject."
	}
	return "The tokens were RFC 9068 access tokens (typ at+jwt, token.profile rfc9068). A SPIFFE JWT-SVID verifier refuses them: " +
		"set token.profile to jwt-svid with its trust_domain; a Kubernetes service-account token verifier: kubernetes with namespace " +
		"and service_account; an in-house format: token.header and token.claims (docs/conformance.md, Token profiles)."
}

func (a AlgorithmSupport) sentTokens() string {
	var kids []string
	for _, alg := range testissuer.Algorithms {
		if kid, ok := a.kids[alg]; ok {
			kids = append(kids, alg+" kid "+kid)
		}
	}
	return a.token + "; " + strings.Join(kids, ", ")
}

func (a AlgorithmSupport) refusals() string {
	var parts []string
	for _, alg := range testissuer.Algorithms {
		if why, ok := a.Refused[alg]; ok {
			parts = append(parts, alg+": "+why)
		}
	}
	return strings.Join(parts, "; ")
}
