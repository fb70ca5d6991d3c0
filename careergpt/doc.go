// Package careergpt is the caller of the scenario: it gets tokens from
// Identity as careergpt-backend and calls Logging and Notification with
// them, then plays the thief (a stolen token at the wrong service, a
// replay, an expired token, a forged issuer) and shows each refusal. It
// serves the flow page that draws every step, decodes its tokens and lists
// the checks the receiving service made.
//
//	out, err := careergpt.PlayAt(ctx, "http://127.0.0.1:9000", "scenario")
//	careergpt.Narrate(os.Stdout, out)
package careergpt
