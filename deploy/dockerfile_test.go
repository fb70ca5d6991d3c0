package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s2sjwt/s2sjwt/internal/testutil"
	"github.com/stretchr/testify/require"
)

// finalStage returns the instructions after the last FROM, comments and
// blank lines dropped, with the one legitimate difference (where the
// binary is copied from) normalised.
func finalStage(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var stage []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "FROM "):
			stage = []string{line}
		default:
			stage = append(stage, strings.Replace(line, "COPY --from=build /src/build/bin/", "COPY build/bin/", 1))
		}
	}
	return stage
}

// TestDockerfiles_SameFinalStage: the source build and the offline build
// must produce the same image.
func TestDockerfiles_SameFinalStage(t *testing.T) {
	source, offline := finalStage(t, "Dockerfile"), finalStage(t, "Dockerfile.offline")
	require.Equal(t, "FROM scratch", source[0])
	require.Equal(t, source, offline)
	for _, f := range []string{"Dockerfile", "Dockerfile.offline"} {
		data, _ := os.ReadFile(f)
		require.NotContains(t, string(data), "# syntax=", "the legacy builder must build it")
		require.NotContains(t, string(data), "RUN --mount", "no BuildKit-only syntax")
	}
}

// TestCompose_PublishesOnlyThePageAndBoundsEveryService: the services that
// act on tokens are reachable only on the private network, and no
// container can take the host's memory, processes or disk with it.
func TestCompose_PublishesOnlyThePageAndBoundsEveryService(t *testing.T) {
	for file, bounded := range map[string]int{
		"compose.yaml": 4, // each service
		// identity, logging and notification's templates (each used by two
		// replicas) and careergpt; postgres has bounds of its own.
		"compose.replicas.yaml": 4,
	} {
		data, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), file))
		require.NoError(t, err)
		compose := string(data)
		require.Equal(t, 1, strings.Count(compose, "ports:"), "%s: only CareerGPT publishes a port", file)
		require.Contains(t, compose, `ports: ["127.0.0.1:${CAREERGPT_PORT:-9000}:8080"]`, file)
		for _, bound := range []string{"mem_limit:", "pids_limit:", "max-size:", "max-file:"} {
			require.Contains(t, compose, bound, file)
		}
		require.Equal(t, bounded, strings.Count(compose, "<<: *hardening"), "%s: every service takes the bounds", file)
	}
}
