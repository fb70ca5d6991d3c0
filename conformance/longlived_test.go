package conformance_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/conformance/internal/vulnerable"
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// buildBinaries builds cmd/NAME for each name into a temporary directory.
func buildBinaries(t *testing.T, names ...string) string {
	t.Helper()
	bin := t.TempDir()
	args := []string{"build", "-o", bin + "/"}
	for _, n := range names {
		args = append(args, "./cmd/"+n)
	}
	build := exec.Command("go", args...)
	build.Dir = testutil.RepoRoot(t)
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// startProcess runs a command until the test ends, its output in the test log on failure.
func startProcess(t *testing.T, Kit []string, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), Kit...)
	log := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), log.String())
		}
	})
	return cmd
}

func waitOK(t *testing.T, client *http.Client, url string) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 15*time.Second, 50*time.Millisecond, "%s never answered 200", url)
}

// TestRun_LongLivedIssuer is the way a team runs the suite against a
// service that is already running: `conformance issuer` serves the test
// issuer over https; this project's Logging, started once, trusts it by
// issuer URL alone (RFC 8414 discovery) and its CA; the suite runs three
// times, the issuer restarted between the second and third run. Every run
// must pass with the same verdicts.
func TestRun_LongLivedIssuer(t *testing.T) {
	bin := buildBinaries(t, "conformance", "logging")
	ports := testutil.FreePorts(t, 2)
	issuerURL := fmt.Sprintf("https://127.0.0.1:%d", ports[0])
	loggingURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	dir, keys := t.TempDir(), t.TempDir()
	tgt := filepath.Join(dir, "target.json")
	require.NoError(t, os.WriteFile(tgt, fmt.Appendf(nil, `{
	  "test_issuer": {"url": %q, "ca_file": "issuer-ca.pem"},
	  "resource_servers": [{"name": "logging", "url": %q, "method": "POST", "path": "/v1/logs",
	    "body": {"message": "conformance"}, "audience": "logging-service", "scope": "logs:write",
	    "status_lists": {"max_stale": "10s"}}]}`, issuerURL, loggingURL), 0o644))

	startIssuer := func() *exec.Cmd {
		return startProcess(t, nil, filepath.Join(bin, "conformance"), "issuer", "-target", tgt, "-keys", keys)
	}
	issuer := startIssuer()
	caFile := filepath.Join(dir, "issuer-ca.pem")
	require.Eventually(t, func() bool { _, err := os.Stat(caFile); return err == nil }, 10*time.Second, 20*time.Millisecond)
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	httpsClient := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	waitOK(t, httpsClient, issuerURL+"/healthz")

	startProcess(t, []string{"TRUSTED_ISSUER=" + issuerURL, "JWKS_URL=", "SSL_CERT_FILE=" + caFile, "DATA_DIR=" + t.TempDir(),
		"JWKS_MIN_REFRESH=1s", // KEY-11 waits for refetches: keep three runs quick
		"STATUS_LISTS=on"},    // the status lists the suite hands the long-lived issuer over its control endpoint
		filepath.Join(bin, "logging"), "-addr", loggingURL[len("http://"):])
	waitOK(t, http.DefaultClient, loggingURL+"/healthz")

	var verdicts []map[string]conformance.Status
	for run := 1; run <= 3; run++ {
		if run == 3 {
			require.NoError(t, issuer.Process.Signal(syscall.SIGTERM))
			_ = issuer.Wait()
			issuer = startIssuer()
			waitOK(t, httpsClient, issuerURL+"/healthz")
		}
		out := filepath.Join(dir, fmt.Sprintf("run%d.json", run))
		cmd := exec.Command(filepath.Join(bin, "conformance"), "-target", tgt, "-keys", keys, "-json", out)
		text, err := cmd.CombinedOutput()
		require.NoError(t, err, "run %d:\n%s", run, text)
		var report conformance.Report
		data, err := os.ReadFile(out)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(data, &report))
		require.Contains(t, report.Mode, "already running", "run %d must use the long-lived issuer", run)
		got := map[string]conformance.Status{}
		for _, r := range report.Results {
			got[r.ID+"@"+r.Server] = r.Status
		}
		require.Zero(t, report.Counts[conformance.Fail], "run %d:\n%s", run, text)
		verdicts = append(verdicts, got)
	}
	require.Equal(t, conformance.Pass, verdicts[0]["STL-02@logging"], "status lists handed to the long-lived issuer")
	require.Equal(t, verdicts[0], verdicts[1])
	require.Equal(t, verdicts[0], verdicts[2])
}

