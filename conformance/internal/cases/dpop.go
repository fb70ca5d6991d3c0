package cases

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// dpopCases run against servers the target declares dpop: a token bound to
// the suite's proof key (cnf.jkt), presented with the DPoP scheme and a
// proof (RFC 9449), each case one thing wrong.
func dpopCases() []attack.Case {
	dc := func(id, title, explain, source string, sev attack.Severity, change func(p *dpopAttempt)) attack.Case {
		return attack.Case{About: attack.About{ID: id, Category: "dpop", Severity: sev, Expect: attack.Refuse, Source: source,
			Title:   title,
			Explain: explain},
			Run: attack.Requests(dpopAttempts(change))}
	}
	return []attack.Case{
		{About: attack.About{ID: dpopControlID, Category: "dpop", Severity: attack.High, Expect: attack.Accept, Source: "RFC 9449 §7",
			Title:   "A DPoP-bound token with a valid proof is accepted",
			Explain: "The positive control: a token bound to the caller's key (cnf.jkt), the DPoP scheme, and a proof signed by that key for this request. If it is refused, no DPoP refusal below means anything."},
			Run: attack.Requests(dpopAttempts(nil))},
		dc("DPOP-02", "Bound token with the DPoP scheme but no proof", "Without a proof, a bound token is just a bearer token: whoever copied it could use it.",
			"RFC 9449 §7.1", attack.Critical, func(p *dpopAttempt) { p.noProof = true }),
		dc("DPOP-03", "Bound token downgraded to the Bearer scheme", "A thief who stole a bound token presents it as a plain bearer token. A server that checks proofs only when the DPoP scheme is used loses the whole protection.",
			"RFC 9449 §7.2", attack.Critical, func(p *dpopAttempt) { p.scheme, p.noProof = "Bearer", true }),
		dc("DPOP-04", "Proof signed by another key than the token's cnf.jkt", "The thief has the token, not the key, and signs a proof with a key of their own. Only comparing the proof key's thumbprint with cnf.jkt stops this.",
			"RFC 9449 §4.3 (12); RFC 7800", attack.Critical, func(p *dpopAttempt) { p.key = p.other }),
		dc("DPOP-05", "Proof for another HTTP method (htm)", "A proof is for one request; one captured from a GET must not authorise a POST.",
			"RFC 9449 §4.3 (8)", attack.High, func(p *dpopAttempt) { p.claims["htm"] = otherMethod(p.claims["htm"].(string)) }),
		dc("DPOP-06", "Proof for another URL (htu)", "A proof captured at one endpoint must not work at another.",
			"RFC 9449 §4.3 (9)", attack.High, func(p *dpopAttempt) { p.claims["htu"] = p.claims["htu"].(string) + "-elsewhere" }),
		dc("DPOP-07", "Proof issued 5 minutes ago", "Proofs are short-lived: a server accepts only recent iat, or a captured proof lives as long as the token.",
			"RFC 9449 §4.3 (11), §11.1", attack.Medium, func(p *dpopAttempt) { p.claims["iat"] = time.Now().Add(-5 * time.Minute).Unix() }),
		dc("DPOP-08", "Proof issued 5 minutes in the future", "A proof from the future can be replayed until then.",
			"RFC 9449 §4.3 (11)", attack.Medium, func(p *dpopAttempt) { p.claims["iat"] = time.Now().Add(5 * time.Minute).Unix() }),
		{About: attack.About{ID: "DPOP-09", Category: "dpop", Severity: attack.High, Expect: attack.Refuse, Source: "RFC 9449 §11.1",
			Title:   "The same proof presented twice",
			Explain: "A proof's jti is single-use: a copied request (token and proof) must not work twice."},
			Run: checkProofReplay},
		dc("DPOP-10", "Proof without ath", "ath binds the proof to the token presented with it; without it a proof made for one token works with any.",
			"RFC 9449 §4.3 (13)", attack.High, func(p *dpopAttempt) { delete(p.claims, "ath") }),
		dc("DPOP-11", "Proof whose ath is another token's hash", "The proof was made for another token; presenting it with this one must fail.",
			"RFC 9449 §4.3 (13)", attack.High, func(p *dpopAttempt) { p.claims["ath"] = hashToken("another-token") }),
		dc("DPOP-12", "Proof with alg none", "An unsigned proof proves nothing about the key.",
			"RFC 9449 §4.3 (5); RFC 8725 §3.1", attack.Critical, func(p *dpopAttempt) { p.unsigned = true }),
		dc("DPOP-13", "Proof signed with HS256", "A proof must be signed with an asymmetric key; a MAC proves possession of nothing public.",
			"RFC 9449 §4.3 (5)", attack.Critical, func(p *dpopAttempt) { p.hmac = true }),
		dc("DPOP-14", "Proof's jwk holds the private key", "A jwk with private parameters is refused: whoever sent it is leaking the key, and it is not a public key the server can trust as one.",
			"RFC 9449 §4.3 (6)", attack.Medium, func(p *dpopAttempt) { p.leakPrivate = true }),
		dc("DPOP-15", "Proof with typ JWT", "typ dpop+jwt is what makes a JWT a DPoP proof; without it any JWT the caller signed (an assertion, say) could serve as one.",
			"RFC 9449 §4.3 (4)", attack.Medium, func(p *dpopAttempt) { p.header["typ"] = "JWT" }),
		{About: attack.About{ID: "DPOP-16", Category: "dpop", Severity: attack.High, Expect: attack.Refuse, Source: "RFC 9449 §4.2, §4.3 (7); OpenID Foundation DPoP tests",
			Title:   "A proof without one of jti, htm, htu, iat (each in turn)",
			Explain: "Each of these claims is what makes a proof this request's, now, once. A verifier that skips a check when its claim is absent accepts a proof that says nothing about it: without htu or htm, for any request; without iat, for ever; without jti, again and again."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				var out []attack.Attempt
				for _, claim := range []string{"jti", "htm", "htu", "iat"} {
					attempts, err := dpopAttempts(func(p *dpopAttempt) { delete(p.claims, claim) })(ctx, e, rs)
					if err != nil {
						return nil, err
					}
					attempts[0].Label = "proof without " + claim
					out = append(out, attempts...)
				}
				return out, nil
			})},
		dc("DPOP-17", "Proof whose signature does not verify (a claim changed after signing)", "A proof is a JWS: its jwk proves nothing unless the signature over its claims verifies with it.",
			"RFC 9449 §4.3 (6); OpenID Foundation DPoP tests", attack.Critical, func(p *dpopAttempt) { p.tamper = true }),
		dc("DPOP-18", "Two DPoP headers, each a valid proof", "A request carries exactly one proof (RFC 9449 §4.3 (1)); with two, a server and a proxy in front of it can each check a different one.",
			"RFC 9449 §4.3 (1); OpenID Foundation DPoP tests", attack.Medium, func(p *dpopAttempt) { p.twice = true }),
		{About: attack.About{ID: "DPOP-19", Category: "dpop", Severity: attack.Medium, Expect: attack.Accept, Source: "RFC 9449 §4.3 (9); RFC 3986 §6.2.2-3",
			Title:   "htu as RFC 3986 normalises it: scheme and host in upper case; a query on the request",
			Explain: "htu is compared with the request's URI after syntax- and scheme-based normalisation, ignoring query and fragment. A verifier comparing strings refuses proofs from clients that write HTTP://Host, or that call with a query string."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				upper, err := dpopAttempts(func(p *dpopAttempt) { p.claims["htu"] = upperSchemeAndHost(p.claims["htu"].(string)) })(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				upper[0].Label = "htu " + upperSchemeAndHost(strings.TrimSuffix(cmp.Or(rs.PublicURL, rs.URL), "/")) + rs.Path
				query, err := dpopAttempts(nil)(ctx, e, rs)
				if err != nil {
					return nil, err
				}
				query[0].Label, query[0].Query = "request with ?conformance=1, htu without it", "conformance=1"
				return append(upper, query...), nil
			})},
		{About: attack.About{ID: "DPOP-20", Category: "dpop", Severity: attack.Medium, Expect: attack.Refuse, Source: "RFC 9449 §8, §9",
			Title:   "A resource server's own nonce: demanded, honoured, and not any value",
			Explain: "A server that issues nonces limits how long a proof can be used to the nonce's life. It answers a proof without one 401 with error use_dpop_nonce and a DPoP-Nonce header, accepts the retry that carries it, and refuses a proof with a nonce it did not issue, or the nonce is decoration."},
			Applies: func(rs *target.ResourceServer) string {
				if !rs.DPoPNonce {
					return "the target does not declare that this server demands DPoP nonces (dpop_nonce)"
				}
				return ""
			},
			Run: checkResourceServerNonce},
	}
}

