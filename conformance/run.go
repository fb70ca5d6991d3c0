package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/httpx"
)

// Options tune a run.
type Options struct {
	// Client makes every request; it must have a timeout.
	Client *http.Client
	// IssuerHitsURL reads the fetch log of an issuer that runs elsewhere
	// (TestIssuer.External).
	IssuerHitsURL string
	// Only, if set, runs just these case ids.
	Only []string
	// IssuerListener, if set, is where the test issuer serves instead of
	// TestIssuer.Listen: tests bind ":0" first to learn the URL.
	IssuerListener net.Listener
}

// Result is the verdict of one case against one server.
type Result struct {
	ID           string        `json:"id"`
	Title        string        `json:"title"`
	Category     string        `json:"category"`
	Source       string        `json:"source"`
	Explain      string        `json:"explain"`
	Severity     Severity      `json:"severity"`
	Expected     Expectation   `json:"expected"`
	Server       string        `json:"server"`
	Status       Status        `json:"status"`
	Reason       string        `json:"reason,omitempty"`
	Observations []Observation `json:"observations,omitempty"`
}

// Report is the outcome of a run.
type Report struct {
	Mode     string         `json:"mode"`
	Started  time.Time      `json:"started"`
	Duration time.Duration  `json:"duration_ns"`
	Results  []Result       `json:"results"`
	Counts   map[Status]int `json:"counts"`
}

// Failed reports whether any case failed (expected failures aside).
func (r *Report) Failed() bool { return r.Counts[Fail] > 0 }

// Suite is a prepared run: its test issuer exists (so its public keys can
// be handed to servers before they start), nothing has been sent yet.
type Suite struct {
	target *Target
	opts   Options
	issuer *testIssuer
}

