package cases

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// The WIMSE drafts these cases follow; a later draft is a visible change.
const (
	witDraft = "draft-ietf-wimse-workload-creds-02"
	wptDraft = "draft-ietf-wimse-wpt-01"
)

// wimseControlID is the valid WIMSE request every other wimse case rests on.
const wimseControlID = "WIMSE-01"

// wimseCases run against servers the target declares wimse: an access
// token for the server with a Workload Identity Token from the test issuer
// (sub wimse://TRUST_DOMAIN/<the token's client>, cnf.jwk the suite's
// proof key) and a Workload Proof Token by that key for the request, each
// case one thing wrong.
func wimseCases() []attack.Case {
	wc := func(id, title, explain, source string, sev attack.Severity, change func(w *wimseAttempt)) attack.Case {
		return attack.Case{About: attack.About{ID: id, Category: "wimse", Severity: sev, Expect: attack.Refuse, Source: source,
			Title: title, Explain: explain},
			Run: attack.Requests(wimseAttempts(change))}
	}
	wit, wpt := witDraft, wptDraft
	return []attack.Case{
		{About: attack.About{ID: wimseControlID, Category: "wimse", Severity: attack.High, Expect: attack.Accept, Source: wpt,
			Title:   "An access token with a valid WIT and WPT is accepted",
			Explain: "The positive control: the server's access token, a WIT naming the caller's workload and key (cnf.jwk), and a WPT signed by that key for this request (aud, wth, ath). If it is refused, no WIMSE refusal below means anything."},
			Run: attack.Requests(wimseAttempts(nil))},
		wc("WIMSE-02", "A WIT without its WPT", "A WIT names a key; only a proof by that key shows the caller holds it. Accepted alone, a copied WIT is a bearer credential.",
			wpt, attack.Critical, func(w *wimseAttempt) { w.noWPT = true }),
		wc("WIMSE-03", "A WIT presented as a bearer token", "A WIT is never an access token: it has no audience and is worth nothing without its key. A server that takes it in Authorization lets whoever copied it in.",
			wit, attack.Critical, func(w *wimseAttempt) { w.witAsBearer = true }),
		wc("WIMSE-04", "A WPT made for another service (aud: the same path at another host)", "The WPT's aud is the request's target URI: a proof captured at one service must not work at another, even where their paths agree. This is the seeds' 'aud says which service', per request.",
			wpt, attack.Critical, func(w *wimseAttempt) { w.wptClaims["aud"] = otherHost(w.wptClaims["aud"].(string)) }),
		{About: attack.About{ID: "WIMSE-05", Category: "wimse", Severity: attack.Medium, Expect: attack.Refuse, Source: wpt,
			Title:   "A WPT whose aud carries a query or a fragment",
			Explain: "aud is the target URI without query or fragment. A verifier that strips them from aud before comparing accepts a proof that names what no request addressed, and two spellings of one target."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				var out []attack.Attempt
				for _, suffix := range []string{"?conformance=1", "#conformance"} {
					attempts, err := wimseAttempts(func(w *wimseAttempt) { w.wptClaims["aud"] = w.wptClaims["aud"].(string) + suffix })(ctx, e, rs)
					if err != nil {
						return nil, err
					}
					attempts[0].Label = "aud with " + suffix
					out = append(out, attempts...)
				}
				return out, nil
			})},
		wc("WIMSE-06", "An expired WPT", "A proof is for one request, now; one that expired five minutes ago is a captured proof.",
			wpt, attack.High, func(w *wimseAttempt) {
				w.wptClaims["iat"], w.wptClaims["exp"] = time.Now().Add(-6*time.Minute).Unix(), time.Now().Add(-5*time.Minute).Unix()
			}),
		wc("WIMSE-07", "A WPT issued five minutes in the future", "A proof from the future can be kept and used until then; its iat is after now.",
			wpt, attack.Medium, func(w *wimseAttempt) { w.wptClaims["iat"] = time.Now().Add(5 * time.Minute).Unix() }),
		wc("WIMSE-08", "A WPT valid for an hour", "A WPT's exp is short (seconds to a minute or so): one that lives an hour turns a captured proof into a credential for an hour.",
			wpt, attack.Medium, func(w *wimseAttempt) { w.wptClaims["exp"] = time.Now().Add(time.Hour).Unix() }),
		{About: attack.About{ID: "WIMSE-09", Category: "wimse", Severity: attack.High, Expect: attack.Refuse, Source: wpt,
			Title:   "The same WPT presented twice",
			Explain: "A WPT's jti is single-use: a copied request (tokens and proof) must not work a second time, even at its own target."},
			Run: checkWPTReplay},
		wc("WIMSE-10", "A WPT signed by another key than the WIT's cnf.jwk", "The thief has the WIT, not its key, and signs the proof with a key of its own. Only verifying the proof with cnf.jwk stops this.",
			wpt, attack.Critical, func(w *wimseAttempt) { w.signer = w.other }),
		wc("WIMSE-11", "A WPT whose alg is not cnf.jwk's alg (PS256 with an RS256 key)", "The WPT's alg must be exactly the alg of the WIT's key. A verifier that takes the proof's alg lets one key sign under schemes its owner never chose.",
			wit+"; "+wpt, attack.Medium, func(w *wimseAttempt) { w.pssWithRSAKey = true }),
		wc("WIMSE-12", "A WPT without wth", "wth binds the proof to the WIT it is sent with; without it, a proof made with one WIT works with any WIT for the same key.",
			wpt, attack.High, func(w *wimseAttempt) { w.wptClaims["wth"] = nil }),
		wc("WIMSE-13", "A WPT whose wth is another WIT's hash", "The proof was made for another WIT; with this one it must fail.",
			wpt, attack.High, func(w *wimseAttempt) { w.wptClaims["wth"] = hashToken("another-wit") }),
		wc("WIMSE-14", "A WPT without ath while an access token is sent", "ath binds the proof to the access token that rides along; without it, a proof works with any token the caller can get hold of.",
			wpt, attack.High, func(w *wimseAttempt) { delete(w.wptClaims, "ath") }),
		wc("WIMSE-15", "A WPT whose ath is another token's hash", "The proof was made for another access token; presented with this one it must fail.",
			wpt, attack.High, func(w *wimseAttempt) { w.wptClaims["ath"] = hashToken("another-token") }),
		wc("WIMSE-16", "A WIT without cnf", "A WIT's cnf.jwk is the key its proofs must be signed with; a WIT without one binds to nothing and must be refused, not taken as a bearer credential.",
			wit, attack.Critical, func(w *wimseAttempt) { w.noCnf = true }),
		wc("WIMSE-17", "A WIT whose cnf.jwk holds the private key", "cnf.jwk is a public key. One with private members is not a key a verifier may trust as the workload's: whoever issued it leaked it.",
			wit, attack.Medium, func(w *wimseAttempt) { w.privateCnf = true }),
		wc("WIMSE-18", "A WIT whose cnf.jwk has no alg", "The draft makes cnf.jwk's alg mandatory: it fixes the one algorithm proofs use. A verifier that infers one lets the proof choose.",
			wit, attack.Medium, func(w *wimseAttempt) { w.cnfWithoutAlg = true }),
		wc("WIMSE-19", "A WIT with alg none", "An unsigned WIT is anyone's claim to be any workload.",
			wit+"; RFC 8725 §3.1", attack.Critical, func(w *wimseAttempt) { w.witUnsigned = true }),
		wc("WIMSE-20", "A WIT signed with HS256", "A WIT is signed with its issuer's asymmetric key; a MAC with a guessable secret (here 'secret') proves nothing.",
			wit+"; RFC 8725 §3.1", attack.Critical, func(w *wimseAttempt) { w.witHMAC = true }),
		wc("WIMSE-21", "A WIT from an untrusted issuer, signed with that issuer's key", "A genuine WIT of another issuer (its own key and iss) is refused: the server trusts its issuers' keys only.",
			wit+"; RFC 8725 §3.8", attack.Critical, func(w *wimseAttempt) { w.otherIssuer = true }),
		wc("WIMSE-22", "A WIT naming a workload outside the trust domain", "sub is a workload URI of the server's trust domain; a WIT for wimse://another-domain/... names nobody this server knows.",
			wit, attack.High, func(w *wimseAttempt) {
				w.witClaims["sub"] = "wimse://elsewhere.invalid/" + workloadName(w.witClaims["sub"].(string))
			}),
		wc("WIMSE-23", "A WIT with typ JWT", "typ wit+jwt is what makes a JWT a WIT; without that check, any token from the issuer with a cnf (an access token, say) could pass for one.",
			wit, attack.Medium, func(w *wimseAttempt) { w.witHeader["typ"] = "JWT" }),
		wc("WIMSE-24", "Two Workload-Proof-Token headers, each a valid proof", "A request carries exactly one WPT; with two, a server and a proxy in front of it can each check a different one.",
			wpt, attack.Medium, func(w *wimseAttempt) { w.twoWPTs = true }),
		{About: attack.About{ID: "WIMSE-25", Category: "wimse", Severity: attack.Low, Expect: attack.Refuse, Source: wpt + "; RFC 9457",
			Title:   "A WPT with typ JWT, refused 400 with problem details",
			Explain: "typ wpt+jwt is what makes a JWT a proof; and a request whose WIMSE credentials fail is answered 400 Bad Request with an RFC 9457 problem details body (application/problem+json), not a 401 bearer challenge: the caller learns its proof was wrong, not that it should fetch a token."},
			Run: checkWIMSERefusalForm},
		wc("WIMSE-26", "An expired WIT", "A WIT's exp bounds how long a workload is who it says: an expired one names a workload that may no longer be.",
			wit, attack.High, func(w *wimseAttempt) { w.witClaims["exp"] = time.Now().Add(-5 * time.Minute).Unix() }),
	}
}

