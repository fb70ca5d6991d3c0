package conformance_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// TestRun_NotificationReplicas runs the replay cases against two replicas
// of this project's Notification binary. On one PostgreSQL database they
// pass, RPL-03 (cross-replica replay) included; each on its own SQLite file
// (what a second replica was before DATABASE_URL) RPL-03 fails and the
// single-replica cases still pass, so RPL-03 alone catches the flaw.
func TestRun_NotificationReplicas(t *testing.T) {
	root := testutil.RepoRoot(t)
	bin := filepath.Join(t.TempDir(), "notification")
	build := exec.Command("go", "build", "-o", bin, "./cmd/notification")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	shared := dbtest.Postgres(t)

	for name, tc := range map[string]struct {
		databaseURL string
		rpl03       conformance.Status
	}{
		"SharedPostgres":   {shared, conformance.Pass},
		"SQLiteEachItsOwn": {"", conformance.Fail},
	} {
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			ports := testutil.FreePorts(t, 2)
			var procs []target.Process
			var urls []string
			for i, port := range ports {
				addr := fmt.Sprintf("127.0.0.1:%d", port)
				urls = append(urls, "http://"+addr)
				Kit := map[string]string{"TRUSTED_ISSUER": "${TEST_ISSUER_URL}", "JWKS_URL": "${TEST_ISSUER_JWKS_URL}",
					"DATA_DIR": fmt.Sprintf("${WORKDIR}/notification-%d", i+1)}
				if tc.databaseURL != "" {
					Kit["DATABASE_URL"] = tc.databaseURL
				}
				procs = append(procs, target.Process{Name: fmt.Sprintf("notification-%d", i+1), Command: []string{bin, "-addr", addr},
					Env: Kit, Health: "http://" + addr + "/healthz"})
			}
			tgt := &target.Target{
				TestIssuer: &target.TestIssuerConfig{URL: "http://" + ln.Addr().String()},
				ResourceServers: []target.ResourceServer{{Name: "notification", URL: urls[0], Replicas: urls[1:],
					Method: http.MethodPost, Path: "/v1/notifications", Body: []byte(`{"channel":"email","to":"a@example.com","message":"x"}`),
					Audience: "notification-service", Scope: "notifications:send", SingleUse: true, Process: "notification-1"}},
				Processes: procs,
			}
			suite, err := conformance.New(tgt, conformance.Options{IssuerListener: ln, KeysDir: keysDir, Only: []string{"RPL-01", "RPL-02", "RPL-03", "RPL-04"}})
			require.NoError(t, err)
			report, err := suite.Run(context.Background())
			require.NoError(t, err)
			got := map[string]conformance.Status{}
			for _, r := range report.Results {
				got[r.ID] = r.Status
			}
			want := map[string]conformance.Status{"CTRL-01": conformance.Pass, "RPL-01": conformance.Pass, "RPL-02": conformance.Pass, "RPL-03": tc.rpl03, "RPL-04": conformance.Pass}
			require.Equal(t, want, got, text(report))
		})
	}
}
