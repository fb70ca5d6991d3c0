package conformance_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/conformance/target"
)

// TestDocs_CatalogueUpToDate keeps docs/conformance.md's catalogue the one
// the code runs. Regenerate with: go run ./cmd/conformance list -markdown
func TestDocs_CatalogueUpToDate(t *testing.T) {
	doc, err := os.ReadFile("../docs/conformance.md")
	require.NoError(t, err)
	var want strings.Builder
	require.NoError(t, conformance.WriteCatalogue(&want))
	require.Contains(t, string(doc), want.String(), "docs/conformance.md is stale: paste `go run ./cmd/conformance list -markdown` into its catalogue section")
}

// TestCatalogue_WellFormed: every case is explained and traceable.
func TestCatalogue_WellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range conformance.Catalogue() {
		require.False(t, seen[c.ID], "duplicate id %s", c.ID)
		seen[c.ID] = true
		require.NotEmpty(t, c.Title, c.ID)
		require.NotEmpty(t, c.Source, c.ID)
		require.GreaterOrEqual(t, len(c.Explain), 40, "%s needs a paragraph a newcomer can follow", c.ID)
		require.Contains(t, conformance.Categories, c.Category, c.ID)
	}
	require.GreaterOrEqual(t, len(seen), 80)
}

// TestTargets_Load: every target file shipped, examples included, is valid.
func TestTargets_Load(t *testing.T) {
	paths, err := filepath.Glob("targets/*.json")
	require.NoError(t, err)
	examples, err := filepath.Glob("targets/examples/*.json")
	require.NoError(t, err)
	for _, path := range append(paths, examples...) {
		if strings.HasSuffix(path, "registry.json") {
			continue
		}
		_, err := target.Load(path)
		require.NoError(t, err, path)
	}
	require.GreaterOrEqual(t, len(examples), 2)
}