func wimseOnly(rs *target.ResourceServer) string {
	if rs.WIMSE == nil {
		return "the target does not declare that this server accepts WIMSE credentials (wimse)"
	}
	return ""
}

// wimseAttempt is one WIMSE request being built.
type wimseAttempt struct {
	accessToken                      string
	witHeader, witClaims             map[string]any
	wptHeader, wptClaims             map[string]any
	key, other, signer               attack.SigningKey
	otherIssuer, witUnsigned         bool
	witHMAC                          bool
	noCnf, privateCnf, cnfWithoutAlg bool
	pssWithRSAKey                    bool
	noWPT, twoWPTs, witAsBearer      bool
	issuer                           *attack.Issuer
}

func wimseAttempts(change func(w *wimseAttempt)) func(context.Context, *attack.Kit, *target.ResourceServer) ([]attack.Attempt, error) {
	return func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
		w, err := newWIMSEAttempt(ctx, e, rs)
		if err != nil {
			return nil, err
		}
		if change != nil {
			change(w)
		}
		if w.pssWithRSAKey {
			rsa, ok := e.Keys.Get(testissuer.Attacker, "RS256")
			if !ok {
				return nil, fmt.Errorf("no RS256 key for proofs")
			}
			w.key, w.signer = rsa, rsa
		}
		a, err := w.attempt()
		return []attack.Attempt{a}, err
	}
}

