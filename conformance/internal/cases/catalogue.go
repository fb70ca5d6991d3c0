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
	"type and header", "subject", "scope", "token profile", "delegation", "status list", "replay", "dpop", "wimse", "format and cost", "issuer profile",
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
		signatureCases(), keyCases(), headerCases(), subjectCases(), scopeCases(), profileCases(), delegationCases(), statusCases(), replayCases(), dpopCases(), wimseCases(), formatCases(),
		[]attack.Case{rfc6750Case})
	for i := range cases {
		c := &cases[i]
		if profiles, ok := narrowed[c.ID]; ok {
			c.Profiles = profiles
		}
		switch {
		case c.ID == finalControlID:
			c.Phase = attack.Final
		case c.Category == "control":
			c.Phase = attack.Control
		}
		if c.Phase == attack.Attack && c.ID != dpopControlID && c.ID != wimseControlID {
			c.RestsOn = append(c.RestsOn, baseControlID)
		}
		if c.Category == "wimse" {
			if c.ID != wimseControlID {
				c.RestsOn = append(c.RestsOn, wimseControlID)
			}
			c.Applies = allOf(wimseOnly, c.Applies)
			// A service account (system:serviceaccount:NS:NAME) is no
			// workload URI's path: a WIT cannot name it.
			c.Profiles = notKubernetes
		}
		if c.Category == "dpop" {
			if c.ID != dpopControlID {
				c.RestsOn = append(c.RestsOn, dpopControlID)
			}
			c.Applies = allOf(dpopOnly, c.Applies)
		}
	}
	return cases
}

// narrowed are the general cases whose premise a token profile does not
// share; they are N/A under the others.
var narrowed = map[string][]string{
	// typ at+jwt is RFC 9068's: a JWT-SVID is typed JWT or JOSE, a
	// service-account token not at all.
	"CTRL-07": {target.ProfileRFC9068}, "HDR-01": {target.ProfileRFC9068}, "HDR-02": {target.ProfileRFC9068},
	// A JWT-SVID is trusted through its trust domain's bundle; iss is none
	// of its claims.
	"M-04": notJWTSVID, "ISS-01": notJWTSVID, "ISS-02": notJWTSVID, "ISS-03": notJWTSVID, "ISS-04": notJWTSVID,
	"ISS-06": notJWTSVID, "ISS-07": notJWTSVID, "ISS-08": notJWTSVID, "ISS-09": notJWTSVID,
	// What RFC 7519 allows and JWT-SVID advises against or forbids: several
	// audiences (SVID-12), header parameters beyond alg, kid, typ (SVID-13),
	// a key without use in a bundle where use is required.
	"CTRL-02": notJWTSVID, "CTRL-05": notJWTSVID, "CTRL-09": notJWTSVID,
}

var (
	notJWTSVID    = []string{target.ProfileRFC9068, target.ProfileKubernetes}
	notKubernetes = []string{target.ProfileRFC9068, target.ProfileJWTSVID}
)

// IdentityCases returns the issuer-profile cases, run once against the
// target's identity service.
// The exchange cases run before IDP-10, whose failed authentications may
// (in a flawed identity) lock the suite's client out of everything after.
func IdentityCases() []attack.IdentityCase {
	cases := identityCases()
	at := slices.IndexFunc(cases, func(c attack.IdentityCase) bool { return c.ID == "IDP-10" })
	return slices.Insert(cases, at, slices.Concat(exchangeCases(), identityStatusCases())...)
}

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

// allOf applies where every one of checks does (nil ones aside), with the
// first reason it does not.
func allOf(checks ...func(*target.ResourceServer) string) func(*target.ResourceServer) string {
	return func(rs *target.ResourceServer) string {
		for _, applies := range checks {
			if applies == nil {
				continue
			}
			if why := applies(rs); why != "" {
				return why
			}
		}
		return ""
	}
}

func dpopOnly(rs *target.ResourceServer) string {
	if !rs.DPoP {
		return "the target does not declare this server dpop"
	}
	return ""
}
