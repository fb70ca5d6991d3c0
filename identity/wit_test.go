package identity_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/identity"
	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

const witTrustDomain = "s2sjwt.test"

// workloadClient is e.client with a workload key of its own, for WITs.
func workloadClient(tb testing.TB, e *env) (*tokenclient.Client, ed25519.PrivateKey) {
	tb.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(tb, err)
	c := *e.client
	c.WorkloadKey = key
	return &c, key
}

// TestIssueWIT: a WIT names the client in the trust domain and carries the
// key its proof showed, with alg; without a proof, or from an issuer with
// no trust domain, there is none.
func TestIssueWIT(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *identity.Config) { c.TrustDomain = witTrustDomain })
	c, key := workloadClient(t, e)
	wit, err := c.Token(ctx, tokenclient.Request{WIT: true})
	require.NoError(t, err)
	require.Equal(t, "WIT", wit.Type)
	require.Equal(t, identity.WITTTL, wit.ExpiresAt.Sub(e.clock.Now()))
	claims := jwt.MapClaims{}
	tok, _, err := jwt.NewParser().ParseUnverified(wit.AccessToken, claims)
	require.NoError(t, err)
	require.Equal(t, "wit+jwt", tok.Header["typ"])
	require.Equal(t, "wimse://"+witTrustDomain+"/careergpt-backend", claims["sub"])
	require.Equal(t, e.srv.URL, claims["iss"])
	require.NotContains(t, claims, "aud")
	cnf, _ := json.Marshal(claims["cnf"].(map[string]any)["jwk"])
	var bound jwk.Key
	require.NoError(t, json.Unmarshal(cnf, &bound))
	require.Equal(t, jwk.EdDSA, bound.Algorithm)
	require.Contains(t, string(cnf), `"alg":"EdDSA"`)
	require.True(t, key.Public().(ed25519.PublicKey).Equal(bound.Public))

	t.Run("ErrNoProof", func(t *testing.T) {
		assertion := signAssertion(t, e, jwt.MapClaims{"aud": e.srv.URL + "/oauth2/token", "jti": "no-proof"})
		r := e.post(t, "application/x-www-form-urlencoded", url.Values{"grant_type": {"client_credentials"},
			"requested_token_type": {identity.WITTokenType}, "client_assertion_type": {tokenclient.JWTBearerAssertion},
			"client_assertion": {assertion}}.Encode())
		require.Equal(t, http.StatusBadRequest, r.status, r.body)
		require.Equal(t, "invalid_dpop_proof", r.body["error"])
	})
	t.Run("ErrNoTrustDomain", func(t *testing.T) {
		c, _ := workloadClient(t, newEnv(t))
		_, err := c.Token(ctx, tokenclient.Request{WIT: true})
		var terr *tokenclient.Error
		require.ErrorAs(t, err, &terr)
		require.Equal(t, "invalid_request", terr.Code)
	})
}

// TestWIMSE_EndToEnd: Identity's WIT, with a WPT per request and an access
// token, is accepted by a resource server; the thief's variants are not.
func TestWIMSE_EndToEnd(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *identity.Config) { c.TrustDomain = witTrustDomain })
	c, key := workloadClient(t, e)
	wit, err := c.Token(ctx, tokenclient.Request{WIT: true})
	require.NoError(t, err)
	tok, err := c.Token(ctx, tokenclient.Request{Audience: "logging-service"})
	require.NoError(t, err)

	base, _ := url.Parse("https://logging.example")
	h := authn.Authenticate(e.verifier(t, "logging-service"), authn.WithWIMSE(authn.WIMSEConfig{Replay: replayStore(t, e), BaseURL: base, TrustDomain: witTrustDomain}))(
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	send := func(authorization, wit, wpt string) (int, string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/logs", nil)
		for name, v := range map[string]string{"Authorization": authorization, authn.WITHeader: wit, authn.WPTHeader: wpt} {
			if v != "" {
				req.Header.Set(name, v)
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body struct{ Reason string }
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		return rec.Code, body.Reason
	}
	proof := func(target string) string {
		wpt, err := tokenclient.WorkloadProof(key, target, wit.AccessToken, tok.AccessToken, e.clock.Now())
		require.NoError(t, err)
		return wpt
	}
	wpt := proof("https://logging.example/v1/logs")
	status, _ := send("Bearer "+tok.AccessToken, wit.AccessToken, wpt)
	require.Equal(t, http.StatusNoContent, status)

	for _, tt := range []struct {
		name, authorization, wit, wpt string
		status                        int
		reason                        string
	}{
		{"Replayed", "Bearer " + tok.AccessToken, wit.AccessToken, wpt, 400, "wpt_replayed"},
		{"WITAlone", "", wit.AccessToken, "", 400, "wpt_missing"},
		{"WITAsBearer", "Bearer " + wit.AccessToken, "", "", 401, "wit_as_bearer"},
		{"WPTForAnotherService", "Bearer " + tok.AccessToken, wit.AccessToken, proof("https://notification.example/v1/notifications"), 400, "wpt_audience"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, reason := send(tt.authorization, tt.wit, tt.wpt)
			require.Equal(t, tt.status, status)
			require.Equal(t, tt.reason, reason)
		})
	}
}

// TestIssueWIT_SPIFFEID: a client with a spiffe_id is named by it in its
// WIT, as in its JWT-SVIDs.
func TestIssueWIT_SPIFFEID(t *testing.T) {
	e := newEnv(t, func(c *identity.Config) {
		c.TrustDomain = witTrustDomain
		c.Registry.Clients[0].SPIFFEID = "spiffe://" + witTrustDomain + "/careergpt"
	})
	c, _ := workloadClient(t, e)
	wit, err := c.Token(context.Background(), tokenclient.Request{WIT: true})
	require.NoError(t, err)
	claims := jwt.MapClaims{}
	_, _, err = jwt.NewParser().ParseUnverified(wit.AccessToken, claims)
	require.NoError(t, err)
	require.Equal(t, "spiffe://"+witTrustDomain+"/careergpt", claims["sub"])
}