func newWIMSEAttempt(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) (*wimseAttempt, error) {
	if e.Issuer == nil {
		return nil, attack.ErrNeedsTestIssuer
	}
	key, other, err := proofKeys(e)
	if err != nil {
		return nil, err
	}
	token, _, claims, err := e.Base(ctx, rs)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return &wimseAttempt{accessToken: token, key: key, other: other, signer: key, issuer: e.Issuer,
		witHeader: map[string]any{"typ": "wit+jwt", "alg": e.Issuer.Primary.Algorithm, "kid": e.Issuer.Primary.ID},
		witClaims: map[string]any{"iss": e.Issuer.URL, "sub": workloadOf(rs, claims), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "jti": attack.RandomID()},
		wptHeader: map[string]any{"typ": "wpt+jwt"},
		wptClaims: map[string]any{"aud": strings.TrimSuffix(cmp.Or(rs.PublicURL, rs.URL), "/") + rs.Path, "iat": now.Unix(), "exp": now.Add(30 * time.Second).Unix(),
			"jti": attack.RandomID(), "ath": hashToken(token)},
	}, nil
}

// workloadOf is the workload URI a WIT names for the caller of claims' token:
// its SPIFFE ID, or wimse://TRUST_DOMAIN/<client_id or sub>.
func workloadOf(rs *target.ResourceServer, claims map[string]any) string {
	caller, _ := claims["client_id"].(string)
	if caller == "" {
		caller, _ = claims["sub"].(string)
	}
	if strings.HasPrefix(caller, "spiffe://") {
		return caller
	}
	return "wimse://" + rs.WIMSE.TrustDomain + "/" + caller
}

// otherHost is u at another host: another service's URI for the same path.
func otherHost(u string) string {
	scheme, rest, _ := strings.Cut(u, "://")
	_, path, _ := strings.Cut(rest, "/")
	return scheme + "://another-service.invalid/" + path
}

// workloadName is the path of a workload URI.
func workloadName(uri string) string {
	_, rest, _ := strings.Cut(uri, "://")
	_, path, _ := strings.Cut(rest, "/")
	return path
}

