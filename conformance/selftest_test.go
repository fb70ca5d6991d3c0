package conformance_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/conformance/internal/vulnerable"
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// keysDir holds the test issuer's keys for every test in the package:
// made once, as a user's keys directory is.
var keysDir string

func TestMain(m *testing.M) {
	if addr := os.Getenv("VULNERABLE_SERVE_ADDR"); addr != "" {
		serveVulnerable(addr) // this binary, re-run as a target's process
		return
	}
	dir, err := os.MkdirTemp("", "conformance-keys-")
	if err != nil {
		panic(err)
	}
	keysDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runAgainst runs the whole catalogue against one vulnerable server with
// flaw and returns the ids of the failed cases.
func runAgainst(t *testing.T, flaw vulnerable.Flaw, alg string, only ...string) (failed []string, report *conformance.Report) {
	t.Helper()
	return runAgainstProfile(t, flaw, alg, target.Token{}, only...)
}

// withDPoPNonce marks the flaws whose server demands its own DPoP nonces.
var withDPoPNonce = map[vulnerable.Flaw]bool{vulnerable.DPoPNonceAnyValue: true}

// runAgainstProfile is runAgainst with a server that verifies tokens of
// profile p, and a target that says so.
func runAgainstProfile(t *testing.T, flaw vulnerable.Flaw, alg string, p target.Token, only ...string) (failed []string, report *conformance.Report) {
	t.Helper()
	return runAgainstServer(t, serverOpts{flaw: flaw, token: p, nonce: withDPoPNonce[flaw]}, alg, only...)
}

// serverOpts say which vulnerable server a self-test runs against.
type serverOpts struct {
	flaw  vulnerable.Flaw
	token target.Token // its token profile
	nonce bool         // it demands DPoP nonces
	// algorithms it accepts; the vulnerable server's default if empty.
	algorithms []string
}

func runAgainstServer(t *testing.T, o serverOpts, alg string, only ...string) (failed []string, report *conformance.Report) {
	t.Helper()
	flaw, p := o.flaw, o.token
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	issuerURL := "http://" + ln.Addr().String()
	// Single-use, except where the flaw is in proof replay: a token's own
	// replay would hide it (DPOP-09 is not applicable on single-use servers).
	singleUse := flaw != vulnerable.DPoPNoProofReplayCheck && flaw != vulnerable.WPTNoReplayCheck
	cfg := vulnerable.Config{
		Issuer: issuerURL, JWKSURL: issuerURL + testissuer.JWKSPath, Audience: "vulnerable-service",
		Scope: "write", SingleUse: singleUse, Flaw: flaw, RefreshInterval: time.Second, DPoP: true,
		Profile: p.Profile, TrustDomain: p.TrustDomain, Namespace: p.Namespace, ServiceAccount: p.ServiceAccount, OnlySubject: p.OnlySubject,
		DPoPNonce: o.nonce, Algorithms: o.algorithms, Actors: []string{"vulnerable-actor"}, MaxActorChain: 3, StatusLists: true,
		WIMSE: cmp.Or(p.TrustDomain, "vulnerable.test"),
	}
	if p.Profile == target.ProfileJWTSVID {
		cfg.JWKSURL = issuerURL + testissuer.BundlePath
	}
	handler := vulnerable.New(cfg)
	srv := quietServer(handler)
	t.Cleanup(srv.Close)
	// A replica: the same server (one memory), or for that flaw a second one.
	replicaHandler := handler
	if flaw == vulnerable.ReplicaMemoryNotShared {
		replicaHandler = vulnerable.New(cfg)
	}
	replica := quietServer(replicaHandler)
	t.Cleanup(replica.Close)
	tgt := &target.Target{
		MaxKeyDelay: "10s", // the server refetches every second; room for a loaded CI machine
		TestIssuer:  &target.TestIssuerConfig{URL: issuerURL, Algorithm: alg},
		ResourceServers: []target.ResourceServer{{
			Name: "vulnerable", URL: srv.URL, Method: http.MethodPost, Path: "/", Body: json.RawMessage(`{}`),
			Audience: "vulnerable-service", Scope: "write", SingleUse: singleUse, Replicas: []string{replica.URL}, DPoP: true, Token: p,
			DPoPNonce: cfg.DPoPNonce, Delegation: &target.Delegation{Actors: []string{"vulnerable-actor"}, MaxChain: 3},
			StatusLists: &target.StatusLists{MaxStale: "5s"}, WIMSE: &target.WIMSE{TrustDomain: cfg.WIMSE},
		}},
	}
	suite, err := conformance.New(tgt, conformance.Options{IssuerListener: ln, KeysDir: keysDir, Only: only})
	require.NoError(t, err)
	report, err = suite.Run(context.Background())
	require.NoError(t, err)
	return failedIDs(report), report
}

// TestSuite_PassesCorrectServer: no false alarm against a correct server,
// with each signing algorithm.
func TestSuite_PassesCorrectServer(t *testing.T) {
	for _, alg := range []string{"EdDSA", "ES256", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			failed, report := runAgainst(t, vulnerable.Correct, alg)
			require.Empty(t, failed, "false alarms:\n%s", text(report))
			require.Zero(t, report.Counts[conformance.Skip], text(report))
		})
	}
}

