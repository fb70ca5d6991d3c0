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
	"sync"
	"time"
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
)

// Case is one check of the catalogue.
type Case struct {
	ID       string
	Title    string
	Category string
	Source   string // the RFC section, CVE or tool it comes from
	Explain  string // the idea, for a newcomer
	Severity Severity
	Expect   Expectation
	// SingleUseOnly cases run only against servers declared single-use.
	SingleUseOnly bool

	// attempts builds the requests; each must end as Expect says.
	attempts func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error)
	// check replaces attempts for cases with their own logic.
	check func(ctx context.Context, e *env, rs *ResourceServer) verdict
	// identity cases run once against the identity service.
	identity func(ctx context.Context, e *env) verdict
}

// attempt is one request: the whole Authorization header value, or none.
type attempt struct {
	label         string
	authorization string
	query         string // appended to the URL, for tokens in the wrong place
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

// env is what cases work with during a run.
type env struct {
	target   *Target
	issuer   *testIssuer // nil when servers do not trust the suite's issuer
	hitsURL  string      // where the suite reads the issuer's fetch counts
	client   *http.Client
	identity *identityClient
	// attackerURL is the base of jku/x5u URLs, as servers under test reach it.
	attackerURL string

	mu        sync.Mutex
	attackers map[string]signingKey // by alg: RSA keys are slow to make
}

// attacker returns the attacker's key for alg, made once per run.
func (e *env) attacker(alg string) (signingKey, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if k, ok := e.attackers[alg]; ok {
		return k, nil
	}
	k, err := newSigningKey("attacker-key", alg)
	if err != nil {
		return k, err
	}
	if e.attackers == nil {
		e.attackers = map[string]signingKey{}
	}
	e.attackers[alg] = k
	return k, nil
}

// base returns a token valid for rs and its decoded parts: minted by the
// test issuer, or a real one from the implementation's identity service.
func (e *env) base(ctx context.Context, rs *ResourceServer) (raw string, header, claims map[string]any, err error) {
	return e.baseFor(ctx, rs, rs.Audience)
}

func (e *env) baseFor(ctx context.Context, rs *ResourceServer, audience string) (raw string, header, claims map[string]any, err error) {
	if e.issuer != nil {
		header = e.issuer.header(e.issuer.primary)
		claims = e.issuer.claims(rs, time.Now())
		claims["aud"] = audience
		raw, err = sign(e.issuer.primary.signer, e.issuer.primary.alg, header, claims)
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
	return sign(e.issuer.primary.signer, e.issuer.primary.alg, header, claims)
}

// forged is the common case shape: a valid minted token with one change.
func forged(change func(ti *testIssuer, header, claims map[string]any)) func(context.Context, *env, *ResourceServer) ([]attempt, error) {
	return func(ctx context.Context, e *env, rs *ResourceServer) ([]attempt, error) {
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

// send makes one request to rs.
func (e *env) send(ctx context.Context, rs *ResourceServer, a attempt) Observation {
	obs := Observation{Label: a.label}
	var body io.Reader
	if len(rs.Body) > 0 {
		body = bytes.NewReader(rs.Body)
	}
	target := strings.TrimSuffix(rs.URL, "/") + rs.Path
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
	resp, err := e.client.Do(req)
	if err != nil {
		obs.Error = "no answer: " + err.Error()
		return obs
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	obs.Status = resp.StatusCode
	obs.Challenge = resp.Header.Get("WWW-Authenticate")
	var e2 struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(data, &e2) == nil {
		obs.Error = strings.TrimSpace(e2.Error + ": " + e2.Description)
		obs.Error = strings.Trim(obs.Error, ": ")
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

func (e *env) readHits(ctx context.Context) (hits, error) {
	var h hits
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.hitsURL, nil)
	if err != nil {
		return h, err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	return h, json.NewDecoder(resp.Body).Decode(&h)
}