// attempt signs WIT and WPT as the attempt now says.
func (w *wimseAttempt) attempt() (attack.Attempt, error) {
	a := attack.Attempt{Label: "access token, WIT and WPT", Authorization: "Bearer " + w.accessToken}
	wit, err := w.signWIT()
	if err != nil {
		return a, err
	}
	if w.witAsBearer {
		return attack.Attempt{Label: "WIT as a bearer token", Authorization: "Bearer " + wit}, nil
	}
	a.WIT = wit
	if w.noWPT {
		a.Label = "access token and WIT, no WPT"
		return a, nil
	}
	claims := attack.Clone(w.wptClaims)
	switch wth, set := claims["wth"]; {
	case !set:
		claims["wth"] = hashToken(wit)
	case wth == nil: // WIMSE-12: none at all
		delete(claims, "wth")
	}
	h := attack.Clone(w.wptHeader)
	h["alg"] = w.signer.Algorithm
	if w.pssWithRSAKey {
		h["alg"] = "PS256"
	}
	if a.WPT, err = attack.Sign(w.signer.Signer, h["alg"].(string), h, claims); err != nil {
		return a, err
	}
	if w.twoWPTs {
		second := attack.Clone(claims)
		second["jti"] = attack.RandomID()
		a.SecondWPT, err = attack.Sign(w.signer.Signer, h["alg"].(string), h, second)
	}
	return a, err
}

// signWIT signs the WIT, with its cnf.jwk the proof key.
func (w *wimseAttempt) signWIT() (string, error) {
	claims := attack.Clone(w.witClaims)
	if !w.noCnf {
		cnf, err := w.confirmationKey()
		if err != nil {
			return "", err
		}
		claims["cnf"] = map[string]any{"jwk": cnf}
	}
	h := attack.Clone(w.witHeader)
	signer := w.issuer.Primary
	switch {
	case w.witUnsigned:
		h["alg"] = "none"
		hdr, _ := attack.MarshalSegment(h)
		payload, _ := attack.MarshalSegment(claims)
		return hdr + "." + payload + ".", nil
	case w.witHMAC:
		h["alg"] = "HS256"
		return signWithHMAC([]byte("secret"), h, claims)
	case w.otherIssuer:
		signer = w.issuer.Other
		claims["iss"] = w.issuer.URL + "/other"
		h["alg"], h["kid"] = signer.Algorithm, signer.ID
	}
	return attack.Sign(signer.Signer, signer.Algorithm, h, claims)
}

// confirmationKey is cnf.jwk: the proof key's public JWK with its alg.
func (w *wimseAttempt) confirmationKey() (map[string]any, error) {
	data, err := json.Marshal(jwk.Key{Algorithm: w.key.Algorithm, Public: w.key.Signer.Public()})
	if err != nil {
		return nil, err
	}
	var public map[string]any
	if err := json.Unmarshal(data, &public); err != nil {
		return nil, err
	}
	if w.cnfWithoutAlg {
		delete(public, "alg")
	}
	if w.privateCnf {
		if err := addPrivate(public, w.key); err != nil {
			return nil, err
		}
	}
	return public, nil
}

// checkWPTReplay is WIMSE-09: the same request twice. On a single-use
// server the access token's own replay would explain the refusal.
func checkWPTReplay(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
	if rs.SingleUse {
		return attack.Verdict{Status: attack.NotApplicable, Reason: "the server is single-use: a second use of the access token is refused anyway"}
	}
	attempts, err := wimseAttempts(nil)(ctx, e, rs)
	if err != nil {
		return attack.SkipOrFail(err)
	}
	first := e.Send(ctx, rs, attempts[0])
	if first.Status < 200 || first.Status >= 300 {
		return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("inconclusive: first use refused (%d %s)", first.Status, first.Error), Observations: []attack.Observation{first}}
	}
	attempts[0].Label = "the same WIT and WPT again"
	v := attack.Judge(attack.Refuse, []attack.Observation{e.Send(ctx, rs, attempts[0])})
	v.Observations = append([]attack.Observation{first}, v.Observations...)
	return v
}

// checkWIMSERefusalForm is WIMSE-25: a WPT typed JWT, refused 400 with
// application/problem+json.
func checkWIMSERefusalForm(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
	attempts, err := wimseAttempts(func(w *wimseAttempt) { w.wptHeader["typ"] = "JWT" })(ctx, e, rs)
	if err != nil {
		return attack.SkipOrFail(err)
	}
	o := e.Send(ctx, rs, attempts[0])
	v := attack.Judge(attack.Refuse, []attack.Observation{o})
	if v.Status == attack.Pass && (o.Status != 400 || o.ContentType != "application/problem+json") {
		v.Status, v.Reason = attack.Fail, fmt.Sprintf("refused with %d %q: want 400 application/problem+json", o.Status, o.ContentType)
	}
	return v
}
