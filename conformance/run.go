package conformance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
)

// ErrConfig marks a target or an option the suite cannot run with (exit
// 2); a target file's own faults are target.ErrInvalid besides.
var ErrConfig = errors.New("conformance: configuration")

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
	target  *target.Target
	opts    Options
	keys    *testissuer.Keys
	keysDir string
}

// New prepares a run against target.
func New(t *target.Target, opts Options) (*Suite, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	s := &Suite{target: t, opts: opts, keysDir: opts.KeysDir}
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
		report.Mode = fmt.Sprintf("test issuer %s (%s), -alg %s", ti.URL, how, ti.AlgorithmMode())
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
	cases := Cases()
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
			report.Results = append(report.Results, s.runServer(ctx, run, rs, label, cases)...)
		}
	}
	if e.identity != nil {
		for _, c := range IdentityCases() {
			if s.selected(c.ID) {
				report.Results = append(report.Results, result(c.About, "identity", c.Run(ctx, e)))
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

// Placeholders are the ${NAME} values a target's processes and containers
// may use (docs/conformance.md); processes also get ${WORKDIR}.
func (s *Suite) Placeholders() map[string]string {
	dir, _ := filepath.Abs(s.target.Dir())
	vars := map[string]string{varTargetDir: dir}
	if ti := s.target.TestIssuer; ti != nil {
		alg := ti.AlgorithmMode()
		if alg == target.AlgAuto || alg == target.AlgAll {
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

// runServer runs the cases against one server, phase by phase. A case
// runs if selected, or if a selected case rests on it; a refusal whose
// control failed is inconclusive, so it fails.
func (s *Suite) runServer(ctx context.Context, e *env, rs *target.ResourceServer, label string, cases []Case) []Result {
	wanted := map[string]bool{}
	for _, c := range cases {
		if s.selected(c.ID) {
			wanted[c.ID] = true
			for _, id := range c.RestsOn {
				wanted[id] = true
			}
		}
	}
	run := *e
	passed := map[string]bool{}
	for _, phase := range phaseOrder {
		for _, c := range cases {
			if c.Phase != phase || !wanted[c.ID] {
				continue
			}
			var v verdict
			if reason := applies(c, rs); reason != "" {
				v = verdict{status: NotApplicable, reason: reason}
			} else {
				run.expect = c.Expect
				v = c.Run(ctx, &run, rs)
			}
			passed[c.ID] = v.status == Pass
			if failed := failedControl(c, passed); failed != "" && c.Expect == Refuse && v.status == Pass {
				v.status, v.reason = Fail, "inconclusive: "+failed+" failed, so this refusal may not be for the reason under test"
			}
			r := result(c.About, label, v)
			if e.issuer != nil {
				r.Algorithm = e.issuer.primary.Algorithm
			}
			run.results = append(run.results, r)
		}
	}
	return run.results
}

func applies(c Case, rs *target.ResourceServer) string {
	if c.Applies == nil {
		return ""
	}
	return c.Applies(rs)
}

// failedControl is the first case c rests on that ran and did not pass.
func failedControl(c Case, passed map[string]bool) string {
	for _, id := range c.RestsOn {
		if ok, ran := passed[id]; ran && !ok {
			return id
		}
	}
	return ""
}

func result(c About, server string, v verdict) Result {
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
