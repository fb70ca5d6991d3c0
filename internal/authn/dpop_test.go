package authn_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// memoryGuard is a ReplayGuard in memory, for tests.
type memoryGuard struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (g *memoryGuard) Use(_ context.Context, jti string, _ time.Time) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[string]bool{}
	}
	first := !g.seen[jti]
	g.seen[jti] = true
	return first, nil
}

const resourceURL = "https://logging.example/v1/logs"

// dpopKey is a caller's proof key and its thumbprint.
type dpopKey struct {
	signer crypto.Signer
	alg    string
	jkt    string
}

func newDPoPKey(tb testing.TB) dpopKey {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(tb, err)
	jkt, err := jwk.Thumbprint(priv.Public())
	require.NoError(tb, err)
	return dpopKey{signer: priv, alg: "EdDSA", jkt: jkt}
}

func (k dpopKey) header(tb testing.TB) map[string]any {
	tb.Helper()
	data, err := json.Marshal(jwk.Key{Algorithm: k.alg, Public: k.signer.Public()})
	require.NoError(tb, err)
	var m map[string]any
	require.NoError(tb, json.Unmarshal(data, &m))
	return map[string]any{"typ": "dpop+jwt", "alg": k.alg, "jwk": m}
}

func proofClaims(token string) map[string]any {
	sum := sha256.Sum256([]byte(token))
	return map[string]any{"jti": "proof-1", "htm": "POST", "htu": resourceURL, "iat": testNow.Unix(),
		"ath": base64.RawURLEncoding.EncodeToString(sum[:])}
}

