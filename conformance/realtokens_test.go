package conformance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// TestRun_RealTokensMode runs the suite as a team whose servers cannot
// trust the test issuer would: no test_issuer, real tokens from the
// implementation's identity service. This project's binaries are built
// and started through the target's processes (the suite imports nothing
// from them). Every case that needs no forged signature must run and pass;
// the others must say why they were skipped.
func TestRun_RealTokensMode(t *testing.T) {
	root := testutil.RepoRoot(t)
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/identity", "./cmd/logging", "./cmd/notification")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))

	ports := testutil.FreePorts(t, 3)
	addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[i]) }
	issuer := "http://" + addr(0)
	file := fmt.Sprintf(`{
	  "max_leeway": "10s",
	  "resource_servers": [
	    {"name": "logging", "url": "http://%[2]s", "method": "POST", "path": "/v1/logs", "body": {"message": "x"},
	     "audience": "logging-service", "scope": "logs:write"},
	    {"name": "notification", "url": "http://%[3]s", "method": "POST", "path": "/v1/notifications",
	     "body": {"channel": "email", "to": "a@example.com", "message": "x"},
	     "audience": "notification-service", "scope": "notifications:send", "single_use": true}],
	  "identity": {"url": %[4]q, "issuer": %[4]q, "client_id": "conformance-suite",
	    "client_secret": "conformance-only-not-a-real-secret-6f1c0e9a4b7d2c85", "forbidden_audience": "billing-service",
	    "exchange": {"actor_id": "conformance-actor", "actor_secret": "conformance-actor-only-not-a-real-secret-3e8b1d90c4a7f265",
	      "received": "notification-service", "audience": "logging-service", "scope": "logs:write", "wider_scope": "logs:read"}},
	  "processes": [
	    {"name": "identity", "command": [%[5]q, "-addr", %[1]q], "health": "%[4]s/healthz",
	     "env": {"IDENTITY_ISSUER": %[4]q, "IDENTITY_REGISTRY": %[6]q, "DATA_DIR": "${WORKDIR}/identity"}},
	    {"name": "logging", "command": [%[7]q, "-addr", %[2]q], "health": "http://%[2]s/healthz",
	     "env": {"TRUSTED_ISSUER": %[4]q, "DATA_DIR": "${WORKDIR}/logging"}},
	    {"name": "notification", "command": [%[8]q, "-addr", %[3]q], "health": "http://%[3]s/healthz",
	     "env": {"TRUSTED_ISSUER": %[4]q, "DATA_DIR": "${WORKDIR}/notification"}}]}`,
		addr(0), addr(1), addr(2), issuer, filepath.Join(bin, "identity"),
		filepath.Join(root, "conformance/targets/local-registry.json"), filepath.Join(bin, "logging"), filepath.Join(bin, "notification"))
	path := filepath.Join(t.TempDir(), "target.json")
	require.NoError(t, os.WriteFile(path, []byte(file), 0o644))

	tgt, err := target.Load(path)
	require.NoError(t, err)
	suite, err := conformance.New(tgt, conformance.Options{KeysDir: keysDir})
	require.NoError(t, err)
	report, err := suite.Run(context.Background())
	require.NoError(t, err)

	passed := map[string]bool{}
	for _, r := range report.Results {
		switch r.Status {
		case conformance.Fail:
			t.Errorf("%s at %s failed: %s", r.ID, r.Server, r.Reason)
		case conformance.Skip:
			require.True(t, strings.Contains(r.Reason, "test issuer") || strings.Contains(r.Reason, "no 401"),
				"%s skipped for another reason: %s", r.ID, r.Reason)
		case conformance.Pass:
			passed[r.ID+"@"+r.Server] = true
		}
	}
	for _, id := range []string{"CTRL-01", "M-01", "SIG-01", "SIG-05", "SIG-06", "SIG-08", "SIG-10", "KEY-01", "KEY-05",
		"KEY-07", "FMT-06", "FMT-07", "FMT-14"} {
		require.True(t, passed[id+"@logging"], "%s must run and pass on real tokens", id)
	}
	require.True(t, passed["RPL-02@notification"])
	require.True(t, passed["IDP-05@identity"])
	require.True(t, passed["XCH-01@identity"], "the identity's token exchange, judged")
	data, _ := json.Marshal(report.Counts)
	t.Logf("counts: %s", data)
}