// TestSuite_CatchesEveryFlaw: each deliberately broken server fails at
// least the cases built for its flaw.
func TestSuite_CatchesEveryFlaw(t *testing.T) {
	for _, flaw := range sortedFlaws(vulnerable.Catches) {
		f := string(flaw)
		if flaw == vulnerable.ForgetsOnRestart {
			continue // needs a process to restart: TestSuite_ReplayMemoryAcrossRestart
		}
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			// Only the flaw's own cases (and the controls): the correct
			// server runs the whole catalogue above, and the 2-core
			// machine runs two variants at a time.
			only := vulnerable.Catches[flaw]
			if slices.Contains(only, "FMT-14") {
				only = append(slices.Clone(only), "M-03", "FMT-08") // FMT-14 judges other cases' refusals
			}
			failed, report := runAgainst(t, flaw, "ES256", only...)
			for _, id := range vulnerable.Catches[flaw] {
				require.True(t, slices.Contains(failed, id), "flaw %q: case %s passed; failed were %v\n%s", flaw, id, failed, text(report))
			}
		})
	}
}

// TestSuite_EveryAttackIsProvenByAFlaw: no case exists that no broken
// server can make fail (a case that cannot fail proves nothing).
func TestSuite_EveryAttackCaseIsExercised(t *testing.T) {
	caught := map[string]bool{}
	for _, ids := range vulnerable.Catches {
		for _, id := range ids {
			caught[id] = true
		}
	}
	for _, ids := range vulnerable.IdentityCatches {
		for _, id := range ids {
			caught[id] = true
		}
	}
	for _, ids := range vulnerable.ProfileCatches {
		for _, id := range ids {
			caught[id] = true
		}
	}
	var missing []string
	for _, c := range conformance.Catalogue() {
		if (c.Expect == conformance.Refuse || c.Category == "issuer profile") && !caught[c.ID] {
			missing = append(missing, c.ID)
		}
	}
	require.Equal(t, unexercised, missing, "a new attack case needs a vulnerable.Flaw that it catches, or an entry here with a reason")
}

// unexercised are attack cases with no broken variant, each because the
// flaw cannot be built on Go's stack without rewriting it (docs/conformance.md):
// type-confused claims and alg/key mismatches that golang-jwt and encoding/json
// refuse anyway, b64:false, and transport-level shapes (dots, bad base64,
// polyglots, empty or absent credentials, JWE, non-JSON payloads) that any
// parser refuses. They stay in the catalogue: other stacks do get them wrong.
var unexercised = []string{"AUD-09", "ISS-04", "SIG-11", "HDR-04", "SUB-03",
	"FMT-01", "FMT-03", "FMT-09", "FMT-11", "FMT-12"}

func text(r *conformance.Report) string {
	var b fmt.Stringer = &textReport{r}
	return b.String()
}

type textReport struct{ r *conformance.Report }

func (t *textReport) String() string {
	var buf stringsBuilder
	_ = t.r.WriteText(&buf)
	return buf.String()
}

type stringsBuilder struct{ b []byte }

func (s *stringsBuilder) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }
func (s *stringsBuilder) String() string              { return string(s.b) }

