package conformance_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/conformance/internal/vulnerable"
)

// TestSuite_StatusListFlawsOnlyTheirCases: a correct server passes every
// status-list case (under each algorithm its lists may be signed with),
// and each broken status check fails exactly the cases built for it.
func TestSuite_StatusListFlawsOnlyTheirCases(t *testing.T) {
	var ids []string
	for _, c := range conformance.Catalogue() {
		if c.Category == "status list" {
			ids = append(ids, c.ID)
		}
	}
	require.Len(t, ids, 8)
	for _, alg := range []string{"EdDSA", "ES256", "RS256"} {
		failed, report := runAgainst(t, vulnerable.Correct, alg, ids...)
		require.Empty(t, failed, text(report))
	}
	for _, flaw := range []vulnerable.Flaw{vulnerable.StatusRefusesAll, vulnerable.StatusNeverRefetched, vulnerable.StatusIgnoresSuspended,
		vulnerable.StatusFetchesAnyURI, vulnerable.StatusSkipsListSignature, vulnerable.StatusSkipsListSub, vulnerable.StatusSkipsListExp,
		vulnerable.StatusOutOfRangeValid} {
		t.Run(string(flaw), func(t *testing.T) {
			t.Parallel()
			_, report := runAgainst(t, flaw, "ES256", ids...)
			var failed []string
			for _, r := range report.Results {
				if r.Category == "status list" && r.Status == conformance.Fail && !strings.Contains(r.Reason, "inconclusive") {
					failed = append(failed, r.ID)
				}
			}
			require.ElementsMatch(t, vulnerable.Catches[flaw], failed, text(report))
		})
	}
}
