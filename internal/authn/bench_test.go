package authn_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// BenchmarkVerify compares a full Verify (parse, every claim check, key
// lookup, signature) with the bare signature check of the same token, per
// algorithm. The ratio Verify/RawSignature is the cost of everything the
// verifier adds; the goal is ≤ 1.25.
//
//	go test -run '^$' -bench 'Verify' -benchmem ./internal/authn/
func BenchmarkVerify(b *testing.B) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		alg    string
		signer crypto.Signer
	}{{"EdDSA", ed}, {"ES256", ec}, {"RS256", rs}} {
		keys := authn.NewStaticKeySet(jwk.Key{ID: testKID, Algorithm: tc.alg, Public: tc.signer.Public()})
		v, err := authn.NewVerifier(authn.Config{Issuer: testIssuer, Audience: testAudience, KeySet: keys,
			Now: func() time.Time { return testNow }})
		if err != nil {
			b.Fatal(err)
		}
		token := sign(b, tc.signer, tc.alg, seg(b, with(validHeader(), "alg", tc.alg)), seg(b, validClaims()))
		dot := strings.LastIndex(token, ".")
		input := token[:dot]
		sig, _ := base64.RawURLEncoding.DecodeString(token[dot+1:])
		method := jwt.GetSigningMethod(tc.alg)
		pub := tc.signer.Public()

		b.Run(tc.alg+"/RawSignature", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := method.Verify(input, sig, pub); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.alg+"/Verify", func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				if _, err := v.Verify(ctx, token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify_Rejection shows that refusing a mis-addressed or expired
// token costs no signature work.
func BenchmarkVerify_Rejection(b *testing.B) {
	f := newFixture(b)
	token := f.token(b, validHeader(), with(validClaims(), "aud", "notification-service"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.v.Verify(ctx, token); err == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkAuthenticate_Metrics is the middleware on a valid EdDSA token
// with metrics off and on, in one run: the ratio on/off is what counting
// each decision costs (docs/benchmarks.md).
//
//	go test -run '^$' -bench 'Authenticate_Metrics' -count 6 ./internal/authn/
func BenchmarkAuthenticate_Metrics(b *testing.B) {
	f := newFixture(b)
	token := f.token(b, validHeader(), validClaims())
	for _, on := range []bool{false, true} {
		cfg := authn.Config{Issuer: testIssuer, Audience: testAudience, KeySet: f.keys, Now: func() time.Time { return testNow }}
		name := "off"
		if on {
			cfg.Metrics, name = authn.NewMetrics(prometheus.NewRegistry()), "on"
		}
		v, err := authn.NewVerifier(cfg)
		if err != nil {
			b.Fatal(err)
		}
		h := authn.Authenticate(v)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
	}
}

// BenchmarkVerify_Status is Verify of an EdDSA token with a status list
// entry, its list cached (a million 2-bit entries), against Verify of the
// same token without one, in one run: the ratio is what the status check
// adds (docs/benchmarks.md). It also reports the list's size on the wire
// with 1% of its entries revoked at random.
//
//	go test -run '^$' -bench 'Verify_Status' -count 6 ./internal/authn/
func BenchmarkVerify_Status(b *testing.B) {
	const entries = 1_000_000
	clock := testutil.NewClock(testNow)
	l := newStatusIssuer(b, clock)
	l.entries = make([]byte, entries)
	for range entries / 100 {
		l.entries[mrand.IntN(entries)] = authn.StatusInvalid
	}
	f := newFixture(b)
	lists, err := authn.NewStatusLists(authn.StatusListsConfig{Issuer: l.srv.URL,
		KeySet: authn.NewStaticKeySet(jwk.Key{ID: "list-key", Algorithm: jwk.EdDSA, Public: l.key.Public()}), Now: clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	idx := mrand.IntN(entries)
	for l.entries[idx] != authn.StatusValid {
		idx = mrand.IntN(entries)
	}
	claims := with(with(validClaims(), "iss", l.srv.URL), "jti", randomJTI())
	plain := f.token(b, validHeader(), claims)
	withStatus := f.token(b, validHeader(), with(claims, "status", map[string]any{"status_list": map[string]any{"idx": idx, "uri": l.uri()}}))
	for _, tc := range []struct {
		name   string
		status *authn.StatusLists
		token  string
	}{{"Plain", nil, plain}, {"Status", lists, withStatus}} {
		v, err := authn.NewVerifier(authn.Config{Issuer: l.srv.URL, Audience: testAudience, KeySet: f.keys, Now: clock.Now, Status: tc.status})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if _, err := v.Verify(ctx, tc.token); err != nil { // fetches the list
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tc.token); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(l.token())), "list-bytes")
		})
	}
}

// randomJTI is a jti as Identity issues them: 128 random bits, base64url.
func randomJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// BenchmarkAuthenticate_WIMSE is the middleware on a bearer EdDSA token
// (the baseline) and on the same token with a WIT and a WPT (EdDSA keys),
// in one run; the ratio is what WIMSE adds (goal: no more than DPoP's
// 2.2×). Cached is the usual case, a workload sending the WIT it holds;
// FreshWIT makes every request's WIT new, so its signature is checked
// each time too. Each WPT is made outside the timer, 256 at a time, with a
// random jti.
//
//	go test -run '^$' -bench 'Authenticate_WIMSE' -count 6 ./internal/authn/
func BenchmarkAuthenticate_WIMSE(b *testing.B) {
	f := newFixture(b)
	key := newDPoPKey(b)
	h := authn.Authenticate(f.v, authn.WithWIMSE(authn.WIMSEConfig{Replay: &memoryGuard{}, BaseURL: &url.URL{Scheme: "https", Host: "logging.example"},
		TrustDomain: testTrustDomain}))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	serveOK := func(b *testing.B, req *http.Request) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code, w.Body.String())
		}
	}
	token := f.token(b, validHeader(), with(validClaims(), "jti", randomJTI()))
	b.Run("Bearer", func(b *testing.B) {
		req := httptest.NewRequest(http.MethodPost, "/v1/logs", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		b.ReportAllocs()
		for b.Loop() {
			serveOK(b, req)
		}
	})
	for _, fresh := range []bool{false, true} {
		name := "WITAndWPT/Cached"
		if fresh {
			name = "WITAndWPT/FreshWIT"
		}
		b.Run(name, func(b *testing.B) {
			c := newWorkloadCall(b, f, key)
			c.accessToken, c.wptClaims["ath"] = token, hashOf(token)
			var batch []*http.Request // made 256 at a time, with the timer stopped
			b.ReportAllocs()
			for b.Loop() {
				if len(batch) == 0 {
					b.StopTimer()
					for range 256 {
						c.wptClaims["jti"] = randomJTI()
						if fresh {
							c.witClaims["jti"] = randomJTI()
						}
						batch = append(batch, c.request(b, f))
					}
					b.StartTimer()
				}
				serveOK(b, batch[len(batch)-1])
				batch = batch[:len(batch)-1]
			}
		})
	}
}
