package conformance

import (
	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/internal/cases"
)

// What a report holds, defined with the cases (conformance/internal/attack)
// and named here for the suite's users.
type (
	// Result is the verdict of one case against one server.
	Result = attack.Result
	// Observation is what a server answered to one request.
	Observation = attack.Observation
	// About is what a case checks, as reports and docs show it.
	About = attack.About
	// Status is a case's verdict.
	Status = attack.Status
	// Severity ranks what an accepted attack would let an attacker do.
	Severity = attack.Severity
	// Expectation is what a correct server does with a case's requests.
	Expectation = attack.Expectation
	// Outcome is what a failed case's requests did.
	Outcome = attack.Outcome
)

// Verdicts. XFAIL and XPASS concern cases listed as expected failures.
const (
	Pass          = attack.Pass
	Fail          = attack.Fail
	Skip          = attack.Skip
	XFail         = attack.XFail
	XPass         = attack.XPass
	NotApplicable = attack.NotApplicable
)

// Severities, worst first.
const (
	Critical = attack.Critical
	High     = attack.High
	Medium   = attack.Medium
	Low      = attack.Low
	// Availability is a failure's severity when the server broke or did
	// not answer, and accepted nothing.
	Availability = attack.Availability
)

// Outcomes of a failure.
const (
	Accepted     = attack.Accepted
	RefusedValid = attack.RefusedValid
	Broke        = attack.Broke
	NoAnswer     = attack.NoAnswer
)

// Expectations.
const (
	Refuse  = attack.Refuse
	Accept  = attack.Accept
	Survive = attack.Survive
)

// Categories are the catalogue's categories, in report order.
var Categories = cases.Categories

// Catalogue is every case the suite has, resource-server and
// identity-profile cases alike, in report order.
func Catalogue() []About { return cases.Catalogue() }
