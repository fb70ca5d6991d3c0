package authn_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/authn"
)

const testTrustDomain = "s2sjwt.test"

// workloadCall is one request with WIMSE credentials being built: a WIT
// from the fixture's issuer for key, a WPT signed by key.
type workloadCall struct {
	witHeader, witClaims map[string]any
	wptHeader, wptClaims map[string]any
	key                  dpopKey
	wptSigner            crypto.Signer // nil: key's
	accessToken          string
	noWPT, twoWPTs       bool
}

// newWorkloadCall is a call with an access token, as this project's
// callers make them: the token authorises (scope), WIT and WPT
// authenticate the call.
func newWorkloadCall(tb testing.TB, f *fixture, key dpopKey) *workloadCall {
	tb.Helper()
	token := f.token(tb, validHeader(), with(validClaims(), "jti", "jti-"+randomID(tb)))
	pub := key.header(tb)["jwk"].(map[string]any)
	return &workloadCall{
		witHeader: map[string]any{"alg": "EdDSA", "typ": "wit+jwt", "kid": testKID},
		witClaims: map[string]any{"iss": testIssuer, "sub": "wimse://" + testTrustDomain + "/careergpt-backend",
			"exp": testNow.Add(10 * time.Minute).Unix(), "iat": testNow.Unix(), "jti": "wit-1", "cnf": map[string]any{"jwk": pub}},
		wptHeader: map[string]any{"alg": key.alg, "typ": "wpt+jwt"},
		wptClaims: map[string]any{"aud": resourceURL, "exp": testNow.Add(30 * time.Second).Unix(), "iat": testNow.Unix(), "jti": "wpt-" + randomID(tb),
			"ath": hashOf(token)},
		key:         key,
		accessToken: token,
	}
}

func randomID(tb testing.TB) string {
	b := make([]byte, 16)
	_, err := rand.Read(b)
	require.NoError(tb, err)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (c *workloadCall) request(tb testing.TB, f *fixture) *http.Request {
	tb.Helper()
	wit := f.token(tb, c.witHeader, c.witClaims)
	claims := maps.Clone(c.wptClaims)
	switch wth, set := claims["wth"]; {
	case !set:
		claims["wth"] = hashOf(wit)
	case wth == nil: // a case that wants none
		delete(claims, "wth")
	}
	req := httptest.NewRequest(http.MethodPost, "/v1/logs", nil)
	req.Header.Set(authn.WITHeader, wit)
	if c.accessToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.accessToken)
	}
	signer := c.wptSigner
	if signer == nil {
		signer = c.key.signer
	}
	alg, _ := c.wptHeader["alg"].(string)
	if !c.noWPT {
		req.Header.Set(authn.WPTHeader, sign(tb, signer, alg, seg(tb, c.wptHeader), seg(tb, claims)))
	}
	if c.twoWPTs {
		req.Header.Add(authn.WPTHeader, sign(tb, signer, alg, seg(tb, c.wptHeader), seg(tb, with(claims, "jti", "wpt-2"))))
	}
	return req
}