// runAgainstIdentity runs the issuer profile against one vulnerable
// identity service with flaw and returns the ids of the failed cases.
func runAgainstIdentity(t *testing.T, flaw vulnerable.IdentityFlaw) (failed []string, report *conformance.Report) {
	t.Helper()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	h = vulnerable.NewIdentity(vulnerable.IdentityConfig{Issuer: srv.URL, Flaw: flaw, Audiences: []string{"logging-service", "notification-service"},
		Clients:    map[string]string{"suite": "suite-secret", "careergpt-backend": "other-secret", "actor": "actor-secret"},
		Exchange:   &vulnerable.ExchangeConfig{Actor: "actor", Subject: "suite", Received: "notification-service", Audience: "logging-service", Scopes: []string{"write"}},
		StatusList: true})
	tgt := &target.Target{MaxLeeway: "1s", Identity: &target.Identity{URL: srv.URL, Issuer: srv.URL, ClientID: "suite",
		ClientSecret: "suite-secret", OtherSubject: "careergpt-backend", ForbiddenAudience: "billing-service",
		Exchange: &target.Exchange{ActorID: "actor", ActorSecret: "actor-secret", Received: "notification-service", Audience: "logging-service",
			Scope: "write", WiderScope: "admin"},
		Revoke: &target.Revoke{Path: "/admin/revoke", User: "admin", Secret: vulnerable.AdminSecret}}}
	opts := conformance.Options{KeysDir: keysDir}
	if flaw != vulnerable.CorrectIdentity && flaw != vulnerable.ExchangesExpired {
		opts.Skip = []string{"XCH-03"} // it waits out a token's expiry: run where it judges
	}
	suite, err := conformance.New(tgt, opts)
	require.NoError(t, err)
	report, err = suite.Run(context.Background())
	require.NoError(t, err)
	return failedIDs(report), report
}

// TestSuite_IssuerProfile: the correct identity service raises no alarm,
// and each broken one fails exactly the cases built for its flaw.
func TestSuite_IssuerProfile(t *testing.T) {
	t.Run("Correct", func(t *testing.T) {
		failed, report := runAgainstIdentity(t, vulnerable.CorrectIdentity)
		require.Empty(t, failed, text(report))
	})
	for flaw, want := range vulnerable.IdentityCatches {
		t.Run(string(flaw), func(t *testing.T) {
			failed, report := runAgainstIdentity(t, flaw)
			require.ElementsMatch(t, want, failed, text(report))
		})
	}
}

// serveVulnerable serves a vulnerable server configured from the
// environment until SIGTERM.
func serveVulnerable(addr string) {
	h := vulnerable.New(vulnerable.Config{Issuer: os.Getenv("VULNERABLE_ISSUER"), JWKSURL: os.Getenv("VULNERABLE_ISSUER") + "/jwks.json",
		Audience: "vulnerable-service", SingleUse: true, Flaw: vulnerable.Flaw(os.Getenv("VULNERABLE_FLAW")),
		UsedFile: os.Getenv("VULNERABLE_USED_FILE"), RefreshInterval: time.Second})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic(err)
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
		ln.Close()
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})
	mux.Handle("/", h)
	_ = http.Serve(ln, mux)
}

// TestSuite_ReplayMemoryAcrossRestart: the suite restarts the process
// serving a single-use server between a token's use and its replay; a
// server that keeps used jtis only in memory fails RPL-04, one that keeps
// them on disk passes.
func TestSuite_ReplayMemoryAcrossRestart(t *testing.T) {
	for flaw, want := range map[vulnerable.Flaw]conformance.Status{vulnerable.Correct: conformance.Pass, vulnerable.ForgetsOnRestart: conformance.Fail} {
		t.Run(string(flaw)+"/"+string(want), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			issuerURL := "http://" + ln.Addr().String()
			addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePorts(t, 1)[0])
			tgt := &target.Target{
				TestIssuer: &target.TestIssuerConfig{URL: issuerURL},
				ResourceServers: []target.ResourceServer{{Name: "vulnerable", URL: "http://" + addr, Method: http.MethodGet, Path: "/",
					Audience: "vulnerable-service", SingleUse: true, Process: "vulnerable"}},
				Processes: []target.Process{{Name: "vulnerable", Command: []string{os.Args[0]}, Health: "http://" + addr + "/healthz",
					Env: map[string]string{"VULNERABLE_SERVE_ADDR": addr, "VULNERABLE_ISSUER": issuerURL, "VULNERABLE_FLAW": string(flaw),
						"VULNERABLE_USED_FILE": "${WORKDIR}/used"}}},
			}
			suite, err := conformance.New(tgt, conformance.Options{IssuerListener: ln, KeysDir: keysDir, Only: []string{"RPL-04"}})
			require.NoError(t, err)
			report, err := suite.Run(context.Background())
			require.NoError(t, err)
			for _, r := range report.Results {
				if r.ID == "RPL-04" {
					require.Equal(t, want, r.Status, text(report))
					return
				}
			}
			t.Fatal("RPL-04 did not run")
		})
	}
}

