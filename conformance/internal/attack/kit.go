package attack

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// ErrNeedsTestIssuer marks a case that must sign with a trusted key.
var ErrNeedsTestIssuer = errors.New("needs the test issuer: the servers do not trust the suite's keys")

// Kit is what a case works with during a run against one server, under
// one algorithm: everything it may touch. The suite builds it; a case reads
// it and calls its methods.
type Kit struct {
	Target *target.Target
	// Issuer mints tokens under the run's algorithm; nil when the servers
	// do not trust the suite's issuer (then Base gets real tokens).
	Issuer *Issuer
	Keys   *testissuer.Keys
	// Hits reads the test issuer's fetch log; nil without it (ReadHits).
	Hits func(ctx context.Context) (testissuer.Hits, error)
	// Publish adds a key to the trusted JWKS; nil without the test issuer.
	Publish func(ctx context.Context, k jwk.Key) error
	// SetStatusList makes the test issuer serve token (a status list token
	// the suite signed) at testissuer.StatusListsPath + name; nil without
	// the test issuer.
	SetStatusList func(ctx context.Context, name, token string) error
	// Restart restarts a process the suite started; nil when it started none.
	Restart func(ctx context.Context, process string) error
	Client  *http.Client
	// Identity talks to the target's identity service; nil without one.
	Identity *IdentityClient
	// IssuerURL is the test issuer as servers under test reach it; jku and
	// x5u attacks point below it.
	IssuerURL string
	// Expect is what the running case expects of its requests (Judge).
	Expect Expectation
	// Results are this server's results so far, for summary cases.
	Results []Result
}

// WithIssuer returns a copy of e whose tokens are signed under alg.
func (e *Kit) WithIssuer(alg string) (*Kit, error) {
	ti, err := newIssuer(e.IssuerURL, e.Keys, alg)
	if err != nil {
		return nil, err
	}
	cp := *e
	cp.Issuer = ti
	return &cp, nil
}

// Attacker returns the attacker's key for alg.
func (e *Kit) Attacker(alg string) (SigningKey, error) {
	k, ok := e.Keys.Get(testissuer.Attacker, alg)
	if !ok {
		return k, fmt.Errorf("the suite has no attacker key for alg %q", alg)
	}
	return k, nil
}

// Base returns a token valid for rs and its decoded parts: minted by the
// test issuer, or a real one from the implementation's identity service.
func (e *Kit) Base(ctx context.Context, rs *target.ResourceServer) (raw string, header, claims map[string]any, err error) {
	return e.BaseFor(ctx, rs, rs.Audience)
}

func (e *Kit) BaseFor(ctx context.Context, rs *target.ResourceServer, audience string) (raw string, header, claims map[string]any, err error) {
	if e.Issuer != nil {
		other := *rs // the same profile, another audience
		other.Audience = audience
		header = e.Issuer.Header(rs, e.Issuer.Primary)
		claims = e.Issuer.Claims(&other, time.Now())
		raw, err = Sign(e.Issuer.Primary.Signer, e.Issuer.Primary.Algorithm, header, claims)
		return raw, header, claims, err
	}
	if e.Identity == nil {
		return "", nil, nil, ErrNeedsTestIssuer
	}
	raw, err = e.Identity.Token(ctx, audience, rs.Scope)
	if err != nil {
		return "", nil, nil, fmt.Errorf("real token from identity: %w", err)
	}
	header, claims, err = Decode(raw)
	return raw, header, claims, err
}

// Token is a valid base token and its parts, encoded and decoded.
type Token struct {
	Raw                                 string
	Header, Claims                      map[string]any
	HeaderB64, PayloadB64, SignatureB64 string
}

// Token returns a valid base token for rs (as Base) with its segments, for
// cases that change the encoding rather than the claims.
func (e *Kit) Token(ctx context.Context, rs *target.ResourceServer) (Token, error) {
	raw, h, c, err := e.Base(ctx, rs)
	if err != nil {
		return Token{}, err
	}
	parts := strings.Split(raw, ".")
	return Token{Raw: raw, Header: h, Claims: c, HeaderB64: parts[0], PayloadB64: parts[1], SignatureB64: parts[2]}, nil
}

// Forge signs header and claims with a trusted key.
func (e *Kit) Forge(header, claims any) (string, error) {
	if e.Issuer == nil {
		return "", ErrNeedsTestIssuer
	}
	return Sign(e.Issuer.Primary.Signer, e.Issuer.Primary.Algorithm, header, claims)
}

// SkipOrFail is the verdict of a case that could not be built: skipped
// when it needs the test issuer the servers do not trust, failed otherwise.
func SkipOrFail(err error) Verdict {
	if errors.Is(err, ErrNeedsTestIssuer) {
		return Verdict{Status: Skip, Reason: err.Error()}
	}
	return Verdict{Status: Fail, Reason: "could not build the case: " + err.Error()}
}

// Requests is the common Run: the attempts build makes, each sent, all
// judged against the case's expectation.
func Requests(build func(ctx context.Context, e *Kit, rs *target.ResourceServer) ([]Attempt, error)) func(context.Context, *Kit, *target.ResourceServer) Verdict {
	return func(ctx context.Context, e *Kit, rs *target.ResourceServer) Verdict {
		attempts, err := build(ctx, e, rs)
		if err != nil {
			return SkipOrFail(err)
		}
		obs := make([]Observation, 0, len(attempts))
		for _, a := range attempts {
			obs = append(obs, e.Send(ctx, rs, a))
		}
		return Judge(e.Expect, obs)
	}
}

// Forged is the common case shape: a valid minted token with one change.
func Forged(change func(ti *Issuer, header, claims map[string]any)) func(context.Context, *Kit, *target.ResourceServer) ([]Attempt, error) {
	return ForgedAs("token", change)
}