// TestAuthenticate_WIMSE: a WIT with its WPT is accepted with or without an
// access token; each single fault is refused 400 with problem details and
// its reason.
func TestAuthenticate_WIMSE(t *testing.T) {
	f := newFixture(t)
	key, other := newDPoPKey(t), newDPoPKey(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	strangersToken := f.token(t, validHeader(), with(with(validClaims(), "client_id", "notification-backend"), "jti", "jti-2"))

	tests := []struct {
		name   string
		change func(c *workloadCall)
		status int
		reason string
	}{
		{"OK", nil, http.StatusNoContent, ""},
		{"WITOnlyIsNotAuthorised", func(c *workloadCall) { c.accessToken = ""; delete(c.wptClaims, "ath") }, http.StatusForbidden, "insufficient_scope"},
		{"OK/SPIFFEID", func(c *workloadCall) { c.witClaims["sub"] = "spiffe://" + testTrustDomain + "/careergpt-backend" }, http.StatusNoContent, ""},
		{"NoWPT", func(c *workloadCall) { c.noWPT = true }, 400, "wpt_missing"},
		{"TwoWPTs", func(c *workloadCall) { c.twoWPTs = true }, 400, "wpt_invalid"},
		{"WPTForAnotherTarget", func(c *workloadCall) { c.wptClaims["aud"] = "https://notification.example/v1/logs" }, 400, "wpt_audience"},
		{"WPTAudWithQuery", func(c *workloadCall) { c.wptClaims["aud"] = resourceURL + "?x=1" }, 400, "wpt_audience"},
		{"WPTAudWithFragment", func(c *workloadCall) { c.wptClaims["aud"] = resourceURL + "#x" }, 400, "wpt_audience"},
		{"WPTExpired", func(c *workloadCall) { c.wptClaims["exp"] = testNow.Add(-time.Minute).Unix() }, 400, "wpt_invalid"},
		{"WPTLongLived", func(c *workloadCall) { c.wptClaims["exp"] = testNow.Add(time.Hour).Unix() }, 400, "wpt_invalid"},
		{"WPTFromTheFuture", func(c *workloadCall) { c.wptClaims["iat"] = testNow.Add(5 * time.Minute).Unix() }, 400, "wpt_invalid"},
		{"WPTNoJTI", func(c *workloadCall) { delete(c.wptClaims, "jti") }, 400, "wpt_invalid"},
		{"WPTSignedByAnotherKey", func(c *workloadCall) { c.wptSigner = other.signer }, 400, "wpt_invalid"},
		{"WPTOtherAlgThanCnf", func(c *workloadCall) { c.wptHeader["alg"], c.wptSigner = "ES256", ecKey }, 400, "wpt_invalid"},
		{"WPTWrongTyp", func(c *workloadCall) { c.wptHeader["typ"] = "JWT" }, 400, "wpt_invalid"},
		{"WPTNoWTH", func(c *workloadCall) { c.wptClaims["wth"] = nil }, 400, "wpt_invalid"},
		{"WPTWrongWTH", func(c *workloadCall) { c.wptClaims["wth"] = hashOf("another WIT") }, 400, "wpt_invalid"},
		{"WPTWithoutATH", func(c *workloadCall) { delete(c.wptClaims, "ath") }, 400, "wpt_invalid"},
		{"WPTWrongATH", func(c *workloadCall) { c.wptClaims["ath"] = hashOf("x") }, 400, "wpt_invalid"},
		{"AccessTokenOfAnotherWorkload", func(c *workloadCall) {
			c.accessToken, c.wptClaims["ath"] = strangersToken, hashOf(strangersToken)
		}, 400, "wit_token_mismatch"},
		{"WITWithoutCnf", func(c *workloadCall) { delete(c.witClaims, "cnf") }, 400, "wit_invalid"},
		{"WITPrivateJWK", func(c *workloadCall) {
			c.witClaims["cnf"].(map[string]any)["jwk"].(map[string]any)["d"] = "AAAA"
		}, 400, "wit_invalid"},
		{"WITJWKWithoutAlg", func(c *workloadCall) { delete(c.witClaims["cnf"].(map[string]any)["jwk"].(map[string]any), "alg") }, 400, "wit_invalid"},
		{"WITUntrustedIssuer", func(c *workloadCall) { c.witClaims["iss"] = "https://elsewhere.example" }, 400, "wit_invalid"},
		{"WITOutsideTrustDomain", func(c *workloadCall) { c.witClaims["sub"] = "wimse://other.test/careergpt-backend" }, 400, "wit_invalid"},
		{"WITWrongTyp", func(c *workloadCall) { c.witHeader["typ"] = "JWT" }, 400, "wit_invalid"},
		{"WITExpired", func(c *workloadCall) { c.witClaims["exp"] = testNow.Add(-time.Minute).Unix() }, 400, "wit_invalid"},
		{"WITAlgNone", func(c *workloadCall) { c.witHeader["alg"] = "none" }, 400, "wit_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := protected(f, authn.WithWIMSE(authn.WIMSEConfig{Replay: &memoryGuard{}, BaseURL: &url.URL{Scheme: "https", Host: "logging.example"}, TrustDomain: testTrustDomain}))
			c := newWorkloadCall(t, f, key)
			if tt.change != nil {
				tt.change(c)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, c.request(t, f))
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			if tt.reason == "" {
				require.Equal(t, "careergpt-backend", rec.Header().Get("X-Sub"))
				return
			}
			if tt.status != http.StatusBadRequest {
				require.Contains(t, rec.Body.String(), tt.reason)
				return
			}
			require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
			var problem map[string]any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &problem))
			require.Equal(t, tt.reason, problem["reason"])
			require.EqualValues(t, 400, problem["status"])
		})
	}
}