// vulnerableTarget is one vulnerable server accepting algs, and a target for it.
func vulnerableTarget(t *testing.T, algs ...string) (*target.Target, net.Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	issuerURL := "http://" + ln.Addr().String()
	srv := httptest.NewServer(vulnerable.New(vulnerable.Config{
		Issuer: issuerURL, JWKSURL: issuerURL + "/jwks.json", Audience: "vulnerable-service", Algorithms: algs, RefreshInterval: time.Second,
	}))
	t.Cleanup(srv.Close)
	return &target.Target{
		TestIssuer: &target.TestIssuerConfig{URL: issuerURL},
		ResourceServers: []target.ResourceServer{{
			Name: "vulnerable", URL: srv.URL, Method: http.MethodGet, Path: "/", Audience: "vulnerable-service",
		}},
	}, ln
}

// TestRun_AutoPicksAnAcceptedAlgorithm: a server that accepts only ES256
// passes under -alg auto, and the report says EdDSA was refused.
func TestRun_AutoPicksAnAcceptedAlgorithm(t *testing.T) {
	tgt, ln := vulnerableTarget(t, "ES256")
	suite, err := conformance.New(tgt, conformance.Options{IssuerListener: ln, KeysDir: keysDir})
	require.NoError(t, err)
	report, err := suite.Run(context.Background())
	require.NoError(t, err)
	require.False(t, report.Failed(), text(report))
	require.Len(t, report.Algorithms, 1)
	require.Equal(t, []string{"ES256"}, report.Algorithms[0].Accepted)
	require.Equal(t, []string{"ES256"}, report.Algorithms[0].Ran)
	require.Contains(t, report.Algorithms[0].Refused, "EdDSA")
	require.Contains(t, text(report), "vulnerable: accepts ES256")
}

// TestRun_AllRunsEveryAcceptedAlgorithm: -alg all runs the catalogue once
// per accepted algorithm, each a column of its own.
func TestRun_AllRunsEveryAcceptedAlgorithm(t *testing.T) {
	tgt, ln := vulnerableTarget(t, "ES256", "RS256")
	tgt.TestIssuer.Algorithm = target.AlgAll
	suite, err := conformance.New(tgt, conformance.Options{IssuerListener: ln, KeysDir: keysDir, Only: []string{"M-03"}})
	require.NoError(t, err)
	report, err := suite.Run(context.Background())
	require.NoError(t, err)
	require.False(t, report.Failed(), text(report))
	servers := map[string]bool{}
	for _, r := range report.Results {
		servers[r.Server] = true
	}
	require.Equal(t, map[string]bool{"vulnerable [ES256]": true, "vulnerable [RS256]": true}, servers)
}

// TestRun_NoAlgorithmAccepted: a server that refuses every valid token is
// a configuration error with one message, not a failed catalogue.
func TestRun_NoAlgorithmAccepted(t *testing.T) {
	tgt, ln := vulnerableTarget(t, "HS256")
	suite, err := conformance.New(tgt, conformance.Options{IssuerListener: ln, KeysDir: keysDir})
	require.NoError(t, err)
	report, err := suite.Run(context.Background())
	require.ErrorIs(t, err, conformance.ErrConfig)
	require.Nil(t, report)
	require.Contains(t, err.Error(), `"vulnerable" accepted no valid token`)
	require.Contains(t, err.Error(), "EdDSA: 401")
	require.Contains(t, err.Error(), "typ at+jwt, iss ", "the message names the token the server refused")
	require.Contains(t, err.Error(), "EdDSA kid ")
	require.Contains(t, err.Error(), "sub conformance-client")
}

