package containers_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/conformance/containers"
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// TestRun_ProjectImages runs the whole suite against this project's images,
// started with testcontainers on a network of their own, as
// `make conformance-docker` does.
func TestRun_ProjectImages(t *testing.T) {
	testutil.RequireDocker(t)
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	t.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "localhost")
	testutil.BuildImages(t)

	path := filepath.Join(testutil.RepoRoot(t), "conformance", "targets", "docker.json")
	tgt, err := target.Load(path)
	require.NoError(t, err)
	report, err := containers.Run(context.Background(), tgt, containers.Options{
		TargetDir: filepath.Dir(path), IssuerImage: "s2sjwt/conformance:dev", Logf: t.Logf,
	})
	require.NoError(t, err)
	for _, r := range report.Results {
		require.NotEqual(t, conformance.Fail, r.Status, "%s at %s: %s", r.ID, r.Server, r.Reason)
		require.NotEqual(t, conformance.Skip, r.Status, "%s at %s: %s", r.ID, r.Server, r.Reason)
	}
	require.Greater(t, report.Counts[conformance.Pass], 150)
}
