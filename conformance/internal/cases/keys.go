package cases

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
)

func keyCases() []attack.Case {
	fetchCase := func(id, param, source string) attack.Case {
		return attack.Case{About: attack.About{ID: id, Category: "key selection", Severity: attack.Critical, Expect: attack.Refuse, Source: source,
			Title:   fmt.Sprintf("%s header pointing at the attacker's server", param),
			Explain: fmt.Sprintf("%s tells a verifier where to download the key. If the verifier follows it, the attacker chooses the key (and the verifier makes requests wherever the attacker says: SSRF). Fetching it at all is the flaw, so the suite fails the case on the fetch, not only on acceptance.", param)},
			Run: func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
				if e.Issuer == nil || e.Hits == nil {
					return attack.SkipOrFail(attack.ErrNeedsTestIssuer)
				}
				path := fmt.Sprintf(testissuer.AttackerPath+"%s-%s-%s", param, rs.Name, attack.RandomID()[:6])
				tok, err := attackerSigned(ctx, e, rs, func(h map[string]any, _ attack.SigningKey) error {
					h[param] = e.IssuerURL + path
					return nil
				})
				if err != nil {
					return attack.SkipOrFail(err)
				}
				v := attack.Judge(attack.Refuse, []attack.Observation{e.Send(ctx, rs, attack.Bearer(param+" → attacker", tok))})
				h, err := e.ReadHits(ctx)
				if err != nil {
					return attack.Verdict{Status: attack.Fail, Reason: "cannot read the issuer's fetch log: " + err.Error(), Observations: v.Observations}
				}
				if h.HasPath(path) {
					v.Status, v.Reason = attack.Fail, attack.JoinReason(v.Reason, "the server FETCHED "+param+" "+e.IssuerURL+path)
				}
				return v
			}}
	}
	return []attack.Case{
		{About: attack.About{ID: "KEY-01", Category: "key selection", Severity: attack.Critical, Expect: attack.Refuse, Source: "CVE-2018-0114; RFC 8725 §3.10",
			Title:   "Embedded jwk header with the attacker's key",
			Explain: "The token carries its own public key in the jwk header and is signed with the matching private key. A verifier that trusts a key because the token brought it trusts anyone."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				tok, err := attackerSigned(ctx, e, rs, func(h map[string]any, k attack.SigningKey) error {
					h["jwk"] = k.Public()
					return nil
				})
				return []attack.Attempt{attack.Bearer("embedded jwk", tok)}, err
			})},
		{About: attack.About{ID: "KEY-02", Category: "key selection", Severity: attack.Critical, Expect: attack.Refuse, Source: "CVE-2018-0114",
			Title:   "Embedded jwk header claiming a trusted kid",
			Explain: "As KEY-01, but the embedded key wears the issuer's kid, for verifiers that look the kid up and then use the embedded key anyway."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				base, err := e.Token(ctx, rs)
				h0 := base.Header
				if err != nil {
					return nil, err
				}
				tok, err := attackerSigned(ctx, e, rs, func(h map[string]any, k attack.SigningKey) error {
					pub := k.Public()
					pub.ID = fmt.Sprint(h0["kid"])
					h["kid"], h["jwk"] = pub.ID, pub
					return nil
				})
				return []attack.Attempt{attack.Bearer("embedded jwk, trusted kid", tok)}, err
			})},
		fetchCase("KEY-03", "jku", "RFC 8725 §3.10; RFC 7515 §4.1.2"),
		fetchCase("KEY-04", "x5u", "RFC 8725 §3.10; RFC 7515 §4.1.5"),
		{About: attack.About{ID: "KEY-05", Category: "key selection", Severity: attack.Critical, Expect: attack.Refuse, Source: "RFC 7515 §4.1.6",
			Title:   "Embedded x5c certificate chain (self-signed)",
			Explain: "x5c carries certificates. A self-signed certificate proves only that the attacker has a key; trusting it is trusting the token's own say-so."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				tok, err := attackerSigned(ctx, e, rs, func(h map[string]any, k attack.SigningKey) error {
					cert, err := selfSigned(k.Signer)
					h["x5c"] = []string{base64.StdEncoding.EncodeToString(cert)}
					return err
				})
				return []attack.Attempt{attack.Bearer("x5c self-signed", tok)}, err
			})},
		{About: attack.About{ID: "KEY-06", Category: "key selection", Severity: attack.Medium, Expect: attack.Refuse, Source: "RFC 7515 §4.1.4; go-spiffe jwtsvid",
			Title:   "No kid",
			Explain: "Without kid a verifier must guess the key, and some try every key they know, or the first. Tokens here must name their key."},
			Run: attack.Requests(attack.Forged(func(_ *attack.Issuer, h, _ map[string]any) { delete(h, "kid") }))},
		{About: attack.About{ID: "KEY-07", Category: "key selection", Severity: attack.Critical, Expect: attack.Refuse, Source: "jwt_tool; OWASP WSTG-SESS-10",
			Title:   "Injection-shaped kid values",
			Explain: "kid reaches file paths, SQL and shell commands in careless verifiers: ../../dev/null makes the key empty, a SQL quote makes it attacker-chosen. kid must only ever be looked up in the trusted key set."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				base, err := e.Token(ctx, rs)
				h, c := base.Header, base.Claims
				if err != nil {
					return nil, err
				}
				var out []attack.Attempt
				h1 := attack.Clone(h)
				h1["alg"], h1["kid"] = "HS256", "../../../../../../../../dev/null"
				tok, err := signWithHMAC(nil, h1, c)
				if err != nil {
					return nil, err
				}
				out = append(out, attack.Bearer("kid path traversal, HS256 empty key", tok))
				for _, kid := range []string{"' OR '1'='1", "x' UNION SELECT 'secret", "|/bin/true", "$(true)", fmt.Sprint(h["kid"]) + "\x00evil", "http://127.0.0.1/jwks.json"} {
					t2, err := attackerSigned(ctx, e, rs, func(hh map[string]any, _ attack.SigningKey) error {
						hh["kid"] = kid
						return nil
					})
					if err != nil {
						return nil, err
					}
					out = append(out, attack.Bearer(fmt.Sprintf("kid %q", kid), t2))
				}
				return out, nil
			})},
		{About: attack.About{ID: "KEY-08", Category: "key selection", Severity: attack.Medium, Expect: attack.Refuse, Source: "go-oidc RemoteKeySet; RFC 8725 §3.10",
			Title:   "Unknown kids do not make the server refetch the JWKS every time",
			Explain: "A verifier refetches the JWKS when it sees a new kid (that is how rotation works), but at most once in a while: otherwise every made-up kid turns one request into two, and the issuer is flooded through its clients."},
			Run: checkRefetchFlood},
		{About: attack.About{ID: "KEY-09", Category: "key selection", Severity: attack.Medium, Expect: attack.Refuse, Source: "RFC 7517 §4.2; RFC 8725 §3.10",
			Title:   "A key published with use: enc verifies nothing",
			Explain: "The issuer says this key is for encryption. A verifier that ignores use lets a key meant for another purpose (and perhaps held by another system) sign tokens."},
			Run: attack.Requests(signedByRole(testissuer.EncOnly, "key with use: enc"))},
		{About: attack.About{ID: "KEY-10", Category: "key selection", Severity: attack.Medium, Expect: attack.Refuse, Source: "RFC 7517 §4.3",
			Title:   "A key whose key_ops lacks verify verifies nothing",
			Explain: "key_ops lists what a key may do; a key published for encrypt only must not verify a signature, whatever its type."},
			Run: attack.Requests(signedByRole(testissuer.NoVerifyOps, "key with key_ops [encrypt]"))},
		{About: attack.About{ID: "KEY-11", Category: "key selection", Severity: attack.High, Expect: attack.Accept, Source: "RFC 7517 §4.5; OpenID Connect Core §10.1.1",
			Title:   "A key published during the run is accepted in bounded time, also after a burst of unknown kids",
			Explain: "Rotation: the issuer publishes a new key and starts signing with it. A verifier must fetch the JWKS again when it meets the new kid (rate-limited, as KEY-08 wants), not only when a cache of minutes expires, and a burst of made-up kids must not spend the refetch budget the real rotation needs. The suite publishes a key, measures how long the server takes to accept it, then sends 20 unknown kids and does it again."},
			Waits: func(t *target.Target) time.Duration { return 2 * t.KeyDelay() },
			Run:   checkPublishedKey},
	}
}

