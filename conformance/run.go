package conformance

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// Options tune a run.
type Options struct {
	// Client makes every request; it must have a timeout. The default
	// trusts the test issuer's CA besides the system roots.
	Client *http.Client
	// IssuerLocalURL is where the suite itself reaches an issuer that runs
	// elsewhere (TestIssuer.External): its fetch log and control endpoint.
	IssuerLocalURL string
	// Only, if set, runs just these case ids.
	Only []string
	// IssuerListener, if set, is where the test issuer serves instead of
	// TestIssuer.Listen: tests bind ":0" first to learn the URL.
	IssuerListener net.Listener
	// KeysDir holds the test issuer's keys and CA, kept across runs;
	// testissuer.DefaultKeysDir() if empty.
	KeysDir string
	// LogsDir, if set, keeps each started process's output as NAME.log.
	LogsDir string
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
	Algorithm    string        `json:"algorithm,omitempty"`
	Status       Status        `json:"status"`
	Reason       string        `json:"reason,omitempty"`
	Observations []Observation `json:"observations,omitempty"`
}

// Report is the outcome of a run.
type Report struct {
	Mode       string             `json:"mode"`
	Algorithms []AlgorithmSupport `json:"algorithms,omitempty"`
	Started    time.Time          `json:"started"`
	Duration   time.Duration      `json:"duration_ns"`
	Results    []Result           `json:"results"`
	Counts     map[Status]int     `json:"counts"`
}

// Failed reports whether any case failed (expected failures aside).
func (r *Report) Failed() bool { return r.Counts[Fail] > 0 }

// Suite is a prepared run: its keys exist (so they can be handed to servers
// before they start), nothing has been sent yet.
type Suite struct {
	target  *Target
	opts    Options
	keys    *testissuer.Keys
	keysDir string
}

// New prepares a run against target.
func New(target *Target, opts Options) (*Suite, error) {
	if err := target.Validate(); err != nil {
		return nil, err
	}
	s := &Suite{target: target, opts: opts, keysDir: opts.KeysDir}
	if s.keysDir == "" {
		s.keysDir = testissuer.DefaultKeysDir()
	}
	var err error
	if s.keys, err = testissuer.LoadKeys(s.keysDir); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if s.opts.Client == nil {
		s.opts.Client, err = s.defaultClient()
		if err != nil {
			return nil, err
		}
	}
	if err := s.writeCAFile(); err != nil {
		return nil, err
	}
	return s, nil
}

// defaultClient trusts the test issuer's CA when it speaks https.
func (s *Suite) defaultClient() (*http.Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if s.httpsIssuer() {
		pool, err := testissuer.CAPool(s.keysDir)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: transport}, nil
}

func (s *Suite) httpsIssuer() bool {
	ti := s.target.TestIssuer
	return ti != nil && strings.HasPrefix(ti.URL, "https://")
}

// CAFile is the test issuer's CA certificate, for servers to trust; empty
// unless the issuer speaks https.
func (s *Suite) CAFile() string {
	if !s.httpsIssuer() {
		return ""
	}
	return filepath.Join(s.keysDir, testissuer.CAFile)
}