// checkResourceServerNonce is DPOP-20: without a nonce, use_dpop_nonce and
// a nonce; with a made-up one, refused; with the server's, accepted. Each
// request has a token of its own: a single-use server may count a refused
// request's token as used.
func checkResourceServerNonce(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
	var obs []attack.Observation
	for _, try := range []struct {
		label string
		nonce func(issued any) any // nil: no nonce claim
		check func(o attack.Observation) string
	}{
		{"proof without a nonce", nil, func(o attack.Observation) string {
			if o.Status != 401 || !strings.Contains(o.Challenge, "use_dpop_nonce") || o.Nonce == "" {
				return fmt.Sprintf("got %d, WWW-Authenticate %q, DPoP-Nonce %q: want 401, error=\"use_dpop_nonce\", a nonce", o.Status, o.Challenge, o.Nonce)
			}
			return ""
		}},
		{"proof with a nonce the server did not issue", func(any) any { return "conformance-" + attack.RandomID() }, func(o attack.Observation) string {
			if o.Status >= 200 && o.Status < 300 {
				return fmt.Sprintf("ACCEPTED with %d", o.Status)
			}
			return ""
		}},
		{"proof with the server's nonce", func(issued any) any { return issued }, func(o attack.Observation) string {
			if o.Status < 200 || o.Status >= 300 {
				return fmt.Sprintf("refused: %d %s", o.Status, o.Error)
			}
			return ""
		}},
	} {
		p, err := newDPoPAttempt(ctx, e, rs) // a fresh token, and the server's nonce
		if err != nil {
			return attack.SkipOrFail(err)
		}
		if try.nonce == nil {
			delete(p.claims, "nonce")
		} else {
			p.claims["nonce"] = try.nonce(p.claims["nonce"])
		}
		a, err := p.attempt()
		if err != nil {
			return attack.SkipOrFail(err)
		}
		a.Label = try.label
		o := e.Send(ctx, rs, a)
		obs = append(obs, o)
		if problem := try.check(o); problem != "" {
			return attack.Verdict{Status: attack.Fail, Reason: try.label + ": " + problem, Observations: obs}
		}
	}
	return attack.Verdict{Status: attack.Pass, Observations: obs}
}

