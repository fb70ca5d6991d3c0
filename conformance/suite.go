package conformance

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// Severity ranks what an accepted attack would let an attacker do.
type Severity string

// Severities, worst first.
const (
	Critical Severity = "critical" // forge any token
	High     Severity = "high"     // use a real token where it must not work
	Medium   Severity = "medium"   // weaker checks, denial of service
	Low      Severity = "low"      // protocol hygiene
)

// Expectation is what a correct server does with a case's requests.
type Expectation string

// Expectations.
const (
	Refuse Expectation = "refused"
	Accept Expectation = "accepted"
)

// Status is a case's verdict.
type Status string

// Verdicts. XFAIL and XPASS concern cases listed as expected failures.
const (
	Pass  Status = "PASS"
	Fail  Status = "FAIL"
	Skip  Status = "SKIP"
	XFail Status = "XFAIL"
	XPass Status = "XPASS"
	// NotApplicable cases did not apply to this server; the reason says why.
	NotApplicable Status = "N/A"
)

// About is what a case checks, as reports and docs show it.
type About struct {
	ID       string
	Title    string
	Category string
	Source   string // the RFC section, CVE or tool it comes from
	Explain  string // the idea, for a newcomer
	Severity Severity
	Expect   Expectation
}

// Phase orders the cases of a run against one server.
type Phase int

// Phases, in the order they run.
const (
	// Attack cases send what a correct server must refuse (or, as the
	// controls of a category, accept). The zero value.
	Attack Phase = iota
	// Control cases run first: what every verdict after them rests on.
	Control
	// Final cases run after every attack: the server still works.
	Final
	// Summary cases judge what the run saw (Kit.Results), sending nothing.
	Summary
)

var phaseOrder = []Phase{Control, Attack, Final, Summary}

// Case is one check of a resource server.
type Case struct {
	About
	Phase Phase
	// RestsOn are cases whose pass a refusal by this one needs to mean
	// anything: a server that refuses valid tokens refuses attacks too.
	// They run first, also when not selected (-only).
	RestsOn []string
	// Applies, if set, returns why the case does not apply to rs ("" when
	// it does); the case is then N/A.
	Applies func(rs *target.ResourceServer) string
	// Run judges the case against rs.
	Run func(ctx context.Context, e *env, rs *target.ResourceServer) verdict
}

// IdentityCase is one check of the identity service (the issuer
// profile), run once per run.
type IdentityCase struct {
	About
	Run func(ctx context.Context, e *env) verdict
}

// attempt is one request: the whole Authorization header value, or none.
type attempt struct {
	label         string
	authorization string
	query         string // appended to the URL, for tokens in the wrong place
	dpop          string // a DPoP proof header, if any
}

func bearer(label, token string) attempt {
	return attempt{label: label, authorization: "Bearer " + token}
}

// Observation is what a server answered to one attempt.
type Observation struct {
	Label     string `json:"label"`
	Status    int    `json:"status"`
	Challenge string `json:"www_authenticate,omitempty"`
	Error     string `json:"error,omitempty"`
}

type verdict struct {
	status       Status
	reason       string
	observations []Observation
}

// errNeedsTestIssuer marks a case that must sign with a trusted key.
var errNeedsTestIssuer = errors.New("needs the test issuer: the servers do not trust the suite's keys")

// env is what cases work with during a run against one server, under
// one algorithm.
type env struct {
	target   *target.Target
	issuer   *testIssuer // nil when servers do not trust the suite's issuer
	keys     *testissuer.Keys
	hits     func(ctx context.Context) (testissuer.Hits, error) // the issuer's fetch log
	publish  func(ctx context.Context, k jwk.Key) error         // adds a key to the trusted JWKS
	restart  func(ctx context.Context, process string) error    // restarts a process the suite started
	client   *http.Client
	identity *identityClient
	// issuerURL is the test issuer as servers under test reach it; jku and x5u attacks point below it.
	issuerURL string
	// expect is what the running case expects of its requests.
	expect Expectation
	// results are this server's results so far, for summary cases.
	results []Result
}

// withIssuer returns a copy of e whose tokens are signed under alg.
func (e *env) withIssuer(alg string) (*env, error) {
	ti, err := newTestIssuer(e.issuerURL, e.keys, alg)
	if err != nil {
		return nil, err
	}
	cp := *e
	cp.issuer = ti
	return &cp, nil
}

// attacker returns the attacker's key for alg.
func (e *env) attacker(alg string) (signingKey, error) {
	k, ok := e.keys.Get(testissuer.Attacker, alg)
	if !ok {
		return k, fmt.Errorf("the suite has no attacker key for alg %q", alg)
	}
	return k, nil
}

// base returns a token valid for rs and its decoded parts: minted by the
// test issuer, or a real one from the implementation's identity service.
func (e *env) base(ctx context.Context, rs *target.ResourceServer) (raw string, header, claims map[string]any, err error) {
	return e.baseFor(ctx, rs, rs.Audience)
}