// writeCAFile copies the CA certificate to test_issuer.ca_file.
func (s *Suite) writeCAFile() error {
	ti := s.target.TestIssuer
	if ti == nil || ti.CAFile == "" || !s.httpsIssuer() {
		return nil
	}
	if _, err := testissuer.CAPool(s.keysDir); err != nil { // makes the CA on first use
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	data, err := os.ReadFile(s.CAFile())
	if err == nil {
		err = os.WriteFile(s.resolve(ti.CAFile), data, 0o644)
	}
	if err != nil {
		return fmt.Errorf("%w: test_issuer.ca_file: %w", ErrConfig, err)
	}
	return nil
}

// resolve makes a path from the target file relative to its directory.
func (s *Suite) resolve(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(s.target.Dir(), path)
}

// SetIssuerLocalURL says where the suite reaches an issuer that runs
// elsewhere, once that is known.
func (s *Suite) SetIssuerLocalURL(url string) { s.opts.IssuerLocalURL = url }

// IssuerDocuments returns the public documents the test issuer serves, for
// `conformance issuer` running in a container.
func (s *Suite) IssuerDocuments() []byte {
	if s.target.TestIssuer == nil {
		return nil
	}
	b, _ := json.Marshal(s.keys.Documents(s.target.TestIssuer.URL))
	return b
}

// Run makes sure the test issuer serves (the long-lived one when it is
// already running, otherwise its own), starts the target's processes, finds
// which algorithms each server accepts, runs the catalogue, and stops what
// it started.
func (s *Suite) Run(ctx context.Context) (*Report, error) {
	report := &Report{Started: time.Now(), Mode: "real tokens from the identity service (cases that forge signatures are skipped)"}
	e := &env{target: s.target, keys: s.keys, client: s.opts.Client}
	if ti := s.target.TestIssuer; ti != nil {
		stop, how, err := s.ensureIssuer(ctx, e)
		if err != nil {
			return nil, err
		}
		defer stop()
		report.Mode = fmt.Sprintf("test issuer %s (%s), -alg %s", ti.URL, how, ti.Algorithm)
	}
	procs, err := startProcesses(ctx, s.target, s.Placeholders(), s.opts.LogsDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		// An idle keep-alive connection would hold up each process's
		// graceful shutdown until its idle timeout.
		s.opts.Client.CloseIdleConnections()
		procs.stop()
	}()
	if len(s.target.Processes) > 0 {
		e.restart = func(ctx context.Context, name string) error {
			s.opts.Client.CloseIdleConnections()
			return procs.restart(ctx, name)
		}
	}

	if s.target.Identity != nil {
		e.identity = newIdentityClient(ctx, s.target.Identity, s.opts.Client)
	}
	catalogue := Catalogue()
	for i := range s.target.ResourceServers {
		rs := &s.target.ResourceServers[i]
		runs := []*env{e}
		if e.issuerURL != "" {
			support := s.probeAlgorithms(ctx, e, rs)
			if runs, err = s.algorithmRuns(e, rs, support); err != nil {
				return nil, err
			}
			for _, run := range runs {
				support.Ran = append(support.Ran, run.issuer.primary.Algorithm)
			}
			report.Algorithms = append(report.Algorithms, support)
		}
		for _, run := range runs {
			label := rs.Name
			if len(runs) > 1 {
				label += " [" + run.issuer.primary.Algorithm + "]"
			}
			report.Results = append(report.Results, s.runServer(ctx, run, rs, label, catalogue)...)
		}
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

// ensureIssuer uses the test issuer already serving at its URL, or starts
// one for this run from the same keys.
func (s *Suite) ensureIssuer(ctx context.Context, e *env) (stop func(), how string, err error) {
	ti := s.target.TestIssuer
	e.issuerURL = ti.URL
	if ti.External {
		s.reachIssuerAt(e, s.opts.IssuerLocalURL)
		return func() {}, "in a container", nil
	}
	if s.opts.IssuerListener == nil {
		running, err := s.runningIssuer(ctx)
		if err != nil {
			return nil, "", err
		}
		if running {
			s.reachIssuerAt(e, ti.URL)
			return func() {}, "long-lived, already running", nil
		}
	}
	srv, stop, err := testissuer.Start(ctx, testissuer.Config{
		URL: ti.URL, Listen: ti.Listen, KeysDir: s.keysDir, Listener: s.opts.IssuerListener,
	}, s.keys.Documents(ti.URL))
	if err != nil {
		return nil, "", fmt.Errorf("%w: test issuer: %w", ErrConfig, err)
	}
	e.hits = func(context.Context) (testissuer.Hits, error) { return srv.Hits(), nil }
	e.publish = func(_ context.Context, k jwk.Key) error { srv.Publish(k); return nil }
	return stop, "started for this run", nil
}

// reachIssuerAt makes e read the fetch log of, and publish keys at, the
// issuer running at base.
func (s *Suite) reachIssuerAt(e *env, base string) {
	e.hits = s.httpHits(base + testissuer.HitsPath)
	e.publish = func(ctx context.Context, k jwk.Key) error {
		body, _ := json.Marshal(jwk.Set{Keys: []jwk.Key{k}})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+testissuer.PublishPath, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+s.keys.ControlToken)
		resp, err := s.opts.Client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("publishing a key at the test issuer: %s", resp.Status)
		}
		return nil
	}
}

// runningIssuer reports whether the suite's issuer, with this suite's keys,
// already answers at the test issuer's URL.
func (s *Suite) runningIssuer(ctx context.Context) (bool, error) {
	ti := s.target.TestIssuer
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ti.URL+testissuer.AboutPath, nil)
	if err != nil {
		return false, fmt.Errorf("%w: test_issuer.url: %w", ErrConfig, err)
	}
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return false, nil // nothing there: the suite starts its own
	}
	defer resp.Body.Close()
	var about testissuer.About
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&about) != nil {
		return false, fmt.Errorf("%w: something that is not the suite's test issuer answers at %s (%s)", ErrConfig, ti.URL, resp.Status)
	}
	var want []string
	for _, k := range s.keys.Trusted() {
		want = append(want, k.ID)
	}
	slices.Sort(want)
	slices.Sort(about.Kids)
	if about.Issuer != ti.URL || !slices.Equal(want, about.Kids) {
		return false, fmt.Errorf("%w: the test issuer running at %s serves other keys than those in %s (or another issuer URL, %q): start it with the same -keys directory and target, or stop it",
			ErrConfig, ti.URL, s.keysDir, about.Issuer)
	}
	return true, nil
}

