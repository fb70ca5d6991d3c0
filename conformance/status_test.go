package conformance_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/conformance/internal/vulnerable"
)

// TestSuite_StatusListFlawsOnlyTheirCases: a correct server passes every
// status-list case (under each algorithm its lists may be signed with),
// and each broken status check fails exactly the cases built for it.
func TestSuite_StatusListFlawsOnlyTheirCases(t *testing.T) {
	ids := categoryIDs("status list")
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
			require.ElementsMatch(t, vulnerable.Catches[flaw], conclusiveFailures(report, "status list"), text(report))
		})
	}
}
