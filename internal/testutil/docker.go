package testutil

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// RequireDocker skips tb when no Docker daemon answers, unless
// REQUIRE_DOCKER=1 (as in CI), where a missing daemon is a failure.
func RequireDocker(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err == nil {
		return
	}
	if os.Getenv("REQUIRE_DOCKER") == "1" {
		tb.Fatalf("REQUIRE_DOCKER=1 but no Docker daemon answers: %v: %s", err, out)
	}
	tb.Skipf("no Docker daemon (set REQUIRE_DOCKER=1 to fail instead): %v", err)
}

// RepoRoot is the directory holding go.mod.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(tb, err)
	return filepath.Dir(strings.TrimSpace(string(out)))
}

var (
	imagesOnce sync.Once
	imagesErr  error
	imagesOut  []byte
)

// BuildImages runs `make images` once per test binary: static binaries
// built here, FROM scratch images, nothing pulled. A file lock keeps test
// binaries that run in parallel from building over each other.
func BuildImages(tb testing.TB) {
	tb.Helper()
	imagesOnce.Do(func() {
		root := RepoRoot(tb)
		if imagesErr = os.MkdirAll(filepath.Join(root, "build"), 0o755); imagesErr != nil {
			return
		}
		lock, err := os.OpenFile(filepath.Join(root, "build", ".images.lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			imagesErr = err
			return
		}
		defer lock.Close()
		if imagesErr = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); imagesErr != nil {
			return
		}
		defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		cmd := exec.Command("make", "images")
		cmd.Dir = root
		imagesOut, imagesErr = cmd.CombinedOutput()
	})
	require.NoError(tb, imagesErr, string(imagesOut))
}

// FreePorts returns n loopback ports that were free a moment ago.
func FreePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(tb, err)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		defer ln.Close()
	}
	return ports
}

// RequireCommand returns the path of a command, skipping tb when it is
// missing unless REQUIRE_DOCKER=1 (CI), where that is a failure.
func RequireCommand(tb testing.TB, names ...string) string {
	tb.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("REQUIRE_DOCKER") == "1" {
		tb.Fatalf("REQUIRE_DOCKER=1 but none of %v is installed", names)
	}
	tb.Skipf("none of %v installed (set REQUIRE_DOCKER=1 to fail instead)", names)
	return ""
}