func TestVerifier_VerifyDPoP(t *testing.T) {
	f := newFixture(t)
	key := newDPoPKey(t)
	token := f.token(t, validHeader(), with(validClaims(), "cnf", map[string]any{"jkt": key.jkt}))
	claims, err := f.v.Verify(context.Background(), token)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	other := newDPoPKey(t)
	reqURL, _ := url.Parse(resourceURL + "?page=2")

	tests := []struct {
		name    string
		header  func() map[string]any
		claims  func() map[string]any
		signer  crypto.Signer
		alg     string
		wantErr error
	}{
		{"OK", nil, nil, nil, "", nil},
		{"OK/HostCaseAndDefaultPort", nil, func() map[string]any {
			return with(proofClaims(token), "htu", "https://LOGGING.example:443/v1/logs")
		}, nil, "", nil},
		{"ErrType", func() map[string]any { return with(key.header(t), "typ", "jwt") }, nil, nil, "", authn.ErrDPoPProof},
		{"ErrAlgNone", func() map[string]any { return with(key.header(t), "alg", "none") }, nil, nil, "", authn.ErrDPoPProof},
		{"ErrHS256", func() map[string]any { return with(key.header(t), "alg", "HS256") }, nil, nil, "HS256", authn.ErrDPoPProof},
		{"ErrNoJWK", func() map[string]any { return without(key.header(t), "jwk") }, nil, nil, "", authn.ErrDPoPProof},
		{"ErrPrivateKeyInJWK", func() map[string]any {
			h := key.header(t)
			h["jwk"].(map[string]any)["d"] = base64.RawURLEncoding.EncodeToString(key.signer.(ed25519.PrivateKey).Seed())
			return h
		}, nil, nil, "", authn.ErrDPoPProof},
		{"ErrAlgNotTheKeys", func() map[string]any { return with(key.header(t), "alg", "ES256") }, nil, ecKey, "ES256", authn.ErrDPoPProof},
		{"ErrSignedByAnotherKey", nil, nil, other.signer, "", authn.ErrDPoPProof},
		{"ErrOtherKeyThanCnf", func() map[string]any { return other.header(t) }, nil, other.signer, "", authn.ErrDPoPBinding},
		{"ErrHTM", nil, func() map[string]any { return with(proofClaims(token), "htm", "GET") }, nil, "", authn.ErrDPoPProof},
		{"ErrHTUPath", nil, func() map[string]any { return with(proofClaims(token), "htu", "https://logging.example/v1/other") }, nil, "", authn.ErrDPoPProof},
		{"ErrHTUHost", nil, func() map[string]any { return with(proofClaims(token), "htu", "https://evil.example/v1/logs") }, nil, "", authn.ErrDPoPProof},
		{"ErrStaleIAT", nil, func() map[string]any { return with(proofClaims(token), "iat", testNow.Add(-2*time.Minute).Unix()) }, nil, "", authn.ErrDPoPProof},
		{"ErrFutureIAT", nil, func() map[string]any { return with(proofClaims(token), "iat", testNow.Add(time.Minute).Unix()) }, nil, "", authn.ErrDPoPProof},
		{"ErrNoATH", nil, func() map[string]any { return without(proofClaims(token), "ath") }, nil, "", authn.ErrDPoPProof},
		{"ErrWrongATH", nil, func() map[string]any { return with(proofClaims(token), "ath", "AAAA") }, nil, "", authn.ErrDPoPProof},
		{"ErrNoJTI", nil, func() map[string]any { return without(proofClaims(token), "jti") }, nil, "", authn.ErrDPoPProof},
		{"ErrCrit", func() map[string]any { return with(key.header(t), "crit", []string{"x"}) }, nil, nil, "", authn.ErrDPoPProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, c, signer, alg := key.header(t), proofClaims(token), key.signer, key.alg
			if tt.header != nil {
				h = tt.header()
			}
			if tt.claims != nil {
				c = tt.claims()
			}
			if _, ok := c["jti"]; ok {
				c["jti"] = "proof-" + tt.name // each case its own proof
			}
			if tt.signer != nil {
				signer = tt.signer
			}
			if tt.alg != "" {
				alg = tt.alg
			}
			var proof string
			if alg == "HS256" { // a shared secret anyone could know
				input := seg(t, h) + "." + seg(t, c)
				sig, err := jwt.SigningMethodHS256.Sign(input, []byte("secret"))
				require.NoError(t, err)
				proof = input + "." + base64.RawURLEncoding.EncodeToString(sig)
			} else {
				proof = sign(t, signer, alg, seg(t, h), seg(t, c))
			}
			err := f.v.VerifyDPoP(context.Background(), claims, authn.DPoPRequest{Proof: proof, Method: "POST", URL: reqURL, AccessToken: token}, &memoryGuard{})
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
		})
	}

	t.Run("ErrReplayedProof", func(t *testing.T) {
		guard := &memoryGuard{}
		proof := sign(t, key.signer, key.alg, seg(t, key.header(t)), seg(t, proofClaims(token)))
		req := authn.DPoPRequest{Proof: proof, Method: "POST", URL: reqURL, AccessToken: token}
		require.NoError(t, f.v.VerifyDPoP(context.Background(), claims, req, guard))
		require.ErrorIs(t, f.v.VerifyDPoP(context.Background(), claims, req, guard), authn.ErrDPoPReplayed)
	})
	t.Run("ErrUnboundToken", func(t *testing.T) {
		plain, err := f.v.Verify(context.Background(), f.token(t, validHeader(), validClaims()))
		require.NoError(t, err)
		proof := sign(t, key.signer, key.alg, seg(t, key.header(t)), seg(t, proofClaims(token)))
		err = f.v.VerifyDPoP(context.Background(), plain, authn.DPoPRequest{Proof: proof, Method: "POST", URL: reqURL, AccessToken: token}, &memoryGuard{})
		require.ErrorIs(t, err, authn.ErrDPoPProof)
	})
}

