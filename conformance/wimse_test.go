package conformance_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/conformance/internal/vulnerable"
)

// TestSuite_WIMSEFlawsCaughtExactly: each WIMSE flaw fails exactly its own
// wimse cases, and so each wimse case has a broken variant that only it
// catches.
func TestSuite_WIMSEFlawsCaughtExactly(t *testing.T) {
	wimse := categoryIDs("wimse")
	for _, flaw := range sortedFlaws(vulnerable.WIMSECatches) {
		t.Run(string(flaw), func(t *testing.T) {
			t.Parallel()
			failed, report := runAgainst(t, flaw, "ES256", wimse...)
			failed = slices.DeleteFunc(failed, func(id string) bool { return !slices.Contains(wimse, id) })
			require.ElementsMatch(t, vulnerable.WIMSECatches[flaw], failed, text(report))
		})
	}
	for _, id := range wimse {
		only := 0
		for _, ids := range vulnerable.WIMSECatches {
			if len(ids) == 1 && ids[0] == id {
				only++
			}
		}
		if id != "WIMSE-01" {
			require.NotZero(t, only, "%s needs a broken variant that only it catches", id)
		}
	}
}
