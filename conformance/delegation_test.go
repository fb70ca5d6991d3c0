package conformance_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/conformance/internal/vulnerable"
)

// TestSuite_DelegationFlawsOnlyTheirCases: against each broken delegation
// check, the delegation category fails exactly the cases built for it (a
// flaw that failed others would say they test the same thing), and ACT-01
// rests the others on a server that takes delegated tokens at all.
func TestSuite_DelegationFlawsOnlyTheirCases(t *testing.T) {
	delegation := categoryIDs("delegation")
	require.NotEmpty(t, delegation)
	for _, flaw := range []vulnerable.Flaw{vulnerable.RefusesDelegation, vulnerable.ChecksEveryActor, vulnerable.ActorPrefix,
		vulnerable.AcceptsAnyActor, vulnerable.ActStringAsActor, vulnerable.IgnoresActWithoutSub, vulnerable.ChecksAnyActor,
		vulnerable.ReadsMayAct, vulnerable.NoChainBound} {
		t.Run(string(flaw), func(t *testing.T) {
			t.Parallel()
			_, report := runAgainst(t, flaw, "ES256", delegation...)
			failed := conclusiveFailures(report, "delegation")
			require.ElementsMatch(t, vulnerable.Catches[flaw], failed, text(report))
		})
	}
}

// TestSuite_DelegationPassesCorrectServer: no delegation case raises an
// alarm against a correct server, under each algorithm a token exchange
// may sign with.
func TestSuite_DelegationPassesCorrectServer(t *testing.T) {
	delegation := categoryIDs("delegation")
	algs := []string{"EdDSA", "ES256", "RS256", "PS256"}
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			failed, report := runAgainstServer(t, serverOpts{algorithms: algs}, alg, delegation...)
			require.Empty(t, failed, text(report))
			passed := 0
			for _, r := range report.Results {
				if r.Category == "delegation" && r.Status == conformance.Pass {
					passed++
				}
			}
			require.Equal(t, len(delegation), passed, text(report))
		})
	}
}

// categoryIDs are the ids of the catalogue's cases of category.
func categoryIDs(category string) []string {
	var ids []string
	for _, c := range conformance.Catalogue() {
		if c.Category == category {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// conclusiveFailures are the cases of category that failed for what they
// test: refusals after a failed control fail too, but are inconclusive,
// not what a case caught.
func conclusiveFailures(report *conformance.Report, category string) []string {
	var failed []string
	for _, r := range report.Results {
		if r.Category == category && r.Status == conformance.Fail && !strings.Contains(r.Reason, "inconclusive") {
			failed = append(failed, r.ID)
		}
	}
	return failed
}