func (s *Suite) httpHits(url string) func(context.Context) (testissuer.Hits, error) {
	return func(ctx context.Context) (testissuer.Hits, error) {
		var h testissuer.Hits
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return h, err
		}
		resp, err := s.opts.Client.Do(req)
		if err != nil {
			return h, err
		}
		defer resp.Body.Close()
		return h, json.NewDecoder(resp.Body).Decode(&h)
	}
}

// Placeholders are the ${NAME} values a target's processes and containers
// may use (docs/conformance.md); processes also get ${WORKDIR}.
func (s *Suite) Placeholders() map[string]string {
	dir, _ := filepath.Abs(s.target.Dir())
	vars := map[string]string{varTargetDir: dir}
	if ti := s.target.TestIssuer; ti != nil {
		alg := ti.Algorithm
		if alg == AlgAuto || alg == AlgAll {
			alg = testissuer.Algorithms[0]
		}
		vars[varIssuerURL], vars[varIssuerJWKS], vars[varIssuerAlg] = ti.URL, ti.JWKSURL(), alg
		vars[varIssuerCA] = s.CAFile()
	}
	return vars
}

func (s *Suite) selected(id string) bool {
	return len(s.opts.Only) == 0 || slices.Contains(s.opts.Only, id)
}

func (s *Suite) runServer(ctx context.Context, e *env, rs *ResourceServer, label string, catalogue []Case) []Result {
	var results []Result
	var final *Case
	baseOK := true
	add := func(c Case, v verdict) {
		r := result(c, label, v)
		if e.issuer != nil {
			r.Algorithm = e.issuer.primary.Algorithm
		}
		results = append(results, r)
	}
	for _, c := range catalogue {
		switch {
		case c.identity != nil, c.ID == rfc6750Case.ID, !s.selected(c.ID) && c.ID != baseControlID:
			continue
		case c.SingleUseOnly && !rs.SingleUse:
			add(c, verdict{status: NotApplicable, reason: "the target does not declare this server single_use"})
			continue
		case c.ID == finalControlID:
			final = &c
			continue
		}
		v := s.runCase(ctx, e, rs, c)
		if c.ID == baseControlID {
			baseOK = v.status == Pass
		} else if !baseOK && c.Expect == Refuse && v.status == Pass {
			// A refusal proves nothing from a server that refuses valid tokens.
			v.status, v.reason = Fail, "inconclusive: "+baseControlID+" failed, so this refusal may not be for the reason under test"
		}
		add(c, v)
	}
	if final != nil {
		add(*final, s.runCase(ctx, e, rs, *final))
	}
	if s.selected(rfc6750Case.ID) {
		add(rfc6750Case, judgeChallenges(results))
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

// judgeChallenges checks every refusal (400, 401, 403) of a token the run
// saw: RFC 6750 §3 says each carries a Bearer challenge, with an error code
// when a token was sent. It reports how many were wrong, with one example.
func judgeChallenges(results []Result) verdict {
	seen, wrong := 0, 0
	var example string
	var obs []Observation
	for _, r := range results {
		if r.Expected != Refuse {
			continue
		}
		for _, o := range r.Observations {
			if o.Status != http.StatusBadRequest && o.Status != http.StatusUnauthorized && o.Status != http.StatusForbidden {
				continue
			}
			seen++
			scheme, params, _ := strings.Cut(o.Challenge, " ")
			var problem string
			switch {
			case !strings.EqualFold(scheme, "Bearer"):
				problem = fmt.Sprintf("%d without a Bearer challenge (WWW-Authenticate %s)", o.Status, quoteBounded(o.Challenge))
			case !slices.Contains(noTokenCases, r.ID) && !slices.ContainsFunc([]string{"invalid_token", "invalid_request", "insufficient_scope"},
				func(code string) bool { return strings.Contains(params, `error="`+code+`"`) }):
				problem = fmt.Sprintf("%d challenge has no error code (%s)", o.Status, quoteBounded(o.Challenge))
			}
			if problem == "" {
				continue
			}
			wrong++
			if example == "" {
				example = fmt.Sprintf("%s %s: %s", r.ID, o.Label, problem)
				obs = append(obs, o)
			}
		}
	}
	switch {
	case seen == 0:
		return verdict{status: NotApplicable, reason: "the server refused no token with 400, 401 or 403"}
	case wrong > 0:
		return verdict{Fail, fmt.Sprintf("%d of %d refusals are not RFC 6750 challenges; for example %s", wrong, seen, example), obs}
	}
	return verdict{status: Pass}
}

func result(c Case, server string, v verdict) Result {
	return Result{ID: c.ID, Title: c.Title, Category: c.Category, Source: c.Source, Explain: c.Explain,
		Severity: c.Severity, Expected: c.Expect, Server: server, Status: v.status, Reason: v.reason, Observations: v.observations}
}

func (s *Suite) applyExpectedFailures(results []Result) {
	for i := range results {
		r := &results[i]
		server, _, _ := strings.Cut(r.Server, " [")
		if !slices.Contains(s.target.ExpectedFailures, r.ID) && !slices.Contains(s.target.ExpectedFailures, r.ID+"@"+server) {
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

// ServeIssuer serves the target's test issuer until ctx ends: the
// long-lived issuer of `conformance issuer`, which runs find and use.
func (s *Suite) ServeIssuer(ctx context.Context, logger *slog.Logger) error {
	ti := s.target.TestIssuer
	if ti == nil {
		return fmt.Errorf("%w: the target has no test_issuer", ErrConfig)
	}
	_, stop, err := testissuer.Start(ctx, testissuer.Config{URL: ti.URL, Listen: ti.Listen, KeysDir: s.keysDir, Logger: logger},
		s.keys.Documents(ti.URL))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	attrs := []any{"issuer", ti.URL, "jwks", ti.JWKSURL(), "keys", s.keysDir}
	if ca := s.CAFile(); ca != "" {
		attrs = append(attrs, "ca_file", ca)
	}
	logger.Info("test issuer serving", attrs...)
	for _, alg := range testissuer.Algorithms {
		p, _ := s.keys.Get(testissuer.Primary, alg)
		r, _ := s.keys.Get(testissuer.Rotated, alg)
		logger.Info("trusted keys", "alg", alg, "kid", p.ID, "rotated_kid", r.ID)
	}
	<-ctx.Done()
	stop()
	return nil
}