// TestAuthenticate_DPoP: the DPoP scheme with its proof is accepted; the
// same bound token as a bearer token is refused, with a DPoP challenge.
func TestAuthenticate_DPoP(t *testing.T) {
	f := newFixture(t)
	key := newDPoPKey(t)
	token := f.token(t, validHeader(), with(with(validClaims(), "cnf", map[string]any{"jkt": key.jkt}), "scope", "logs:write"))
	h := protected(f, authn.WithDPoP(authn.DPoPConfig{Replay: &memoryGuard{}, BaseURL: &url.URL{Scheme: "https", Host: "logging.example"}}))
	serveWith := func(scheme, proof string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/logs", nil)
		req.Header.Set("Authorization", scheme+" "+token)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	proof := sign(t, key.signer, key.alg, seg(t, key.header(t)), seg(t, proofClaims(token)))
	require.Equal(t, http.StatusNoContent, serveWith("DPoP", proof).Code)

	rec := serveWith("Bearer", "")
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Contains(t, strings.Join(rec.Header().Values("WWW-Authenticate"), "\n"), `DPoP realm="logging-service", algs=`)

	rec = serveWith("DPoP", "")
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Contains(t, rec.Header().Get("WWW-Authenticate"), `error="invalid_dpop_proof"`)

	rec = serveWith("DPoP", proof) // the same proof again
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Contains(t, rec.Header().Get("WWW-Authenticate"), `error_description="DPoP proof already used"`)
}

// BenchmarkVerifyDPoP measures a DPoP request (token and proof, with an
// in-memory replay check) against verifying the token alone, in the same
// run (goal: at most 2.2x):
//
//	go test -run '^$' -bench 'VerifyDPoP' -benchmem ./internal/authn/
func BenchmarkVerifyDPoP(b *testing.B) {
	f := newFixture(b)
	key := newDPoPKey(b)
	token := f.token(b, validHeader(), with(validClaims(), "cnf", map[string]any{"jkt": key.jkt}))
	reqURL, _ := url.Parse(resourceURL)
	b.Run("TokenOnly", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.v.Verify(context.Background(), token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("TokenAndProof", func(b *testing.B) {
		guard := &memoryGuard{}
		hdr := seg(b, key.header(b))
		claims := proofClaims(token)
		i := 0
		for b.Loop() {
			b.StopTimer()
			claims["jti"] = "proof-" + strconv.Itoa(i)
			i++
			proof := sign(b, key.signer, key.alg, hdr, seg(b, claims))
			b.StartTimer()
			c, err := f.v.Verify(context.Background(), token)
			if err == nil {
				err = f.v.VerifyDPoP(context.Background(), c, authn.DPoPRequest{Proof: proof, Method: "POST", URL: reqURL, AccessToken: token}, guard)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestAuthenticate_DPoPRequired: where DPoP is required, an unbound bearer
// token is refused too, with a DPoP challenge.
func TestAuthenticate_DPoPRequired(t *testing.T) {
	f := newFixture(t)
	h := protected(f, authn.WithDPoP(authn.DPoPConfig{Replay: &memoryGuard{}, Required: true, BaseURL: &url.URL{Scheme: "https", Host: "logging.example"}}))
	rec := serve(h, "Bearer "+f.token(t, validHeader(), with(validClaims(), "scope", "logs:write")))
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Contains(t, strings.Join(rec.Header().Values("WWW-Authenticate"), "\n"), `error_description="this service accepts DPoP-bound tokens only"`)
	require.Contains(t, strings.Join(rec.Header().Values("WWW-Authenticate"), "\n"), "DPoP ")

	rec = serve(h)
	require.Equal(t, http.StatusUnauthorized, rec.Code, "no credentials")
	require.Equal(t, []string{`DPoP realm="logging-service", algs="EdDSA ES256 RS256"`}, rec.Header().Values("WWW-Authenticate"),
		"where DPoP is required, the challenge names DPoP and its algorithms, not Bearer")
}

// TestAuthenticate_NoCredentialsWhereDPoPIsOptional: both schemes are
// offered, Bearer first.
func TestAuthenticate_NoCredentialsWhereDPoPIsOptional(t *testing.T) {
	f := newFixture(t)
	h := protected(f, authn.WithDPoP(authn.DPoPConfig{Replay: &memoryGuard{}, BaseURL: &url.URL{Scheme: "https", Host: "logging.example"}}))
	rec := serve(h)
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Equal(t, []string{`Bearer realm="logging-service", error_description="bearer token required"`, `DPoP realm="logging-service", algs="EdDSA ES256 RS256"`},
		rec.Header().Values("WWW-Authenticate"))
}
