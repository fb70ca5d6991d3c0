package conformance_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/conformance/internal/vulnerable"
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
)

// TestReport_GroupsFailuresByCause: cases that broke the same way at one
// server are told once, with their ids and an availability severity; an
// acceptance stays a finding of its own, under its case's severity.
func TestReport_GroupsFailuresByCause(t *testing.T) {
	broke := func(id string) conformance.Result {
		return conformance.Result{ID: id, Server: "api", Status: conformance.Fail, Severity: conformance.Availability,
			Outcome: conformance.Broke, Cause: "500 key lookup failed", Title: "title of " + id}
	}
	r := &conformance.Report{Results: []conformance.Result{
		broke("SIG-08"), broke("SIG-09"), broke("KEY-01"),
		{ID: "AUD-06", Server: "api", Status: conformance.Fail, Severity: conformance.High, Outcome: conformance.Accepted,
			Title: "aud has the service as a prefix", Reason: "token: ACCEPTED with 200"},
		{ID: "FMT-10", Server: "other", Status: conformance.Fail, Severity: conformance.Availability, Outcome: conformance.Broke,
			Cause: "500 key lookup failed", Title: "garbage"},
	}, Counts: map[conformance.Status]int{conformance.Fail: 5}}
	var text strings.Builder
	require.NoError(t, r.WriteText(&text))
	out := text.String()
	require.Contains(t, out, "✗ 3 cases at api broke the same way [availability]: 500 key lookup failed")
	require.Contains(t, out, "cases:    SIG-08, SIG-09, KEY-01")
	require.NotContains(t, out, "title of SIG-08", "a grouped case is not told again")
	require.Contains(t, out, "✗ AUD-06 at api [high]")
	require.Contains(t, out, "✗ FMT-10 at other [availability]", "the same answer at another server is another cause")

	var md strings.Builder
	require.NoError(t, r.WriteMarkdown(&md))
	require.Contains(t, md.String(), "### 3 cases at api broke the same way (availability)")
}

// TestRun_ProgressNamesEachCase: Options.Progress gets a line as each case
// starts, with how many are done and how long a waiting case may wait.
func TestRun_ProgressNamesEachCase(t *testing.T) {
	ln, issuerURL := issuerListener(t)
	srv := httptest.NewServer(vulnerable.New(vulnerable.Config{Issuer: issuerURL, JWKSURL: issuerURL + testissuer.JWKSPath,
		Audience: "vulnerable-service", RefreshInterval: time.Second}))
	t.Cleanup(srv.Close)
	tgt := &target.Target{MaxKeyDelay: "10s", TestIssuer: &target.TestIssuerConfig{URL: issuerURL},
		ResourceServers: []target.ResourceServer{{Name: "vulnerable", URL: srv.URL, Method: http.MethodGet, Path: "/", Audience: "vulnerable-service"}}}
	var progress strings.Builder
	suite, err := conformance.New(tgt, conformance.Options{IssuerListener: ln, KeysDir: keysDir, Only: []string{"KEY-11"}, Progress: &progress})
	require.NoError(t, err)
	_, err = suite.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, "vulnerable: 0/2 CTRL-01 A valid token is accepted\n"+
		"vulnerable: 1/2 KEY-11 (may wait up to 20s) A key published during the run is accepted in bounded time, also after a burst of unknown kids\n",
		progress.String())
}
