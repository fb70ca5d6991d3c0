package conformance_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// TestRun_AttacksAddNoMetricSeries: the whole catalogue against this
// project's Logging (every malformed, forged and mis-addressed token the
// suite has) leaves its /metrics with the same series it had before: every
// label value comes from a closed set. Measured: the count of series
// before and after, and the refusals counted meanwhile.
func TestRun_AttacksAddNoMetricSeries(t *testing.T) {
	bin := buildBinaries(t, "logging")
	ln, issuerURL := issuerListener(t)
	ports := testutil.FreePorts(t, 2)
	addr, metricsAddr := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	startProcess(t, []string{"TRUSTED_ISSUER=" + issuerURL, "JWKS_URL=" + issuerURL + "/jwks.json", "DATA_DIR=" + t.TempDir(),
		"METRICS_ADDR=" + metricsAddr, "JWKS_MIN_REFRESH=1s"}, bin+"/logging", "-addr", addr)
	waitOK(t, http.DefaultClient, "http://"+addr+"/healthz")

	before := seriesOf(t, metricsAddr)
	tgt := &target.Target{TestIssuer: &target.TestIssuerConfig{URL: issuerURL},
		ResourceServers: []target.ResourceServer{{Name: "logging", URL: "http://" + addr, Method: http.MethodPost, Path: "/v1/logs",
			Body: []byte(`{"message":"conformance"}`), Audience: "logging-service", Scope: "logs:write", DPoP: true}}}
	suite, err := conformance.New(tgt, conformance.Options{IssuerListener: ln, KeysDir: keysDir, Skip: []string{"KEY-11"}})
	require.NoError(t, err)
	report, err := suite.Run(context.Background())
	require.NoError(t, err)
	require.Zero(t, report.Counts[conformance.Fail], text(report))
	after := seriesOf(t, metricsAddr)

	require.Equal(t, before, after, "no series added by %d checks", len(report.Results))
	t.Logf("%d series before and after %d checks", len(before), len(report.Results))
}

// seriesOf are the service's own series (no go_ or process_), samples
// left out.
func seriesOf(t *testing.T, addr string) []string {
	t.Helper()
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^((authn|groupcommit)_[a-z_]+(\{[^}]*\})?) `).FindAllStringSubmatch(testutil.Scrape(t, addr), -1) {
		out = append(out, m[1])
	}
	require.NotEmpty(t, out)
	return out
}
