package deploy_test

import (
	"os"
	"strings"
	"testing"

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
