package careergpt

import (
	"fmt"
	"io"
	"strings"
	"time"
)

var laneNames = map[string]string{
	LaneCareerGPT: "CareerGPT", LaneIdentity: "Identity", LaneLogging: "Logging", LaneNotification: "Notification",
}

// Narrate writes out as a story a newcomer can follow: each step, what the
// receiver decided and why, and the claims that mattered.
func Narrate(w io.Writer, out *Outcome) {
	fmt.Fprintf(w, "\n=== The zero-trust flow, step by step (%s) ===\n", out.Action)
	for i, st := range out.Steps {
		mark := "✓"
		if !st.Passed {
			mark = "✗ UNEXPECTED"
		}
		fmt.Fprintf(w, "\n[%d/%d] %s → %s  %s  (%s)\n", i+1, len(out.Steps), laneNames[st.From], laneNames[st.To], st.Title, st.Request)
		fmt.Fprintf(w, "      %s\n", wrap(st.Story, 100, "      "))
		if t := st.Token; t != nil {
			fmt.Fprintf(w, "      token: iss=%v sub=%v aud=%v exp=%s jti=%s\n",
				t.Claims["iss"], t.Claims["sub"], t.Claims["aud"], expiry(t.Claims["exp"]), t.JTI)
		}
		if t := st.WIT; t != nil {
			fmt.Fprintf(w, "      WIT: sub=%v exp=%s jti=%s\n", t.Claims["sub"], expiry(t.Claims["exp"]), t.JTI)
		}
		if p := st.Proof; p != nil && p.Header["typ"] == "wpt+jwt" {
			fmt.Fprintf(w, "      WPT: aud=%v exp=%s jti=%s\n", p.Claims["aud"], expiry(p.Claims["exp"]), p.JTI)
		}
		outcome := fmt.Sprintf("%s (%d)", st.Result, st.Status)
		if st.Reason != "" {
			outcome += ": " + st.Reason
		}
		fmt.Fprintf(w, "      %s %s — expected %s\n", mark, outcome, st.Expect)
		if st.Detail != "" {
			fmt.Fprintf(w, "      %s\n", wrap(st.Detail, 100, "      "))
		}
	}
	verdict := "every step ended as it should"
	if !out.Passed {
		verdict = "SOME STEPS DID NOT END AS EXPECTED"
	}
	fmt.Fprintf(w, "\n=== %s (%s) ===\n\n", verdict, out.Finished.Sub(out.Started).Round(time.Millisecond))
}

func expiry(v any) string {
	f, ok := v.(float64)
	if !ok {
		return "none"
	}
	return time.Unix(int64(f), 0).UTC().Format(time.TimeOnly) + "Z"
}

// wrap breaks s into lines of at most width runes, indenting continuations.
func wrap(s string, width int, indent string) string {
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(s) {
		if i > 0 && n+1+len(word) > width {
			b.WriteString("\n" + indent)
			n = 0
		} else if i > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}