// ForgedAs is Forged with its attempt labelled, for cases that send
// several forgeries and report each.
func ForgedAs(label string, change func(ti *Issuer, header, claims map[string]any)) func(context.Context, *Kit, *target.ResourceServer) ([]Attempt, error) {
	return func(ctx context.Context, e *Kit, rs *target.ResourceServer) ([]Attempt, error) {
		if e.Issuer == nil {
			return nil, ErrNeedsTestIssuer
		}
		_, h, c, err := e.Base(ctx, rs)
		if err != nil {
			return nil, err
		}
		change(e.Issuer, h, c)
		tok, err := e.Forge(h, c)
		return []Attempt{Bearer(label, tok)}, err
	}
}

func Decode(raw string) (header, claims map[string]any, err error) {
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

// maxChallengeBytes bounds the WWW-Authenticate value a report keeps, and
// maxNonceBytes the DPoP-Nonce.
const (
	maxChallengeBytes = 1 << 10
	maxNonceBytes     = 256
)

// Send makes one request to rs.
func (e *Kit) Send(ctx context.Context, rs *target.ResourceServer, a Attempt) Observation {
	return e.SendTo(ctx, rs, rs.URL, a)
}

// SendTo makes rs's request at base, one of its URLs (replicas).
func (e *Kit) SendTo(ctx context.Context, rs *target.ResourceServer, base string, a Attempt) Observation {
	obs := Observation{Label: a.Label}
	req, err := e.request(ctx, rs, base, a)
	if err != nil {
		obs.Error = err.Error()
		return obs
	}
	start := time.Now()
	resp, err := e.Client.Do(req)
	if err != nil {
		obs.Error = fmt.Sprintf("no answer: %v (after %s)", err, time.Since(start).Round(time.Millisecond))
		return obs
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	return observe(obs, resp, data)
}

// request is rs's request at base with a's credentials.
func (e *Kit) request(ctx context.Context, rs *target.ResourceServer, base string, a Attempt) (*http.Request, error) {
	var body io.Reader
	if len(rs.Body) > 0 {
		body = bytes.NewReader(rs.Body)
	}
	url := strings.TrimSuffix(base, "/") + rs.Path
	if a.Query != "" {
		url += "?" + a.Query
	}
	req, err := http.NewRequestWithContext(ctx, rs.Method, url, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.Authorization != "" {
		req.Header.Set("Authorization", a.Authorization)
	}
	if a.SecondAuthorization != "" {
		req.Header.Add("Authorization", a.SecondAuthorization)
	}
	if a.DPoP != "" {
		req.Header.Set("DPoP", a.DPoP)
	}
	if a.SecondDPoP != "" {
		req.Header.Add("DPoP", a.SecondDPoP)
	}
	for name, value := range map[string]string{"Workload-Identity-Token": a.WIT, "Workload-Proof-Token": a.WPT} {
		if value != "" {
			req.Header.Set(name, value)
		}
	}
	if a.SecondWPT != "" {
		req.Header.Add("Workload-Proof-Token", a.SecondWPT)
	}
	return req, nil
}

// observe records what resp (its body read into data) says.
func observe(obs Observation, resp *http.Response, data []byte) Observation {
	obs.Status = resp.StatusCode
	obs.Challenge = resp.Header.Get("WWW-Authenticate")
	if len(obs.Challenge) > maxChallengeBytes {
		obs.Challenge = obs.Challenge[:maxChallengeBytes]
	}
	if obs.Nonce = resp.Header.Get("DPoP-Nonce"); len(obs.Nonce) > maxNonceBytes {
		obs.Nonce = obs.Nonce[:maxNonceBytes]
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil && obs.Status >= 400 && len(mt) <= maxNonceBytes {
		obs.ContentType = mt
	}
	if obs.Status >= 300 {
		obs.Error = serverReason(obs.Challenge, data)
	}
	return obs
}

// Judge compares observations with the expectation. A failure's outcome
// is the worst of its requests': an acceptance before a 5xx before no
// answer before a refused valid token.
func Judge(expect Expectation, obs []Observation) Verdict {
	v := Verdict{Status: Pass, Observations: obs}
	rank := map[Outcome]int{"": 0, RefusedValid: 1, NoAnswer: 2, Broke: 3, Accepted: 4}
	for _, o := range obs {
		var problem string
		var outcome Outcome
		switch {
		case o.Status == 0:
			problem, outcome = o.Error, NoAnswer
		case o.Status >= 500:
			problem, outcome = fmt.Sprintf("server error %d (a 5xx is never a correct answer to a bad token)", o.Status), Broke
		case expect == Refuse && o.Status < 400:
			problem, outcome = fmt.Sprintf("ACCEPTED with %d", o.Status), Accepted
		case expect == Accept && o.Status >= 400:
			problem, outcome = fmt.Sprintf("refused a valid token: %d %s", o.Status, o.Error), RefusedValid
		}
		if problem == "" {
			continue
		}
		v.Status = Fail
		v.Reason = JoinReason(v.Reason, o.Label+": "+problem)
		if rank[outcome] > rank[v.Outcome] {
			v.Outcome = outcome
			v.Cause = strings.TrimSpace(fmt.Sprintf("%d %s", o.Status, o.Error))
			if o.Status == 0 {
				v.Cause, _, _ = strings.Cut(o.Error, " (after ") // one cause, however long each wait
			}
		}
	}
	return v
}

func JoinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func (e *Kit) ReadHits(ctx context.Context) (testissuer.Hits, error) {
	if e.Hits == nil {
		return testissuer.Hits{}, ErrNeedsTestIssuer
	}
	return e.Hits(ctx)
}
