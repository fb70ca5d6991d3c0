// Package conformance is a black-box test suite for service-to-service JWT
// authentication. It fires attack tokens at resource servers over HTTP and
// reports, case by case, what they accepted that they should have refused.
//
// Every attack token is valid in every respect but the one the case is
// about: the suite runs its own test issuer (its keys, its JWKS over HTTP),
// which the servers under test are configured to trust, so an expired token
// is correctly signed for the right issuer and audience, and a refusal can
// only be for the reason under test. Positive controls prove it: a server
// that refuses everything fails the suite.
//
// The suite imports nothing from the services it tests; it speaks HTTP only.
// It is built in layers the compiler keeps apart: the target file as data
// (conformance/target), what a case is written with (internal/attack), the
// catalogue (internal/cases), and this package, which runs the catalogue
// phase by phase, naming no case, and writes the reports (ExampleSuite_Run).
//
//	t, err := target.Load("target.json") // package conformance/target
//	suite, err := conformance.New(t, conformance.Options{})
//	report, err := suite.Run(ctx)
//	report.WriteText(os.Stdout)
package conformance