func (e *env) baseFor(ctx context.Context, rs *target.ResourceServer, audience string) (raw string, header, claims map[string]any, err error) {
	if e.issuer != nil {
		header = e.issuer.header(e.issuer.primary)
		claims = e.issuer.claims(rs, time.Now())
		claims["aud"] = audience
		raw, err = sign(e.issuer.primary.Signer, e.issuer.primary.Algorithm, header, claims)
		return raw, header, claims, err
	}
	if e.identity == nil {
		return "", nil, nil, errNeedsTestIssuer
	}
	raw, err = e.identity.token(ctx, audience, rs.Scope)
	if err != nil {
		return "", nil, nil, fmt.Errorf("real token from identity: %w", err)
	}
	header, claims, err = decode(raw)
	return raw, header, claims, err
}

// forge signs header and claims with a trusted key.
func (e *env) forge(header, claims any) (string, error) {
	if e.issuer == nil {
		return "", errNeedsTestIssuer
	}
	return sign(e.issuer.primary.Signer, e.issuer.primary.Algorithm, header, claims)
}

// requests is the common Run: the attempts build makes, each sent, all
// judged against the case's expectation.
func requests(build func(ctx context.Context, e *env, rs *target.ResourceServer) ([]attempt, error)) func(context.Context, *env, *target.ResourceServer) verdict {
	return func(ctx context.Context, e *env, rs *target.ResourceServer) verdict {
		attempts, err := build(ctx, e, rs)
		if err != nil {
			return skipOrFail(err)
		}
		obs := make([]Observation, 0, len(attempts))
		for _, a := range attempts {
			obs = append(obs, e.send(ctx, rs, a))
		}
		return judge(e.expect, obs)
	}
}

// forged is the common case shape: a valid minted token with one change.
func forged(change func(ti *testIssuer, header, claims map[string]any)) func(context.Context, *env, *target.ResourceServer) ([]attempt, error) {
	return func(ctx context.Context, e *env, rs *target.ResourceServer) ([]attempt, error) {
		if e.issuer == nil {
			return nil, errNeedsTestIssuer
		}
		_, h, c, err := e.base(ctx, rs)
		if err != nil {
			return nil, err
		}
		change(e.issuer, h, c)
		tok, err := e.forge(h, c)
		return []attempt{bearer("token", tok)}, err
	}
}

func decode(raw string) (header, claims map[string]any, err error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, nil, errors.New("not a compact JWS")
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		data, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, nil, err
		}
		if err := json.Unmarshal(data, dst); err != nil {
			return nil, nil, err
		}
	}
	return header, claims, nil
}

// maxChallengeBytes bounds the WWW-Authenticate value a report keeps.
const maxChallengeBytes = 1 << 10

// send makes one request to rs.
func (e *env) send(ctx context.Context, rs *target.ResourceServer, a attempt) Observation {
	return e.sendTo(ctx, rs, rs.URL, a)
}

// sendTo makes rs's request at base, one of its URLs (replicas).
func (e *env) sendTo(ctx context.Context, rs *target.ResourceServer, base string, a attempt) Observation {
	obs := Observation{Label: a.label}
	var body io.Reader
	if len(rs.Body) > 0 {
		body = bytes.NewReader(rs.Body)
	}
	target := strings.TrimSuffix(base, "/") + rs.Path
	if a.query != "" {
		target += "?" + a.query
	}
	req, err := http.NewRequestWithContext(ctx, rs.Method, target, body)
	if err != nil {
		obs.Error = err.Error()
		return obs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.authorization != "" {
		req.Header.Set("Authorization", a.authorization)
	}
	if a.dpop != "" {
		req.Header.Set("DPoP", a.dpop)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		obs.Error = "no answer: " + err.Error()
		return obs
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	obs.Status = resp.StatusCode
	obs.Challenge = resp.Header.Get("WWW-Authenticate")
	if len(obs.Challenge) > maxChallengeBytes {
		obs.Challenge = obs.Challenge[:maxChallengeBytes]
	}
	if obs.Status >= 300 {
		obs.Error = serverReason(obs.Challenge, data)
	}
	return obs
}

// judge compares observations with the expectation.
func judge(expect Expectation, obs []Observation) verdict {
	v := verdict{status: Pass, observations: obs}
	for _, o := range obs {
		var problem string
		switch {
		case o.Status == 0:
			problem = o.Error
		case o.Status >= 500:
			problem = fmt.Sprintf("server error %d (a 5xx is never a correct answer to a bad token)", o.Status)
		case expect == Refuse && o.Status < 400:
			problem = fmt.Sprintf("ACCEPTED with %d", o.Status)
		case expect == Accept && o.Status >= 400:
			problem = fmt.Sprintf("refused a valid token: %d %s", o.Status, o.Error)
		}
		if problem != "" {
			v.status = Fail
			v.reason = joinReason(v.reason, o.Label+": "+problem)
		}
	}
	return v
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func (e *env) readHits(ctx context.Context) (testissuer.Hits, error) {
	if e.hits == nil {
		return testissuer.Hits{}, errNeedsTestIssuer
	}
	return e.hits(ctx)
}
