package conformance_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/conformance/internal/vulnerable"
	"github.com/s2sjwt/s2sjwt/conformance/target"
)

// The suite's Go API: a target (here built in code; target.Load reads a
// file), a suite prepared from it, and a run. The server under test
// matches aud by prefix, so it takes logging-service.evil.example for
// logging-service.
func ExampleSuite_Run() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0") // where the suite's test issuer will serve
	issuer := "http://" + ln.Addr().String()
	server := httptest.NewServer(vulnerable.New(vulnerable.Config{Issuer: issuer, JWKSURL: issuer + "/jwks.json",
		Audience: "logging-service", Flaw: vulnerable.AudiencePrefix}))
	defer server.Close()
	keys, _ := os.MkdirTemp("", "conformance-keys")
	defer os.RemoveAll(keys)

	tgt := &target.Target{
		TestIssuer: &target.TestIssuerConfig{URL: issuer},
		ResourceServers: []target.ResourceServer{{Name: "their-logging", URL: server.URL, Method: http.MethodGet,
			Path: "/", Audience: "logging-service"}},
	}
	suite, err := conformance.New(tgt, conformance.Options{IssuerListener: ln, KeysDir: keys, Only: []string{"AUD-05", "AUD-06"}})
	if err != nil {
		panic(err)
	}
	report, err := suite.Run(context.Background())
	if err != nil {
		panic(err)
	}
	for _, r := range report.Results {
		fmt.Println(r.ID, r.Status)
	}
	fmt.Println("failed:", report.Failed())
	// Output:
	// CTRL-01 PASS
	// AUD-05 PASS
	// AUD-06 FAIL
	// failed: true
}
