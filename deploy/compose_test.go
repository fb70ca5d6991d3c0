// Package deploy_test checks the container deployment: the images, the
// compose file, and that the two Dockerfiles do not drift apart.
package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/httpx"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

type outcome struct {
	Passed bool `json:"passed"`
	Steps  []struct {
		ID, Result, Reason string
		Passed             bool
	} `json:"steps"`
}

// composeCLIs are the compose implementations the files must work with:
// docker-compose 1.29 (Debian's) and the docker compose v2 plugin (.ci/run
// builds it from the Go module proxy when it is missing).
var composeCLIs = []struct {
	name    string
	command []string
}{{"v1", []string{"docker-compose"}}, {"v2", []string{"docker", "compose"}}}

// requireCompose skips when cli is not installed: v1 must be there under
// REQUIRE_DOCKER=1; v2 only if it was built.
func requireCompose(t *testing.T, command []string) {
	t.Helper()
	if exec.Command(command[0], slices.Concat(command[1:], []string{"version"})...).Run() == nil {
		return
	}
	if len(command) == 1 && os.Getenv("REQUIRE_DOCKER") == "1" {
		t.Fatalf("REQUIRE_DOCKER=1 but %s is not installed", command[0])
	}
	t.Skipf("%s is not installed", strings.Join(command, " "))
}

// TestCompose_ScenarioAndRestart brings the stack up with compose.yaml
// itself, under each compose CLI, checks the scenario through CareerGPT's
// JSON, restarts Notification and Logging, and checks that a token used
// before the restart is still refused and no log entry was lost.
func TestCompose_ScenarioAndRestart(t *testing.T) {
	testutil.RequireDocker(t)
	for _, cli := range composeCLIs {
		t.Run(cli.name, func(t *testing.T) {
			requireCompose(t, cli.command)
			testutil.BuildImages(t)
			testComposeScenarioAndRestart(t, cli.command)
		})
	}
}

// TestCompose_ReplicasFileIsValid: compose.replicas.yaml needs PostgreSQL's
// image, which no registry here serves, so it is only checked to be a
// valid file under each CLI; the replicas themselves are tested on the
// host's PostgreSQL (cmd/*/replicas_test.go, cmd/demo).
func TestCompose_ReplicasFileIsValid(t *testing.T) {
	root := testutil.RepoRoot(t)
	for _, cli := range composeCLIs {
		t.Run(cli.name, func(t *testing.T) {
			requireCompose(t, cli.command)
			args := slices.Concat(cli.command[1:], []string{"-f", filepath.Join(root, "compose.replicas.yaml"), "config", "--services"})
			out, err := exec.Command(cli.command[0], args...).CombinedOutput()
			require.NoError(t, err, string(out))
			for _, svc := range []string{"postgres", "identity-1", "identity-2", "logging-1", "logging-2", "notification-1", "notification-2", "careergpt"} {
				require.Contains(t, strings.Fields(string(out)), svc)
			}
		})
	}
}

func testComposeScenarioAndRestart(t *testing.T, cli []string) {
	root := testutil.RepoRoot(t)
	ports := testutil.FreePorts(t, 1)
	project := fmt.Sprintf("s2sjwt-test-%d", time.Now().UnixNano()%1_000_000)
	env := append(os.Environ(),
		fmt.Sprintf("CAREERGPT_PORT=%d", ports[0]))
	command := func(args ...string) *exec.Cmd {
		cmd := exec.Command(cli[0], slices.Concat(cli[1:], []string{"-p", project, "-f", filepath.Join(root, "compose.yaml")}, args)...)
		cmd.Env, cmd.Dir = env, root
		return cmd
	}
	compose := func(args ...string) string {
		t.Helper()
		out, err := command(args...).CombinedOutput()
		require.NoError(t, err, "%s: %s", strings.Join(args, " "), out)
		return string(out)
	}
	composeOK := func(args ...string) bool { return command(args...).Run() == nil }
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(compose("logs", "--no-color", "--tail", "50"))
		}
		compose("down", "-v", "--remove-orphans")
	})

	start := time.Now()
	compose("up", "-d")
	base := func(i int) string { return fmt.Sprintf("http://127.0.0.1:%d", ports[i]) }
	waitHealthy(t, base(0)) // CareerGPT starts once the other three are healthy
	t.Logf("stack healthy %s after `up` began", time.Since(start).Round(10*time.Millisecond))

	var played outcome
	require.Eventually(t, func() bool {
		return getJSON(base(0)+"/v1/scenario", &played) == nil && len(played.Steps) == 29
	}, 60*time.Second, 250*time.Millisecond, "the scenario did not finish")
	require.True(t, played.Passed, "%+v", played.Steps)
	ids := map[string]bool{}
	for _, st := range played.Steps {
		require.True(t, st.Passed, "%s: %s %s", st.ID, st.Result, st.Reason)
		ids[st.ID] = true
	}
	// Token exchange across containers: the audit entry is CareerGPT's via
	// Notification, and the two exchanges policy forbids are refused; a
	// revoked token and a suspended caller are refused; the WIMSE calls to
	// Notification and the thief's four refused steps.
	for _, id := range []string{"notification-audit-logged", "exchange-foreign-token-refused", "exchange-wider-scope-refused",
		"revoked-token-refused", "suspended-caller-refused",
		"issue-workload-identity", "wimse-wit-alone-refused", "wimse-wit-as-bearer-refused", "wimse-wpt-at-logging-refused", "wimse-wpt-replayed-refused"} {
		require.True(t, ids[id], "step %s missing", id)
	}

	var before struct{ Entries []json.RawMessage }
	require.NoError(t, getJSON(base(0)+"/v1/audit", &before))
	require.NotEmpty(t, before.Entries)

	compose("restart", "notification", "logging")
	for _, svc := range []string{"notification", "logging"} {
		require.Eventually(t, func() bool { return composeOK("exec", "-T", svc, "/app", "healthcheck") },
			60*time.Second, 250*time.Millisecond, "%s not healthy after restart", svc)
	}

	var replay outcome
	require.NoError(t, postJSON(base(0)+"/v1/steps/replay-earlier", &replay))
	require.Len(t, replay.Steps, 1)
	require.True(t, replay.Passed, "%+v", replay.Steps)
	require.Equal(t, "token already used", replay.Steps[0].Reason, "Notification forgot a used jti across a restart")

	var after struct{ Entries []json.RawMessage }
	require.NoError(t, getJSON(base(0)+"/v1/audit", &after))
	require.Equal(t, len(before.Entries), len(after.Entries), "Logging lost entries across a restart")
}

func waitHealthy(t *testing.T, urls ...string) {
	t.Helper()
	for _, u := range urls {
		require.Eventually(t, func() bool { return httpx.Healthcheck(context.Background(), u+"/healthz") == nil },
			60*time.Second, 100*time.Millisecond, "%s not healthy", u)
	}
}

func getJSON(url string, v any) error  { return doJSON(http.MethodGet, url, v) }
func postJSON(url string, v any) error { return doJSON(http.MethodPost, url, v) }

// doJSON sends an empty request and decodes a 200 answer into v.
func doJSON(method, url string, v any) error {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
