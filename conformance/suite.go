package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/internal/cases"
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
	// Skip runs every case but these (after Only). A control the cases that
	// run rest on runs regardless: without it their refusals prove nothing.
	Skip []string
	// IssuerListener, if set, is where the test issuer serves instead of
	// TestIssuer.Listen: tests bind ":0" first to learn the URL.
	IssuerListener net.Listener
	// KeysDir holds the test issuer's keys and CA, kept across runs;
	// testissuer.DefaultKeysDir() if empty.
	KeysDir string
	// LogsDir, if set, keeps each started process's output as NAME.log.
	LogsDir string
	// Progress, if set, gets a line as each case starts: the server, how
	// many cases of its run are done, the case, and how long it may wait.
	// cmd/conformance gives it a terminal's stderr.
	Progress io.Writer
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
	if err := knownCases(opts.Only, opts.Skip); err != nil {
		return nil, err
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

// knownCases reports a case id in lists that no case has: a typo would
// otherwise select nothing, or skip nothing, in silence.
func knownCases(lists ...[]string) error {
	known := map[string]bool{}
	for _, c := range cases.Catalogue() {
		known[c.ID] = true
	}
	for _, ids := range lists {
		for _, id := range ids {
			if !known[id] {
				return fmt.Errorf("%w: no case has the id %q (`conformance list` lists them)", ErrConfig, id)
			}
		}
	}
	return nil
}

// Run makes sure the test issuer serves (the long-lived one when it is
// already running, otherwise its own), starts the target's processes, finds
// which algorithms each server accepts, runs the catalogue, and stops what
// it started.
func (s *Suite) Run(ctx context.Context) (*Report, error) {
	report := &Report{Started: time.Now(), Mode: "real tokens from the identity service (cases that forge signatures are skipped)"}
	e := &attack.Kit{Target: s.target, Keys: s.keys, Client: s.opts.Client}
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
		e.Restart = func(ctx context.Context, name string) error {
			s.opts.Client.CloseIdleConnections()
			return procs.restart(ctx, name)
		}
	}

	if s.target.Identity != nil {
		e.Identity = attack.NewIdentityClient(ctx, s.target.Identity, s.opts.Client)
	}
	catalogue := cases.Cases()
	for i := range s.target.ResourceServers {
		if err := s.runServerAlgorithms(ctx, e, &s.target.ResourceServers[i], catalogue, report); err != nil {
			return nil, err
		}
	}
	if e.Identity != nil {
		for _, c := range cases.IdentityCases() {
			if s.selected(c.ID) {
				report.Results = append(report.Results, attack.NewResult(c.About, "identity", c.Run(ctx, e)))
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

// runServerAlgorithms runs the catalogue against rs under each algorithm
// the target asks for that rs accepts (once, with real tokens, without the
// test issuer), into report.
func (s *Suite) runServerAlgorithms(ctx context.Context, e *attack.Kit, rs *target.ResourceServer, catalogue []attack.Case, report *Report) error {
	runs := []*attack.Kit{e}
	if e.IssuerURL != "" {
		support := s.probeAlgorithms(ctx, e, rs)
		var err error
		if runs, err = s.algorithmRuns(e, rs, support); err != nil {
			return err
		}
		for _, run := range runs {
			support.Ran = append(support.Ran, run.Issuer.Primary.Algorithm)
		}
		report.Algorithms = append(report.Algorithms, support)
	}
	for _, run := range runs {
		label := rs.Name
		if len(runs) > 1 {
			label += " [" + run.Issuer.Primary.Algorithm + "]"
		}
		report.Results = append(report.Results, s.runServer(ctx, run, rs, label, catalogue)...)
	}
	return nil
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
	return (len(s.opts.Only) == 0 || slices.Contains(s.opts.Only, id)) && !slices.Contains(s.opts.Skip, id)
}

// runServer runs the cases against one server, phase by phase. A case
// runs if selected, or if a selected case rests on it; a refusal whose
// control failed is inconclusive, so it fails.
func (s *Suite) runServer(ctx context.Context, e *attack.Kit, rs *target.ResourceServer, label string, catalogue []attack.Case) []Result {
	wanted := map[string]bool{}
	for _, c := range catalogue {
		if s.selected(c.ID) {
			wanted[c.ID] = true
			for _, id := range c.RestsOn {
				wanted[id] = true
			}
		}
	}
	run := *e
	passed := map[string]bool{}
	done := 0
	for _, phase := range attack.Phases {
		for _, c := range catalogue {
			if c.Phase != phase || !wanted[c.ID] {
				continue
			}
			s.progress(label, done, len(wanted), c)
			done++
			var v attack.Verdict
			if reason := applies(c, rs); reason != "" {
				v = attack.Verdict{Status: NotApplicable, Reason: reason}
			} else {
				run.Expect = c.Expect
				v = c.Run(ctx, &run, rs)
			}
			passed[c.ID] = v.Status == Pass
			if failed := failedControl(c, passed); failed != "" && c.Expect == Refuse && v.Status == Pass {
				v.Status, v.Reason = Fail, "inconclusive: "+failed+" failed, so this refusal may not be for the reason under test"
			}
			r := attack.NewResult(c.About, label, v)
			if e.Issuer != nil {
				r.Algorithm = e.Issuer.Primary.Algorithm
			}
			run.Results = append(run.Results, r)
		}
	}
	return run.Results
}

// progress tells Options.Progress which case starts.
func (s *Suite) progress(server string, done, of int, c attack.Case) {
	if s.opts.Progress == nil {
		return
	}
	line := fmt.Sprintf("%s: %d/%d %s", server, done, of, c.ID)
	if c.Waits != nil { // before the title, which a terminal may cut
		line += fmt.Sprintf(" (may wait up to %s)", c.Waits(s.target))
	}
	fmt.Fprintln(s.opts.Progress, line+" "+c.Title)
}

func applies(c attack.Case, rs *target.ResourceServer) string {
	if why := c.AppliesTo(rs.Token.ProfileName()); why != "" || c.Applies == nil {
		return why
	}
	return c.Applies(rs)
}

// failedControl is the first case c rests on that ran and did not pass.
func failedControl(c attack.Case, passed map[string]bool) string {
	for _, id := range c.RestsOn {
		if ok, ran := passed[id]; ran && !ok {
			return id
		}
	}
	return ""
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
