package identity_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/identity"
	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/replay"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

// dpopClient is e.client with a DPoP key of its own.
func (e *env) dpopClient(tb testing.TB) (*tokenclient.Client, ed25519.PrivateKey) {
	tb.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(tb, err)
	c := *e.client
	c.DPoPKey = key
	return &c, key
}

func TestIssueToken_DPoP(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)

	t.Run("OK/BoundToTheProofKey", func(t *testing.T) {
		c, key := e.dpopClient(t)
		tok, err := c.Token(ctx, tokenclient.Request{Audience: "logging-service", DPoP: true})
		require.NoError(t, err)
		require.Equal(t, "DPoP", tok.Type)
		var claims struct {
			jwt.RegisteredClaims
			Cnf authn.Confirmation `json:"cnf"`
		}
		_, _, err = jwt.NewParser().ParseUnverified(tok.AccessToken, &claims)
		require.NoError(t, err)
		jkt, err := jwk.Thumbprint(key.Public())
		require.NoError(t, err)
		require.Equal(t, jkt, claims.Cnf.JKT)
	})
	t.Run("OK/BearerWithoutProof", func(t *testing.T) {
		tok, err := e.client.Token(ctx, tokenclient.Request{Audience: "logging-service"})
		require.NoError(t, err)
		require.Equal(t, "Bearer", tok.Type)
	})
	t.Run("OK/OffAudienceIgnoresTheProof", func(t *testing.T) {
		_, key := e.dpopClient(t)
		c := *e.client
		c.DPoPKey = key
		_, err := c.Token(ctx, tokenclient.Request{Audience: "bearer-service", DPoP: true})
		require.ErrorContains(t, err, "want a DPoP token", "the audience takes bearer tokens only")
		tok, err := e.client.Token(ctx, tokenclient.Request{Audience: "bearer-service"})
		require.NoError(t, err)
		require.Equal(t, "Bearer", tok.Type)
	})
	t.Run("ErrRequiredForAudience", func(t *testing.T) {
		_, err := e.client.Token(ctx, tokenclient.Request{Audience: "dpop-service"})
		var terr *tokenclient.Error
		require.ErrorAs(t, err, &terr)
		require.Equal(t, "invalid_dpop_proof", terr.Code)
	})
	t.Run("ErrProofForAnotherURL", func(t *testing.T) {
		_, key := e.dpopClient(t)
		proof, err := tokenclient.Proof(key, http.MethodPost, "https://elsewhere.example/oauth2/token", "", e.clock.Now())
		require.NoError(t, err)
		require.Equal(t, "invalid_dpop_proof", e.tokenRequestWithProof(t, proof).body["error"])
	})
	t.Run("ErrProofReplayed", func(t *testing.T) {
		_, key := e.dpopClient(t)
		proof, err := tokenclient.Proof(key, http.MethodPost, e.srv.URL+"/oauth2/token", "", e.clock.Now())
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, e.tokenRequestWithProof(t, proof).status)
		r := e.tokenRequestWithProof(t, proof)
		require.Equal(t, http.StatusBadRequest, r.status)
		require.Equal(t, "invalid_dpop_proof", r.body["error"])
	})
}

// tokenRequestWithProof asks for a token as careergpt-backend with proof.
func (e *env) tokenRequestWithProof(tb testing.TB, proof string) response {
	tb.Helper()
	body := "grant_type=client_credentials&audience=logging-service&client_assertion_type=" +
		url.QueryEscape(tokenclient.JWTBearerAssertion) + "&client_assertion=" + signAssertion(tb, e, jwt.MapClaims{"jti": fmt.Sprint("a-", time.Now().UnixNano()), "aud": e.srv.URL + "/oauth2/token"})
	req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
	req.Header.Set("Content-Type", form)
	req.Header.Set("DPoP", proof)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	r := response{status: rec.Code, header: rec.Header()}
	require.NoError(tb, json.Unmarshal(rec.Body.Bytes(), &r.body))
	return r
}

// TestDPoP_EndToEnd: a token Identity bound to a caller's key works at a
// resource server with a proof from that key, and not without it.
func TestDPoP_EndToEnd(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c, key := e.dpopClient(t)
	tok, err := c.Token(ctx, tokenclient.Request{Audience: "logging-service", DPoP: true})
	require.NoError(t, err)

	v := e.verifier(t, "logging-service")
	base, _ := url.Parse("https://logging.example")
	h := authn.Authenticate(v, authn.WithDPoP(authn.DPoPConfig{Replay: replayStore(t, e), BaseURL: base}))(
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	send := func(scheme, proof string) int {
		req := httptest.NewRequest(http.MethodPost, "/v1/logs", nil)
		req.Header.Set("Authorization", scheme+" "+tok.AccessToken)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	proof, err := tokenclient.Proof(key, http.MethodPost, "https://logging.example/v1/logs", tok.AccessToken, e.clock.Now())
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, send("DPoP", proof))
	require.Equal(t, http.StatusUnauthorized, send("Bearer", ""), "a stolen bound token is useless as a bearer token")
	_, thief, _ := ed25519.GenerateKey(rand.Reader)
	forged, err := tokenclient.Proof(thief, http.MethodPost, "https://logging.example/v1/logs", tok.AccessToken, e.clock.Now().Add(time.Second))
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, send("DPoP", forged), "and with a proof from another key")
}

func replayStore(tb testing.TB, e *env) *replay.Store {
	tb.Helper()
	db, err := database.Open(context.Background(), dbtest.SQLite(tb), "proofs", replay.Schema)
	require.NoError(tb, err)
	tb.Cleanup(func() { db.Close() })
	return testutil.Replay(tb, db, e.clock.Now)
}

// TestIssueToken_DPoPNonce: with nonces on, a proof without the server's
// nonce gets use_dpop_nonce and a DPoP-Nonce; the client retries with it
// and gets its bound token.
func TestIssueToken_DPoPNonce(t *testing.T) {
	e := newEnv(t, func(c *identity.Config) { c.DPoPNonce = true })
	_, key := e.dpopClient(t)
	proof, err := tokenclient.Proof(key, http.MethodPost, e.srv.URL+"/oauth2/token", "", e.clock.Now())
	require.NoError(t, err)
	r := e.tokenRequestWithProof(t, proof)
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "use_dpop_nonce", r.body["error"])
	require.NotEmpty(t, r.header.Get("DPoP-Nonce"))

	c, _ := e.dpopClient(t)
	tok, err := c.Token(context.Background(), tokenclient.Request{Audience: "logging-service", DPoP: true})
	require.NoError(t, err, "the client retries with the nonce")
	require.Equal(t, "DPoP", tok.Type)

	e.clock.Advance(3 * time.Minute) // two windows later the old nonce is stale, the retry still works
	tok, err = c.Token(context.Background(), tokenclient.Request{Audience: "logging-service", DPoP: true})
	require.NoError(t, err)
	require.Equal(t, "DPoP", tok.Type)
}
