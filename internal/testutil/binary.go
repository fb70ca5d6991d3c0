package testutil

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
// it can be killed with SIGKILL; it returns once /healthz answers. wrap,
// if given, is a command that runs it (PinToFirstCPU's, say).
func StartBinary(tb testing.TB, bin string, env []string, wrap ...string) (*exec.Cmd, string) {
	tb.Helper()
	port := FreePorts(tb, 1)[0]
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	argv := append(append(wrap[:len(wrap):len(wrap)], bin), "-addr", addr)
	cmd := exec.Command(argv[0], argv[1:]...)
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

// PinToFirstCPU is a wrap for StartBinary that runs the server on CPU 0
// alone, so that a load benchmark run as `taskset -c 1 go test -bench …`
// has the other CPU to itself; nil where taskset or a second CPU is
// missing.
func PinToFirstCPU() []string {
	if runtime.NumCPU() < 2 {
		return nil
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return nil
	}
	return []string{"taskset", "-c", "0"}
}