// upperSchemeAndHost writes u's scheme and host in upper case.
func upperSchemeAndHost(u string) string {
	scheme, rest, _ := strings.Cut(u, "://")
	host, path, _ := strings.Cut(rest, "/")
	return strings.ToUpper(scheme) + "://" + strings.ToUpper(host) + "/" + path
}

// dpopAttempt is one DPoP request being built.
type dpopAttempt struct {
	scheme, token  string
	noProof        bool
	key, other     attack.SigningKey
	header, claims map[string]any
	unsigned, hmac bool
	leakPrivate    bool
	// tamper changes a claim after signing; twice sends a second proof.
	tamper, twice bool
}

func dpopAttempts(change func(p *dpopAttempt)) func(context.Context, *attack.Kit, *target.ResourceServer) ([]attack.Attempt, error) {
	return func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
		p, err := newDPoPAttempt(ctx, e, rs)
		if err != nil {
			return nil, err
		}
		if change != nil {
			change(p)
		}
		a, err := p.attempt()
		return []attack.Attempt{a}, err
	}
}

func newDPoPAttempt(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) (*dpopAttempt, error) {
	if e.Issuer == nil {
		return nil, attack.ErrNeedsTestIssuer
	}
	key, other, err := proofKeys(e)
	if err != nil {
		return nil, err
	}
	jkt, err := jwk.Thumbprint(key.Signer.Public())
	if err != nil {
		return nil, err
	}
	_, h, c, err := e.Base(ctx, rs)
	if err != nil {
		return nil, err
	}
	c["cnf"] = map[string]any{"jkt": jkt}
	token, err := e.Forge(h, c)
	if err != nil {
		return nil, err
	}
	p := &dpopAttempt{scheme: "DPoP", token: token, key: key, other: other,
		header: map[string]any{"typ": "dpop+jwt", "alg": key.Algorithm},
		claims: map[string]any{"jti": attack.RandomID(), "htm": rs.Method, "htu": strings.TrimSuffix(cmp.Or(rs.PublicURL, rs.URL), "/") + rs.Path,
			"iat": time.Now().Unix(), "ath": hashToken(token)}}
	if rs.DPoPNonce {
		// The server's nonce, as a client gets it: a proof without one is
		// answered use_dpop_nonce with the nonce to use (RFC 9449 §9). The
		// request carries a token of its own, which a single-use server
		// may count as used.
		probe := *p
		c["jti"] = attack.RandomID()
		if probe.token, err = e.Forge(h, c); err != nil {
			return nil, err
		}
		probe.claims = attack.Clone(p.claims)
		probe.claims["ath"] = hashToken(probe.token)
		a, err := probe.attempt()
		if err != nil {
			return nil, err
		}
		o := e.Send(ctx, rs, a)
		if o.Nonce == "" {
			return nil, fmt.Errorf("the server declared dpop_nonce sent no DPoP-Nonce (answer %d %s)", o.Status, o.Error)
		}
		p.claims["jti"], p.claims["nonce"] = attack.RandomID(), o.Nonce
	}
	return p, nil
}

