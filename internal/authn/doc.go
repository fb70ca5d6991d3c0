// Package authn is the one verifier every resource server here uses: it
// accepts an RFC 9068 access token only from the one trusted issuer, only
// for this service's audience, signed by a key the issuer publishes, with
// an allowed asymmetric alg (never none or HS*), typ at+jwt, exp, sub and
// jti, and nothing the header could use to choose its own key. Cheap claim
// checks come before signature work; every refusal is a sentinel error
// (errors.Is), described to clients per RFC 6750 and by a reason code.
//
// Its zero value refuses to start: a missing issuer, audience or key set
// is a configuration error, not "accept anything".
//
//	keys, _ := authn.NewRemoteKeySet(authn.RemoteKeySetConfig{Issuer: "http://identity:8080"})
//	v, err := authn.NewVerifier(authn.Config{Issuer: "http://identity:8080", Audience: "logging-service", KeySet: keys})
//	r.Use(authn.Authenticate(v, authn.WithSingleUse(replayStore)))
//
// DPoP (RFC 9449) is part of the same verifier: WithDPoP checks each
// request's proof against the key the token is bound to (cnf.jkt). So is
// WIMSE: WithWIMSE checks a Workload Identity Token (the WorkloadIdentity
// profile: typ wit+jwt, sub a workload URI of the trust domain, cnf.jwk)
// and the Workload Proof Token its key signed for the request (aud the
// target URI, wth, ath, a short exp, a single-use jti); refusals are 400
// with RFC 9457 problem details.
//
//	r.Use(authn.Authenticate(v, authn.WithWIMSE(authn.WIMSEConfig{
//		Replay: replayStore, BaseURL: publicURL, TrustDomain: "example.org", Required: true})))
//
// The format accepted is a Profile, a named set of checks: AccessToken
// (RFC 9068, the zero value), JWTSVID(trustDomain) for SPIFFE JWT-SVIDs,
// ServiceAccount for Kubernetes projected tokens, ClientAssertion for RFC
// 7523 assertions at a token endpoint. Every profile bounds how far ahead
// exp may lie (Config.MaxLifetime, an hour by default).
//
//	p, _ := authn.JWTSVID("example.org")
//	v, err := authn.NewVerifier(authn.Config{Profile: p, Audience: "logging-service", KeySet: bundle})
package authn
