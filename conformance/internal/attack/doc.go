// Package attack is what the suite's cases are written with, and all they
// may use: a Case (its About, Phase, what it RestsOn, where it Applies, one
// Run), the Kit a case runs with against one server (a valid base token,
// forging, sending, the test issuer's fetch log, publishing keys,
// restarting a process), and the Verdict it returns (Judge compares
// observations with the case's expectation).
//
// A typical case changes one thing in a valid token and expects a refusal:
//
//	attack.Case{About: attack.About{ID: "AUD-01", Category: "audience", Severity: attack.High,
//		Expect: attack.Refuse, Source: "RFC 7519 §4.1.3", Title: "aud missing", Explain: "…"},
//		Run: attack.Requests(attack.Forged(func(_ *attack.Issuer, _, claims map[string]any) {
//			delete(claims, "aud")
//		}))}
//
// The catalogue is in conformance/internal/cases; the run loop, which names
// no case, in conformance.
package attack
