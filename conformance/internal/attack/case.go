package attack

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/target"
)

// Severity ranks what an accepted attack would let an attacker do.
type Severity string

// Severities, worst first.
const (
	Critical Severity = "critical" // forge any token
	High     Severity = "high"     // use a real token where it must not work
	Medium   Severity = "medium"   // weaker checks, denial of service
	Low      Severity = "low"      // protocol hygiene
	// Availability replaces a failed case's severity when the server broke
	// (5xx, a reset) or did not answer, and accepted nothing: a bad token
	// can take it down, which is its own finding whatever the case tried.
	Availability Severity = "availability"
)

// Outcome is what a failed case's requests did.
type Outcome string

// Outcomes of a failure, worst for security first.
const (
	Accepted     Outcome = "accepted"  // a request that must be refused was accepted
	RefusedValid Outcome = "refused"   // a valid token was refused
	Broke        Outcome = "broke"     // the server answered 5xx
	NoAnswer     Outcome = "no answer" // no answer: reset, refused connection, timeout
)

// Expectation is what a correct server does with a case's requests.
type Expectation string

// Expectations.
const (
	Refuse Expectation = "refused"
	Accept Expectation = "accepted"
	// Survive: accepting or refusing are both right; breaking (a 5xx, a
	// reset) or not answering is not. For inputs that probe for crashes.
	Survive Expectation = "answered"
)

// Status is a case's verdict.
type Status string

// Verdicts. XFAIL and XPASS concern cases listed as expected failures.
const (
	Pass  Status = "PASS"
	Fail  Status = "FAIL"
	Skip  Status = "SKIP"
	XFail Status = "XFAIL"
	XPass Status = "XPASS"
	// NotApplicable cases did not apply to this server; the reason says why.
	NotApplicable Status = "N/A"
)

// About is what a case checks, as reports and docs show it.
type About struct {
	ID       string
	Title    string
	Category string
	Source   string // the RFC section, CVE or tool it comes from
	Explain  string // the idea, for a newcomer
	Severity Severity
	Expect   Expectation
	// Profiles are the token profiles the case applies to; empty, every
	// one. Elsewhere it is N/A.
	Profiles []string
}

// AppliesTo is why the case does not apply to tokens of profile ("" when
// it does).
func (a About) AppliesTo(profile string) string {
	if len(a.Profiles) == 0 || slices.Contains(a.Profiles, profile) {
		return ""
	}
	return "applies to tokens of profile " + strings.Join(a.Profiles, " or ") + ", not to this server's " + profile
}

// Result is the verdict of one case against one server.
type Result struct {
	ID        string      `json:"id"`
	Title     string      `json:"title"`
	Category  string      `json:"category"`
	Source    string      `json:"source"`
	Explain   string      `json:"explain"`
	Severity  Severity    `json:"severity"`
	Expected  Expectation `json:"expected"`
	Server    string      `json:"server"`
	Algorithm string      `json:"algorithm,omitempty"`
	Status    Status      `json:"status"`
	Outcome   Outcome     `json:"outcome,omitempty"`
	// Cause is the answer a broken or silent failure had, for grouping
	// failures of one cause ("500 key lookup failed").
	Cause        string        `json:"cause,omitempty"`
	Reason       string        `json:"reason,omitempty"`
	Observations []Observation `json:"observations,omitempty"`
}

// NewResult is v's verdict of case c against server.
func NewResult(c About, server string, v Verdict) Result {
	r := Result{ID: c.ID, Title: c.Title, Category: c.Category, Source: c.Source, Explain: c.Explain,
		Severity: c.Severity, Expected: c.Expect, Server: server, Status: v.Status, Outcome: v.Outcome, Cause: v.Cause,
		Reason: v.Reason, Observations: v.Observations}
	if v.Outcome == Broke || v.Outcome == NoAnswer {
		r.Severity = Availability
	}
	return r
}

// Phase orders the cases of a run against one server.
type Phase int

// Phases, in the order they run.
const (
	// Attack cases send what a correct server must refuse (or, as the
	// controls of a category, accept). The zero value.
	Attack Phase = iota
	// Control cases run first: what every verdict after them rests on.
	Control
	// Final cases run after every attack: the server still works.
	Final
	// Summary cases judge what the run saw (Kit.Results), sending nothing.
	Summary
)

var Phases = []Phase{Control, Attack, Final, Summary}

// Case is one check of a resource server.
type Case struct {
	About
	Phase Phase
	// RestsOn are cases whose pass a refusal by this one needs to mean
	// anything: a server that refuses valid tokens refuses attacks too.
	// They run first, also when not selected (-only).
	RestsOn []string
	// Applies, if set, returns why the case does not apply to rs ("" when
	// it does); the case is then N/A.
	Applies func(rs *target.ResourceServer) string
	// Waits, if set, is the longest the case may wait on purpose (for a
	// key to be accepted, say), which progress shows.
	Waits func(t *target.Target) time.Duration
	// Run judges the case against rs.
	Run func(ctx context.Context, e *Kit, rs *target.ResourceServer) Verdict
}

// IdentityCase is one check of the identity service (the issuer
// profile), run once per run.
type IdentityCase struct {
	About
	Run func(ctx context.Context, e *Kit) Verdict
}

// Attempt is one request: the whole Authorization header value, or none.
type Attempt struct {
	Label         string
	Authorization string
	// SecondAuthorization, if set, is sent as another Authorization header.
	SecondAuthorization string
	Query               string // appended to the URL, for tokens in the wrong place
	DPoP                string // a DPoP proof header, if any
	SecondDPoP          string // another DPoP header, if any
	// WIT and WPT are WIMSE headers, if any; SecondWPT another
	// Workload-Proof-Token header.
	WIT, WPT, SecondWPT string
}

func Bearer(label, token string) Attempt {
	return Attempt{Label: label, Authorization: "Bearer " + token}
}

// Observation is what a server answered to one attempt.
type Observation struct {
	Label     string `json:"label"`
	Status    int    `json:"status"`
	Challenge string `json:"www_authenticate,omitempty"`
	// Nonce is the DPoP-Nonce the server sent (RFC 9449 §9), if any.
	Nonce string `json:"dpop_nonce,omitempty"`
	// ContentType is the answer's media type, for refusals whose form a
	// case judges (RFC 9457 problem details).
	ContentType string `json:"content_type,omitempty"`
	Error       string `json:"error,omitempty"`
}

type Verdict struct {
	Status Status
	// Outcome and Cause, for a failure Judge found (see Result).
	Outcome      Outcome
	Cause        string
	Reason       string
	Observations []Observation
}