// TestRun_ProcessThatExitsAtOnce is reported with its exit status and the
// end of its output as soon as it exits, not after the start timeout.
func TestRun_ProcessThatExitsAtOnce(t *testing.T) {
	logs := t.TempDir()
	tgt := &target.Target{
		TestIssuer: &target.TestIssuerConfig{URL: "http://127.0.0.1:1"},
		ResourceServers: []target.ResourceServer{{
			Name: "svc", URL: "http://127.0.0.1:1", Method: http.MethodGet, Path: "/", Audience: "svc",
		}},
		Processes: []target.Process{{Name: "svc", Command: []string{"/bin/sh", "-c", "echo cannot read config >&2; exit 3"},
			Health: "http://127.0.0.1:1/healthz"}},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	suite, err := conformance.New(tgt, conformance.Options{IssuerListener: ln, KeysDir: keysDir, LogsDir: logs})
	require.NoError(t, err)
	start := time.Now()
	_, err = suite.Run(context.Background())
	elapsed := time.Since(start)
	require.ErrorIs(t, err, conformance.ErrConfig)
	require.Contains(t, err.Error(), `process "svc" exited before it was healthy (exit status 3)`)
	require.Contains(t, err.Error(), "cannot read config")
	// Far below the 20 s start timeout, which is what it cost before.
	require.Less(t, elapsed, 10*time.Second)
	t.Logf("reported after %s", elapsed)
	kept, err := os.ReadFile(filepath.Join(logs, "svc.log"))
	require.NoError(t, err)
	require.Contains(t, string(kept), "cannot read config", "-logs keeps the output")
}

// TestExpand: placeholders are explicit; a typo is an error, not "".
func TestExpand(t *testing.T) {
	vars := map[string]string{"TEST_ISSUER_URL": "http://i"}
	got, err := conformance.Expand("iss=${TEST_ISSUER_URL} cost=$$5", vars)
	require.NoError(t, err)
	require.Equal(t, "iss=http://i cost=$5", got)
	for _, bad := range []string{"${TEST_ISUER_URL}", "$HOME", "${TEST_ISSUER_URL", "trailing $"} {
		_, err := conformance.Expand(bad, vars)
		require.Error(t, err, bad)
	}
}

// TestRun_FakeIssuerGetsNoControlToken: something else answers at the test
// issuer's URL with its public documents (the kids are public), as a
// process that took the port while the issuer was down would. The suite
// takes it for the long-lived issuer and publishes a key there (KEY-11);
// nothing it sends holds the control token, so the fake cannot later
// publish keys of its own into the real issuer.
func TestRun_FakeIssuerGetsNoControlToken(t *testing.T) {
	keysDir := t.TempDir()
	keys, err := testissuer.LoadKeys(keysDir)
	require.NoError(t, err)
	tgt, ln := vulnerableTarget(t, "EdDSA")
	url := "http://" + ln.Addr().String()
	docs := keys.Documents(url)
	docs.ControlToken = "" // public documents only
	public, err := testissuer.NewServer(docs)
	require.NoError(t, err)
	var mu sync.Mutex
	var seen []string
	ctx, published := context.WithCancel(context.Background())
	defer published()
	fake := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, fmt.Sprint(r.Method, " ", r.URL, " ", r.Header, " ", string(body)))
		mu.Unlock()
		if r.URL.Path == testissuer.PublishPath {
			w.WriteHeader(http.StatusNoContent) // as if it were the issuer
			published()                         // seen what the suite sends: the rest of KEY-11 need not wait
			return
		}
		public.ServeHTTP(w, r)
	}), ReadHeaderTimeout: time.Second}
	go func() { _ = fake.Serve(ln) }()
	t.Cleanup(func() { _ = fake.Close() })

	suite, err := conformance.New(tgt, conformance.Options{KeysDir: keysDir, Only: []string{"KEY-11"}})
	require.NoError(t, err)
	_, _ = suite.Run(ctx) // cut short once it published

	mu.Lock()
	defer mu.Unlock()
	publishes := 0
	for _, s := range seen {
		require.NotContains(t, s, keys.ControlToken)
		if strings.HasPrefix(s, "POST "+testissuer.PublishPath) {
			publishes++
		}
	}
	require.Positive(t, publishes, "the suite took the fake for its issuer and published there")
}

// TestRun_SkipLeavesOutCasesButNotTheirControls: -skip removes a case from
// the run; the control the remaining cases rest on runs even when skipped.
func TestRun_SkipLeavesOutCasesButNotTheirControls(t *testing.T) {
	tgt, ln := vulnerableTarget(t, "EdDSA")
	suite, err := conformance.New(tgt, conformance.Options{IssuerListener: ln, KeysDir: t.TempDir(),
		Only: []string{"AUD-05", "AUD-06", "CTRL-01"}, Skip: []string{"AUD-05", "CTRL-01"}})
	require.NoError(t, err)
	report, err := suite.Run(context.Background())
	require.NoError(t, err)
	var ran []string
	for _, r := range report.Results {
		ran = append(ran, r.ID)
	}
	require.Equal(t, []string{"CTRL-01", "AUD-06"}, ran)
}