// TestAuthenticate_WIMSEModes: a WPT works once; a required server takes
// nothing else; a WIT as a bearer token is refused everywhere.
func TestAuthenticate_WIMSEModes(t *testing.T) {
	f := newFixture(t)
	key := newDPoPKey(t)
	base := &url.URL{Scheme: "https", Host: "logging.example"}
	optional := protected(f, authn.WithWIMSE(authn.WIMSEConfig{Replay: &memoryGuard{}, BaseURL: base, TrustDomain: testTrustDomain}))
	required := protected(f, authn.WithWIMSE(authn.WIMSEConfig{Replay: &memoryGuard{}, BaseURL: base, TrustDomain: testTrustDomain, Required: true}))
	bearer := f.token(t, validHeader(), validClaims())
	wit := f.token(t, newWorkloadCall(t, f, key).witHeader, newWorkloadCall(t, f, key).witClaims)

	t.Run("Replayed", func(t *testing.T) {
		req := newWorkloadCall(t, f, key).request(t, f)
		rec := httptest.NewRecorder()
		optional.ServeHTTP(rec, req)
		require.Equal(t, http.StatusNoContent, rec.Code)
		rec = httptest.NewRecorder()
		optional.ServeHTTP(rec, req)
		require.Equal(t, http.StatusBadRequest, rec.Code)
		require.Contains(t, rec.Body.String(), `"wpt_replayed"`)
	})
	t.Run("OptionalTakesBearer", func(t *testing.T) {
		require.Equal(t, http.StatusNoContent, serve(optional, "Bearer "+bearer).Code)
	})
	t.Run("RequiredRefusesBearer", func(t *testing.T) {
		rec := serve(required, "Bearer "+bearer)
		require.Equal(t, http.StatusBadRequest, rec.Code)
		require.Contains(t, rec.Body.String(), `"wimse_required"`)
	})
	t.Run("RequiredTakesWIMSE", func(t *testing.T) {
		rec := httptest.NewRecorder()
		required.ServeHTTP(rec, newWorkloadCall(t, f, key).request(t, f))
		require.Equal(t, http.StatusNoContent, rec.Code)
	})
	for name, h := range map[string]http.Handler{"Off": protected(f), "Optional": optional, "Required": required} {
		t.Run("WITAsBearer/"+name, func(t *testing.T) {
			rec := serve(h, "Bearer "+wit)
			require.Equal(t, http.StatusUnauthorized, rec.Code)
			require.Contains(t, rec.Body.String(), `"wit_as_bearer"`)
		})
	}
}

// TestWorkloadIdentity_TrustDomain: the profile needs a trust domain.
func TestWorkloadIdentity_TrustDomain(t *testing.T) {
	_, err := authn.WorkloadIdentity("Not A Domain")
	require.Error(t, err)
	_, err = authn.WorkloadIdentity(testTrustDomain)
	require.NoError(t, err)
}

// TestAuthenticate_WIMSECachedWITExpires: a WIT verified once is kept, but
// never past its exp: the same WIT after it expired is refused.
func TestAuthenticate_WIMSECachedWITExpires(t *testing.T) {
	f := newFixture(t)
	now := testNow
	v, err := authn.NewVerifier(authn.Config{Issuer: testIssuer, Audience: testAudience, KeySet: f.keys, Now: func() time.Time { return now }})
	require.NoError(t, err)
	f.v = v
	h := protected(f, authn.WithWIMSE(authn.WIMSEConfig{Replay: &memoryGuard{}, BaseURL: &url.URL{Scheme: "https", Host: "logging.example"}, TrustDomain: testTrustDomain}))
	key := newDPoPKey(t)
	call := func(at time.Time, witExp time.Time) int {
		c := newWorkloadCall(t, f, key)
		c.witClaims["exp"] = witExp.Unix()
		c.wptClaims["iat"], c.wptClaims["exp"] = at.Unix(), at.Add(30*time.Second).Unix()
		c.accessToken = f.token(t, validHeader(), with(with(validClaims(), "jti", randomID(t)), "exp", at.Add(time.Minute).Unix()))
		c.wptClaims["ath"] = hashOf(c.accessToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, c.request(t, f))
		return rec.Code
	}
	witExp := testNow.Add(20 * time.Second)
	require.Equal(t, http.StatusNoContent, call(now, witExp))
	now = testNow.Add(10 * time.Second)
	require.Equal(t, http.StatusNoContent, call(now, witExp), "the cached WIT, with a fresh proof")
	now = testNow.Add(30 * time.Second) // past the WIT's exp and the leeway
	require.Equal(t, http.StatusBadRequest, call(now, witExp), "an expired WIT, even if once verified")
}

// TestAuthenticate_WIMSEWithDPoP: a DPoP-bound token rides along with WIMSE
// credentials with its own proof, as Notification's audit entries do;
// without that proof it is refused as a bearer token would be.
func TestAuthenticate_WIMSEWithDPoP(t *testing.T) {
	f := newFixture(t)
	base := &url.URL{Scheme: "https", Host: "logging.example"}
	h := protected(f, authn.WithDPoP(authn.DPoPConfig{Replay: &memoryGuard{}, BaseURL: base, Required: true}),
		authn.WithWIMSE(authn.WIMSEConfig{Replay: &memoryGuard{}, BaseURL: base, TrustDomain: testTrustDomain}))
	dpopKey, workloadKey := newDPoPKey(t), newDPoPKey(t)
	token := f.token(t, validHeader(), with(validClaims(), "cnf", map[string]any{"jkt": dpopKey.jkt}))
	send := func(withProof bool) int {
		c := newWorkloadCall(t, f, workloadKey)
		c.accessToken, c.wptClaims["ath"] = "", hashOf(token)
		req := c.request(t, f)
		req.Header.Set("Authorization", "DPoP "+token)
		if withProof {
			req.Header.Set("DPoP", sign(t, dpopKey.signer, dpopKey.alg, seg(t, dpopKey.header(t)), seg(t, with(proofClaims(token), "jti", randomID(t)))))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	require.Equal(t, http.StatusNoContent, send(true))
	require.Equal(t, http.StatusUnauthorized, send(false), "a bound token needs its DPoP proof, WIMSE or not")
}
