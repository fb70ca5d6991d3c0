// Package cases is the suite's catalogue: one file per category, each case
// written with conformance/internal/attack. Cases returns them in report
// order with the controls they rest on; IdentityCases are the issuer
// profile's, a list of their own.
package cases

import (
	"slices"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/target"
)

// Categories, in report order.
var Categories = []string{
	"control", "mission", "audience", "issuer", "time", "signature", "key selection",
	"type and header", "subject", "replay", "dpop", "format and cost", "issuer profile",
}

// The controls the catalogue's verdicts rest on.
const (
	// baseControlID is the control every attack's verdict rests on.
	baseControlID = "CTRL-01"
	// dpopControlID is the control every DPoP refusal rests on.
	dpopControlID = "DPOP-01"
	// finalControlID runs after every attack: the server still works.
	finalControlID = "CTRL-06"
)

// Cases returns every resource-server case, in report order, each with its
// phase, what it rests on and where it applies.
func Cases() []attack.Case {
	cases := slices.Concat(controlCases(), missionCases(), audienceCases(), issuerCases(), timeCases(),
		signatureCases(), keyCases(), headerCases(), subjectCases(), replayCases(), dpopCases(), formatCases(),
		[]attack.Case{rfc6750Case})
	for i := range cases {
		c := &cases[i]
		switch {
		case c.ID == finalControlID:
			c.Phase = attack.Final
		case c.Category == "control":
			c.Phase = attack.Control
		}
		if c.Phase == attack.Attack && c.ID != dpopControlID {
			c.RestsOn = append(c.RestsOn, baseControlID)
		}
		if c.Category == "dpop" {
			if c.ID != dpopControlID {
				c.RestsOn = append(c.RestsOn, dpopControlID)
			}
			c.Applies = dpopOnly
		}
	}
	return cases
}

// IdentityCases returns the issuer-profile cases, run once against the
// target's identity service.
func IdentityCases() []attack.IdentityCase { return identityCases() }

// Catalogue is every case of both lists, as docs and reports show them.
func Catalogue() []attack.About {
	var all []attack.About
	for _, c := range Cases() {
		all = append(all, c.About)
	}
	for _, c := range IdentityCases() {
		all = append(all, c.About)
	}
	return all
}

func singleUseOnly(rs *target.ResourceServer) string {
	if !rs.SingleUse {
		return "the target does not declare this server single_use"
	}
	return ""
}

func dpopOnly(rs *target.ResourceServer) string {
	if !rs.DPoP {
		return "the target does not declare this server dpop"
	}
	return ""
}