func selfSigned(signer crypto.Signer) ([]byte, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "conformance attacker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
}

// signedByRole signs a valid token with the run's key of role, which the
// trusted JWKS publishes with that role's stated purpose.
func signedByRole(role, label string) func(context.Context, *attack.Kit, *target.ResourceServer) ([]attack.Attempt, error) {
	return func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
		if e.Issuer == nil {
			return nil, attack.ErrNeedsTestIssuer
		}
		k, ok := e.Keys.Get(role, e.Issuer.Primary.Algorithm)
		if !ok {
			return nil, fmt.Errorf("the test issuer has no %s key", role)
		}
		tok, err := attack.Sign(k.Signer, k.Algorithm, e.Issuer.Header(rs, k), e.Issuer.Claims(rs, time.Now()))
		return []attack.Attempt{attack.Bearer(label, tok)}, err
	}
}

// checkPublishedKey is KEY-11.
func checkPublishedKey(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
	if e.Issuer == nil || e.Publish == nil {
		return attack.SkipOrFail(attack.ErrNeedsTestIssuer)
	}
	var notes []string
	for round, label := range []string{"a key published now", "a key published after 20 unknown kids"} {
		if round == 1 {
			if err := sendUnknownKids(ctx, e, rs, 20); err != nil {
				return attack.SkipOrFail(err)
			}
		}
		note, v := publishedKeyAccepted(ctx, e, rs, label)
		if v != nil {
			v.Reason = strings.TrimSuffix(v.Reason+"; "+strings.Join(notes, "; "), "; ")
			return *v
		}
		notes = append(notes, note)
	}
	return attack.Verdict{Status: attack.Pass, Reason: strings.Join(notes, "; ")}
}

