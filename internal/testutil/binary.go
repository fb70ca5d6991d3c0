package testutil

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BuildBinary builds the package in the test's directory (a cmd/…) and
// returns the binary's path.
func BuildBinary(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "service")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(tb, err, string(out))
	return bin
}

// StartBinary runs bin as a child process on a free loopback port, so that
// it can be killed with SIGKILL; it returns once /healthz answers.
func StartBinary(tb testing.TB, bin string, env []string) (*exec.Cmd, string) {
	tb.Helper()
	port := FreePorts(tb, 1)[0]
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "-addr", addr)
	cmd.Env = append(os.Environ(), env...)
	out := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(tb, cmd.Start())
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if tb.Failed() {
			tb.Log(out.String())
		}
	})
	require.Eventually(tb, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "%s did not start:\n%s", bin, out)
	return cmd, "http://" + addr
}