// attempt signs the proof as the attempt now says.
func (p *dpopAttempt) attempt() (attack.Attempt, error) {
	a := attack.Attempt{Label: p.scheme + " " + "token", Authorization: p.scheme + " " + p.token}
	if p.noProof {
		return a, nil
	}
	h := attack.Clone(p.header)
	pub, err := json.Marshal(jwk.Key{Algorithm: p.key.Algorithm, Public: p.key.Signer.Public()})
	if err != nil {
		return a, err
	}
	var public map[string]any
	_ = json.Unmarshal(pub, &public)
	if p.leakPrivate {
		if err := addPrivate(public, p.key); err != nil {
			return a, err
		}
	}
	h["jwk"] = public
	switch {
	case p.unsigned:
		h["alg"] = "none"
		hdr, _ := attack.MarshalSegment(h)
		payload, _ := attack.MarshalSegment(p.claims)
		a.DPoP = hdr + "." + payload + "."
	case p.hmac:
		h["alg"] = "HS256"
		a.DPoP, err = signWithHMAC([]byte("dpop"), h, p.claims)
	default:
		a.DPoP, err = attack.Sign(p.key.Signer, p.key.Algorithm, h, p.claims)
	}
	if err != nil {
		return a, err
	}
	switch {
	case p.tamper:
		hdr, _, _ := strings.Cut(a.DPoP, ".")
		sig := a.DPoP[strings.LastIndex(a.DPoP, ".")+1:]
		changed := attack.Clone(p.claims)
		changed["jti"] = attack.RandomID()
		payload, _ := attack.MarshalSegment(changed)
		a.DPoP = hdr + "." + payload + "." + sig
	case p.twice:
		second := attack.Clone(p.claims)
		second["jti"] = attack.RandomID()
		a.SecondDPoP, err = attack.Sign(p.key.Signer, p.key.Algorithm, h, second)
	}
	a.Label += " with proof"
	return a, err
}

// proofKeys returns the run's proof key and another, made once per run.
func proofKeys(e *attack.Kit) (key, other attack.SigningKey, err error) {
	alg := e.Issuer.Primary.Algorithm
	if alg == "PS256" {
		alg = "RS256" // the proof algorithms servers list are EdDSA, ES256, RS256
	}
	key, ok := e.Keys.Get(testissuer.Attacker, alg) // a key no server trusts for tokens
	if !ok {
		return key, other, fmt.Errorf("no %s key for proofs", alg)
	}
	other, ok = e.Keys.Get(testissuer.Other, alg)
	if !ok {
		return key, other, fmt.Errorf("no second %s key for proofs", alg)
	}
	return key, other, nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return attack.B64(sum[:])
}

func otherMethod(method string) string {
	if method == http.MethodGet {
		return http.MethodPost
	}
	return http.MethodGet
}

// checkProofReplay is DPOP-09: the same token and proof twice. On a
// single-use server the token's own replay would explain the refusal.
func checkProofReplay(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
	if rs.SingleUse {
		return attack.Verdict{Status: attack.NotApplicable, Reason: "the server is single-use: a second use of the token is refused anyway"}
	}
	p, err := newDPoPAttempt(ctx, e, rs)
	if err != nil {
		return attack.SkipOrFail(err)
	}
	a, err := p.attempt()
	if err != nil {
		return attack.SkipOrFail(err)
	}
	first := e.Send(ctx, rs, a)
	if first.Status < 200 || first.Status >= 300 {
		return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("inconclusive: first use refused (%d %s)", first.Status, first.Error), Observations: []attack.Observation{first}}
	}
	a.Label = "the same proof again"
	v := attack.Judge(attack.Refuse, []attack.Observation{e.Send(ctx, rs, a)})
	v.Observations = append([]attack.Observation{first}, v.Observations...)
	return v
}

// addPrivate puts key's private parameter into a public JWK, as a careless
// client leaking its key would.
func addPrivate(public map[string]any, key attack.SigningKey) error {
	switch k := key.Signer.(type) {
	case ed25519.PrivateKey:
		public["d"] = attack.B64(k.Seed())
	case *ecdsa.PrivateKey:
		d, err := k.Bytes()
		if err != nil {
			return err
		}
		public["d"] = attack.B64(d[len(d)-32:])
	case *rsa.PrivateKey:
		public["d"] = attack.B64(k.D.Bytes())
	default:
		return fmt.Errorf("no private parameter for a %T", key.Signer)
	}
	return nil
}