// sendUnknownKids sends n tokens whose kids nobody published: each may
// cost the server a JWKS refetch.
func sendUnknownKids(ctx context.Context, e *attack.Kit, rs *target.ResourceServer, n int) error {
	for i := range n {
		kid := fmt.Sprintf("unknown-%d-%s", i, attack.RandomID()[:6])
		tok, err := attackerSigned(ctx, e, rs, func(h map[string]any, _ attack.SigningKey) error {
			h["kid"] = kid
			return nil
		})
		if err != nil {
			return err
		}
		e.Send(ctx, rs, attack.Bearer("unknown kid", tok))
	}
	return nil
}

// publishedKeyAccepted publishes a new key and sends tokens it signs until
// one is accepted (a note of how long it took) or the target's key delay
// has passed (a failing verdict).
func publishedKeyAccepted(ctx context.Context, e *attack.Kit, rs *target.ResourceServer, label string) (string, *attack.Verdict) {
	maxKeyDelay := e.Target.KeyDelay()
	key, err := testissuer.NewKey(e.Issuer.Primary.Algorithm)
	if err != nil {
		v := attack.SkipOrFail(err)
		return "", &v
	}
	if err := e.Publish(ctx, key.Public()); err != nil {
		return "", &attack.Verdict{Status: attack.Fail, Reason: "could not publish a key at the test issuer: " + err.Error()}
	}
	start := time.Now()
	for {
		tok, err := attack.Sign(key.Signer, key.Algorithm, e.Issuer.Header(rs, key), e.Issuer.Claims(rs, time.Now()))
		if err != nil {
			v := attack.SkipOrFail(err)
			return "", &v
		}
		o := e.Send(ctx, rs, attack.Bearer(label, tok))
		if o.Status >= 200 && o.Status < 300 {
			return fmt.Sprintf("%s: accepted after %s", label, time.Since(start).Round(100*time.Millisecond)), nil
		}
		if time.Since(start) > maxKeyDelay {
			return "", &attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("%s: still refused after %s (%d %s)", label, maxKeyDelay, o.Status, o.Error),
				Observations: []attack.Observation{o}}
		}
		select {
		case <-ctx.Done():
			return "", &attack.Verdict{Status: attack.Fail, Reason: ctx.Err().Error()}
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// attackerSigned signs a valid token with the attacker's key, its header
// edited by edit.
func attackerSigned(ctx context.Context, e *attack.Kit, rs *target.ResourceServer, edit func(h map[string]any, k attack.SigningKey) error) (string, error) {
	base, err := e.Token(ctx, rs)
	h, c := base.Header, base.Claims
	if err != nil {
		return "", err
	}
	k, err := e.Attacker(fmt.Sprint(h["alg"]))
	if err != nil {
		return "", err
	}
	h = attack.Clone(h)
	h["kid"] = k.ID
	if err := edit(h, k); err != nil {
		return "", err
	}
	return attack.Sign(k.Signer, k.Algorithm, h, c)
}

// checkRefetchFlood is KEY-08.
func checkRefetchFlood(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
	if e.Issuer == nil || e.Hits == nil {
		return attack.SkipOrFail(attack.ErrNeedsTestIssuer)
	}
	before, err := e.ReadHits(ctx)
	if err != nil {
		return attack.Verdict{Status: attack.Fail, Reason: "cannot read the issuer's fetch log: " + err.Error()}
	}
	const n = 20
	var obs []attack.Observation
	for i := range n {
		tok, err := attackerSigned(ctx, e, rs, func(h map[string]any, _ attack.SigningKey) error {
			h["kid"] = fmt.Sprintf("unknown-%d-%s", i, attack.RandomID()[:6])
			return nil
		})
		if err != nil {
			return attack.SkipOrFail(err)
		}
		obs = append(obs, e.Send(ctx, rs, attack.Bearer(fmt.Sprintf("unknown kid %d", i+1), tok)))
	}
	v := attack.Judge(attack.Refuse, obs)
	after, err := e.ReadHits(ctx)
	if err != nil {
		return attack.Verdict{Status: attack.Fail, Reason: "cannot read the issuer's fetch log: " + err.Error()}
	}
	if fetched := after.JWKS - before.JWKS; fetched > 2 {
		v.Status, v.Reason = attack.Fail, attack.JoinReason(v.Reason, fmt.Sprintf("%d unknown kids caused %d JWKS fetches", n, fetched))
	}
	if v.Status == attack.Pass {
		v.Observations = obs[:1]
	}
	return v
}
