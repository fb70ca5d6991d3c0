package conformance_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/conformance/internal/vulnerable"
	"github.com/s2sjwt/s2sjwt/conformance/target"
)

// The profiles the self-test runs, as a target file names them.
var (
	svidProfile = target.Token{Profile: target.ProfileJWTSVID, TrustDomain: "example.org"}
	k8sProfile  = target.Token{Profile: target.ProfileKubernetes, Namespace: "payments", ServiceAccount: "ledger", OnlySubject: true}
)

func profileFor(f vulnerable.Flaw) target.Token {
	if vulnerable.ProfileOf(f) == target.ProfileKubernetes {
		return k8sProfile
	}
	return svidProfile
}

// TestSuite_PassesCorrectServerPerProfile: no false alarm against a
// correct verifier of each profile, under each algorithm the profile
// allows, and the cases of the other profiles are N/A, not run.
func TestSuite_PassesCorrectServerPerProfile(t *testing.T) {
	for _, p := range []target.Token{svidProfile, k8sProfile} {
		for _, alg := range p.Algorithms() {
			t.Run(p.Profile+"/"+alg, func(t *testing.T) {
				t.Parallel()
				failed, report := runAgainstProfile(t, vulnerable.Correct, alg, p)
				require.Empty(t, failed, "false alarms:\n%s", text(report))
				require.Zero(t, report.Counts[conformance.Skip], text(report))
				for _, r := range report.Results {
					if c := aboutOf(r.ID); len(c.Profiles) > 0 && !slices.Contains(c.Profiles, p.Profile) {
						require.Equal(t, conformance.NotApplicable, r.Status, "%s under %s", r.ID, p.Profile)
					}
				}
			})
		}
	}
}

// TestSuite_CatchesEveryProfileFlaw: each broken verifier of a profile
// fails the cases built for its flaw.
func TestSuite_CatchesEveryProfileFlaw(t *testing.T) {
	for _, flaw := range sortedFlaws(vulnerable.ProfileCatches) {
		t.Run(string(flaw), func(t *testing.T) {
			t.Parallel()
			failed, report := runAgainstProfile(t, flaw, "ES256", profileFor(flaw), vulnerable.ProfileCatches[flaw]...)
			require.ElementsMatch(t, vulnerable.ProfileCatches[flaw], failed, text(report))
		})
	}
}

func aboutOf(id string) conformance.About {
	for _, c := range conformance.Catalogue() {
		if c.ID == id {
			return c
		}
	}
	return conformance.About{}
}
