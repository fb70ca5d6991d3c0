package conformance

import (
	"strings"
)

// Categories, in report order.
var Categories = []string{
	"control", "mission", "audience", "issuer", "time", "signature", "key selection",
	"type and header", "subject", "replay", "dpop", "format and cost", "issuer profile",
}

// Catalogue returns every case, controls first.
func Catalogue() []Case {
	cases := append(controlCases(), missionCases()...)
	cases = append(cases, audienceCases()...)
	cases = append(cases, issuerCases()...)
	cases = append(cases, timeCases()...)
	cases = append(cases, signatureCases()...)
	cases = append(cases, keyCases()...)
	cases = append(cases, headerCases()...)
	cases = append(cases, subjectCases()...)
	cases = append(cases, replayCases()...)
	cases = append(cases, dpopCases()...)
	cases = append(cases, formatCases()...)
	cases = append(cases, rfc6750Case)
	return append(cases, identityCases()...)
}

// finalControlID runs after every attack: the server still works.
const finalControlID = "CTRL-06"

// baseControlID is the control every attack's verdict rests on.
const baseControlID = "CTRL-01"

func skipOrFail(err error) verdict {
	if err == errNeedsTestIssuer || strings.Contains(err.Error(), errNeedsTestIssuer.Error()) {
		return verdict{status: Skip, reason: err.Error()}
	}
	return verdict{Fail, "could not build the case: " + err.Error(), nil}
}