// sortedFlaws are the flaws of catches in a stable order, for subtests.
func sortedFlaws(catches map[vulnerable.Flaw][]string) []vulnerable.Flaw {
	return slices.Sorted(maps.Keys(catches))
}

func failedIDs(report *conformance.Report) (failed []string) {
	for _, r := range report.Results {
		if r.Status == conformance.Fail {
			failed = append(failed, r.ID)
		}
	}
	return failed
}

// TestSuite_LeewayWithinMaxLeeway: a server whose leeway is the largest the
// target allows (60 s, go-jose's default) passes both TIME-02 and TIME-08,
// which measures it; TIME-02 once sent a token 45 s past exp and failed it.
func TestSuite_LeewayWithinMaxLeeway(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	issuerURL := "http://" + ln.Addr().String()
	srv := httptest.NewServer(vulnerable.New(vulnerable.Config{Issuer: issuerURL, JWKSURL: issuerURL + "/jwks.json",
		Audience: "vulnerable-service", Leeway: 60 * time.Second}))
	t.Cleanup(srv.Close)
	tgt := &target.Target{MaxLeeway: "60s", TestIssuer: &target.TestIssuerConfig{URL: issuerURL},
		ResourceServers: []target.ResourceServer{{Name: "vulnerable", URL: srv.URL, Method: http.MethodGet, Path: "/", Audience: "vulnerable-service"}}}
	suite, err := conformance.New(tgt, conformance.Options{IssuerListener: ln, KeysDir: keysDir, Only: []string{"TIME-02", "TIME-08"}})
	require.NoError(t, err)
	report, err := suite.Run(context.Background())
	require.NoError(t, err)
	require.Empty(t, failedIDs(report), text(report))
}

// TestSuite_RaceCaughtOnABusyMachine: with every core of this process kept
// busy, RPL-02 catches a check-then-store replay guard in each of ten runs,
// and passes a correct one. (Requests started from goroutines once missed
// the 20-ms window with both cores loaded; held requests do not.)
func TestSuite_RaceCaughtOnABusyMachine(t *testing.T) {
	var stop atomic.Bool
	defer stop.Store(true)
	for range runtime.NumCPU() {
		go func() {
			for spins := 0; !stop.Load(); spins++ { // a core kept busy
			}
		}()
	}
	for run := range 10 {
		failed, report := runAgainst(t, vulnerable.RacyReplay, "ES256", "RPL-02")
		require.Contains(t, failed, "RPL-02", "run %d:\n%s", run+1, text(report))
	}
	failed, report := runAgainst(t, vulnerable.Correct, "ES256", "RPL-02")
	require.Empty(t, failed, text(report))
}

// TestSuite_PassesCorrectServerWithDPoPNonce: a correct server that demands
// its own DPoP nonces passes every DPoP case (the suite gets and sends its
// nonce in each proof) and DPOP-20 judges its nonce flow.
func TestSuite_PassesCorrectServerWithDPoPNonce(t *testing.T) {
	var dpop []string
	for _, c := range conformance.Catalogue() {
		if c.Category == "dpop" {
			dpop = append(dpop, c.ID)
		}
	}
	failed, report := runAgainstServer(t, serverOpts{flaw: vulnerable.Correct, nonce: true}, "ES256", dpop...)
	require.Empty(t, failed, text(report))
	for _, r := range report.Results {
		if r.ID == "DPOP-20" {
			require.Equal(t, conformance.Pass, r.Status, r.Reason)
		}
	}
}

// quietServer serves h without logging the panics a variant provokes on
// purpose (RecursesIntoClaims): the report says what happened.
func quietServer(h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	return srv
}