// New prepares a run against target.
func New(target *Target, opts Options) (*Suite, error) {
	if err := target.Validate(); err != nil {
		return nil, err
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 5 * time.Second}
	}
	s := &Suite{target: target, opts: opts}
	if ti := target.TestIssuer; ti != nil {
		var err error
		if s.issuer, err = newTestIssuer(ti.URL, ti.Algorithm); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// SetIssuerHitsURL says where to read the fetch log of an issuer that runs
// elsewhere, once that is known.
func (s *Suite) SetIssuerHitsURL(url string) { s.opts.IssuerHitsURL = url }

// IssuerDocuments returns the public key sets the test issuer serves, for
// `conformance issuer` running in a container.
func (s *Suite) IssuerDocuments() []byte {
	if s.issuer == nil {
		return nil
	}
	b, _ := json.Marshal(s.issuer.documents())
	return b
}

// Run starts the test issuer and the target's processes, runs the
// catalogue, and stops what it started.
func (s *Suite) Run(ctx context.Context) (*Report, error) {
	report := &Report{Started: time.Now(), Mode: "real tokens from the identity service (cases that forge signatures are skipped)"}
	e := &env{target: s.target, issuer: s.issuer, client: s.opts.Client}

	if s.issuer != nil {
		ti := s.target.TestIssuer
		report.Mode = fmt.Sprintf("test issuer %s, %s", ti.URL, ti.Algorithm)
		e.attackerURL = ti.URL
		e.hitsURL = s.opts.IssuerHitsURL
		if !ti.External {
			ln := s.opts.IssuerListener
			if ln == nil {
				var err error
				if ln, err = net.Listen("tcp", ti.Listen); err != nil {
					return nil, fmt.Errorf("%w: test issuer: %w", ErrConfig, err)
				}
			}
			stop, err := s.serveIssuer(ctx, ln)
			if err != nil {
				return nil, err
			}
			defer stop()
			e.hitsURL = "http://" + ln.Addr().String() + "/hits"
		}
	}
	stopProcesses, err := startProcesses(ctx, s.target)
	if err != nil {
		return nil, err
	}
	defer stopProcesses()

	if s.target.Identity != nil {
		e.identity = newIdentityClient(ctx, s.target.Identity, s.opts.Client)
	}
	catalogue := Catalogue()
	for i := range s.target.ResourceServers {
		report.Results = append(report.Results, s.runServer(ctx, e, &s.target.ResourceServers[i], catalogue)...)
	}
	if e.identity != nil {
		for _, c := range catalogue {
			if c.identity != nil && s.selected(c.ID) {
				report.Results = append(report.Results, result(c, "identity", c.identity(ctx, e)))
			}
		}
	}
	s.applyExpectedFailures(report.Results)
	report.Duration = time.Since(report.Started)
	report.Counts = map[Status]int{}
	for _, r := range report.Results {
		report.Counts[r.Status]++
	}
	return report, nil
}

func (s *Suite) selected(id string) bool {
	return len(s.opts.Only) == 0 || slices.Contains(s.opts.Only, id)
}

func (s *Suite) runServer(ctx context.Context, e *env, rs *ResourceServer, catalogue []Case) []Result {
	var results []Result
	var final *Case
	baseOK := true
	for _, c := range catalogue {
		switch {
		case c.identity != nil, c.ID == rfc6750Case.ID, c.SingleUseOnly && !rs.SingleUse, !s.selected(c.ID) && c.ID != baseControlID:
			continue
		case c.ID == finalControlID:
			final = &c
			continue
		}
		r := result(c, rs.Name, s.runCase(ctx, e, rs, c))
		if c.ID == baseControlID {
			baseOK = r.Status == Pass
		} else if !baseOK && c.Expect == Refuse && r.Status == Pass {
			// A refusal proves nothing from a server that refuses valid tokens.
			r.Status, r.Reason = Fail, "inconclusive: "+baseControlID+" failed, so this refusal may not be for the reason under test"
		}
		results = append(results, r)
	}
	if final != nil {
		results = append(results, result(*final, rs.Name, s.runCase(ctx, e, rs, *final)))
	}
	if s.selected(rfc6750Case.ID) {
		results = append(results, result(rfc6750Case, rs.Name, judgeChallenges(results)))
	}
	return results
}

func (s *Suite) runCase(ctx context.Context, e *env, rs *ResourceServer, c Case) verdict {
	if c.check != nil {
		return c.check(ctx, e, rs)
	}
	attempts, err := c.attempts(ctx, e, rs)
	if err != nil {
		return skipOrFail(err)
	}
	obs := make([]Observation, 0, len(attempts))
	for _, a := range attempts {
		obs = append(obs, e.send(ctx, rs, a))
	}
	return judge(c.Expect, obs)
}

// judgeChallenges checks every 401 the server gave in this run.
func judgeChallenges(results []Result) verdict {
	v := verdict{status: Pass}
	seen := 0
	for _, r := range results {
		for _, o := range r.Observations {
			if o.Status != http.StatusUnauthorized {
				continue
			}
			seen++
			scheme, params, _ := strings.Cut(o.Challenge, " ")
			switch {
			case !strings.EqualFold(scheme, "Bearer"):
				v.status = Fail
				v.reason = joinReason(v.reason, fmt.Sprintf("%s %s: no Bearer challenge (WWW-Authenticate %q)", r.ID, o.Label, o.Challenge))
			case !slices.Contains(noTokenCases, r.ID) && !strings.Contains(params, `error="invalid_token"`) && !strings.Contains(params, `error="invalid_request"`):
				v.status = Fail
				v.reason = joinReason(v.reason, fmt.Sprintf("%s %s: challenge has no error code (%q)", r.ID, o.Label, o.Challenge))
			}
			if v.status == Fail && len(v.observations) < 3 {
				v.observations = append(v.observations, o)
			}
		}
	}
	if seen == 0 {
		return verdict{status: Skip, reason: "no 401 answers to judge"}
	}
	return v
}

func result(c Case, server string, v verdict) Result {
	return Result{ID: c.ID, Title: c.Title, Category: c.Category, Source: c.Source, Explain: c.Explain,
		Severity: c.Severity, Expected: c.Expect, Server: server, Status: v.status, Reason: v.reason, Observations: v.observations}
}

func (s *Suite) applyExpectedFailures(results []Result) {
	for i := range results {
		r := &results[i]
		if !slices.Contains(s.target.ExpectedFailures, r.ID) && !slices.Contains(s.target.ExpectedFailures, r.ID+"@"+r.Server) {
			continue
		}
		switch r.Status {
		case Fail:
			r.Status = XFail
		case Pass:
			r.Status, r.Reason = XPass, "listed as an expected failure but passed: remove it from expected_failures"
		}
	}
}

func (s *Suite) serveIssuer(ctx context.Context, ln net.Listener) (stop func(), err error) {
	srv, err := NewIssuerServer(s.IssuerDocuments())
	if err != nil {
		ln.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- httpx.Serve(ctx, ln, srv, discardLogger()) }()
	return func() {
		cancel()
		<-done
	}, nil
}
