package conformance_test

import (
	"context"
	"encoding/json"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/federation"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
)

// Resource servers built with libraries this project did not write, as
// their documentation shows, each run against the suite under every
// algorithm its profile allows. The suite must accept their valid tokens
// and report exactly the weaknesses listed, each of them true of the
// library or of the documented usage.

// TestLibraries_GoSPIFFE is go-spiffe v2's examples/spiffe-jwt server:
// jwtsvid.ParseAndValidate against the trust domain's bundle, here fetched
// from the test issuer's bundle endpoint with federation.WatchBundle
// instead of a SPIRE agent's Workload API.
func TestLibraries_GoSPIFFE(t *testing.T) {
	t.Parallel()
	ln, issuerURL := issuerListener(t)
	td := spiffeid.RequireTrustDomainFromString("example.org")
	watcher := bundleWatcher{set: spiffebundle.NewSet(), ready: make(chan struct{}), once: &sync.Once{}}
	bundles := watcher.set
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = federation.WatchBundle(ctx, td, issuerURL+testissuer.BundlePath, watcher) }()

	audience := "spiffe://example.org/reports"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// The example serves once its JWTSource has a bundle; the issuer
		// here starts with the suite's run, so the first request waits.
		select {
		case <-watcher.ready:
		case <-time.After(10 * time.Second):
		}
		// The example's authenticateClient, verbatim but for its logging.
		fields := strings.Fields(req.Header.Get("Authorization"))
		if len(fields) != 2 || fields[0] != "Bearer" {
			http.Error(w, "Invalid or unsupported authorization header", http.StatusUnauthorized)
			return
		}
		if _, err := jwtsvid.ParseAndValidate(fields[1], bundles, []string{audience}); err != nil {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("Success!!!"))
	}))
	t.Cleanup(srv.Close)

	rs := target.ResourceServer{Name: "go-spiffe", URL: srv.URL, Method: http.MethodGet, Path: "/", Audience: audience,
		Token: target.Token{Profile: target.ProfileJWTSVID, TrustDomain: "example.org"}}
	byAlg := runLibrary(t, ln, issuerURL, rs)
	require.Equal(t, []string{"ES256", "PS256", "RS256"}, sortedKeys(byAlg), "the positive control must pass under each JWT-SVID algorithm")
	for alg, failed := range byAlg {
		require.ElementsMatch(t, []string{
			"CTRL-08", // the example compares the scheme with "Bearer" exactly; RFC 9110 §11.1 makes it case-insensitive
			"KEY-10",  // go-jose ignores key_ops, so a key published for encryption only verifies tokens
			"TIME-10", // nothing bounds exp: a JWT-SVID valid for ten years is accepted
			"SVID-01", // spiffeid.FromString accepts the bare trust domain as a subject
			"SVID-12", // several audiences are accepted (the standard strongly advises one)
			"SVID-13", // header parameters beyond alg, kid and typ are not refused
			"FMT-02",  // no bound on the token's size before parsing
			"FMT-08",  // a request without a token gets 401 with no WWW-Authenticate challenge
			"FMT-14",  // no refusal carries a Bearer challenge
			"FMT-16",  // Header.Get reads the first of two Authorization headers
		}, failed, "%s", alg)
	}
}

// bundleWatcher keeps the latest bundle of the trust domain in a set,
// refreshing as the bundle's refresh hint says; ready closes on the first.
type bundleWatcher struct {
	set   *spiffebundle.Set
	ready chan struct{}
	once  *sync.Once
}

func (w bundleWatcher) NextRefresh(hint time.Duration) time.Duration {
	if hint <= 0 || hint > 5*time.Second {
		return 5 * time.Second
	}
	return hint
}
func (w bundleWatcher) OnUpdate(b *spiffebundle.Bundle) {
	w.set.Add(b)
	w.once.Do(func() { close(w.ready) })
}
func (w bundleWatcher) OnError(err error) { log.Printf("bundle: %v", err) }

// TestLibraries_KubernetesServiceAccount is a resource server that takes
// Kubernetes service-account tokens the way the Kubernetes docs describe
// for callers outside the cluster (service account issuer discovery):
// go-oidc finds the keys from the issuer's discovery document, verifies
// the token for its own audience, and the server admits one service
// account.
func TestLibraries_KubernetesServiceAccount(t *testing.T) {
	t.Parallel()
	ln, issuerURL := issuerListener(t)
	const audience, allowed = "ledger-api", "system:serviceaccount:payments:ledger"
	srv := oidcServer(t, issuerURL, audience, func(sub string) bool { return sub == allowed })

	rs := target.ResourceServer{Name: "service-account", URL: srv.URL, Method: http.MethodGet, Path: "/", Audience: audience,
		Token: target.Token{Profile: target.ProfileKubernetes, Namespace: "payments", ServiceAccount: "ledger", OnlySubject: true}}
	byAlg := runLibrary(t, ln, issuerURL, rs)
	require.Equal(t, []string{"ES256", "RS256"}, sortedKeys(byAlg), "the positive control must pass under each algorithm Kubernetes signs with")
	for alg, failed := range byAlg {
		require.ElementsMatch(t, []string{
			"CTRL-08", // the scheme is matched as "Bearer " exactly
			"TIME-04", // go-oidc reads exp into a json.Number, which takes "9999999999" as well as 9999999999
			"TIME-06", // go-oidc does not check iat: a token issued in the future is accepted
			"TIME-12", // nor an iat in the future written as a string
			"TIME-08", // go-oidc allows nbf five minutes ahead
			"TIME-10", // nothing bounds exp
			"KEY-06",  // without a kid, go-oidc tries every key of the set
			"KEY-08",  // its RemoteKeySet refetches the JWKS for every unknown kid
			"KEY-09",  // go-jose ignores use: a key published for encryption verifies tokens
			"KEY-10",  // and key_ops
			"FMT-02",  // no bound on the token's size
			"FMT-06",  // go-jose's ParseSigned takes the JWS JSON serialization too
			"FMT-16",  // Header.Get reads the first of two Authorization headers
		}, failed, "%s", alg)
	}

	// The server keeps running; a second run, its issuer restarted at the
	// same address, gives the same verdicts.
	ln, err := net.Listen("tcp", strings.TrimPrefix(issuerURL, "http://"))
	require.NoError(t, err)
	require.Equal(t, byAlg, runLibrary(t, ln, issuerURL, rs), "the same verdicts run after run")
}

// TestLibraries_GoOIDCChecksNoScope: go-oidc's verifier used for access
// tokens, as many services do, checks no scope. Run twice, with the target
// naming no scope and then the scope the server would need, the verdicts
// differ in the scope cases alone: the ones that withhold the scope fail,
// the control passes, nothing else moves.
func TestLibraries_GoOIDCChecksNoScope(t *testing.T) {
	t.Parallel()
	verdicts := map[string]map[string]conformance.Status{}
	for _, scope := range []string{"", "ledger:write"} {
		ln, issuerURL := issuerListener(t)
		srv := oidcServer(t, issuerURL, "ledger-api", func(string) bool { return true })
		tgt := &target.Target{TestIssuer: &target.TestIssuerConfig{URL: issuerURL, Algorithm: "ES256"},
			ResourceServers: []target.ResourceServer{{Name: "ledger", URL: srv.URL, Method: http.MethodGet, Path: "/", Audience: "ledger-api", Scope: scope}}}
		suite, err := conformance.New(tgt, conformance.Options{IssuerListener: ln, KeysDir: keysDir, Skip: []string{"KEY-11", "TIME-08"}})
		require.NoError(t, err)
		report, err := suite.Run(context.Background())
		require.NoError(t, err)
		verdicts[scope] = map[string]conformance.Status{}
		for _, r := range report.Results {
			verdicts[scope][r.ID] = r.Status
		}
	}
	changed := map[string]conformance.Status{}
	for id, without := range verdicts[""] {
		if with := verdicts["ledger:write"][id]; with != without {
			changed[id] = with
		}
	}
	require.Equal(t, map[string]conformance.Status{
		"SCOPE-01": conformance.Pass, // accepted, as it must be
		"SCOPE-02": conformance.Fail, "SCOPE-03": conformance.Fail, "SCOPE-04": conformance.Fail,
		"SCOPE-05": conformance.Fail, "SCOPE-06": conformance.Fail,
	}, changed)
}

// oidcServer is a resource server verifying tokens with go-oidc, the keys
// found by discovery at issuerURL, for audience; admit judges the subject.
func oidcServer(t *testing.T, issuerURL, audience string, admit func(sub string) bool) *httptest.Server {
	t.Helper()
	var (
		mu       sync.Mutex
		verifier *oidc.IDTokenVerifier
	)
	// Discovery waits for the issuer, which the suite starts; so the
	// provider is made on first use, as a server started first would retry.
	verify := func(ctx context.Context, raw string) (*oidc.IDToken, error) {
		mu.Lock()
		defer mu.Unlock()
		if verifier == nil {
			provider, err := oidc.NewProvider(context.Background(), issuerURL)
			if err != nil {
				return nil, err
			}
			verifier = provider.Verifier(&oidc.Config{ClientID: audience})
		}
		return verifier.Verify(ctx, raw)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		raw, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ledger"`)
			http.Error(w, "no bearer token", http.StatusUnauthorized)
			return
		}
		tok, err := verify(req.Context(), raw)
		if err != nil || !admit(tok.Subject) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"caller": tok.Subject})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func issuerListener(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln, "http://" + ln.Addr().String()
}

// runLibrary runs the whole catalogue against rs under every algorithm
// it accepts and returns the failed case ids by algorithm.
func runLibrary(t *testing.T, ln net.Listener, issuerURL string, rs target.ResourceServer) map[string][]string {
	t.Helper()
	tgt := &target.Target{MaxKeyDelay: "20s", TestIssuer: &target.TestIssuerConfig{URL: issuerURL, Algorithm: target.AlgAll},
		ResourceServers: []target.ResourceServer{rs}}
	suite, err := conformance.New(tgt, conformance.Options{IssuerListener: ln, KeysDir: keysDir})
	require.NoError(t, err)
	report, err := suite.Run(context.Background())
	require.NoError(t, err, "the run must not stop (exit 2)")
	byAlg := map[string][]string{}
	for _, r := range report.Results {
		if _, ok := byAlg[r.Algorithm]; !ok {
			byAlg[r.Algorithm] = []string{}
		}
		if r.Status == conformance.Fail {
			byAlg[r.Algorithm] = append(byAlg[r.Algorithm], r.ID)
		}
	}
	t.Logf("%s", text(report))
	return byAlg
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
