package identity_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/identity"
	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

const secret = "test-secret-0123456789abcdef0123456789abcdef"

type env struct {
	srv    *httptest.Server
	h      http.Handler // the server itself, for requests without a network
	logs   *testutil.SyncBuffer
	clock  *testutil.Clock
	keys   *identity.KeyStore
	client *tokenclient.Client // private_key_jwt client "careergpt-backend"
	cfg    identity.Config
	deps   identity.Deps
	dbURL  string
	swap   func(http.Handler) // replaces the server behind srv
	db     *database.DB
}

func newEnv(tb testing.TB, configure ...func(*identity.Config)) *env {
	tb.Helper()
	return newEnvOn(tb, dbtest.SQLite(tb), configure...)
}

// newEnvOn is newEnv on the database at dbURL.
func newEnvOn(tb testing.TB, dbURL string, configure ...func(*identity.Config)) *env {
	tb.Helper()
	clk := testutil.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(tb, err)
	clientKey := jwk.Key{ID: "cg-1", Algorithm: jwk.EdDSA, Public: pub}
	reg := &identity.Registry{
		Audiences: map[string]identity.Audience{
			"logging-service":      {MaxTTL: identity.Duration(5 * time.Minute), Scopes: []string{"logs:write", "logs:read"}},
			"notification-service": {MaxTTL: identity.Duration(2 * time.Minute), Scopes: []string{"notifications:send"}},
			"dpop-service":         {MaxTTL: identity.Duration(time.Minute), Scopes: []string{"x"}, DPoP: identity.DPoPRequired},
			"bearer-service":       {MaxTTL: identity.Duration(time.Minute), Scopes: []string{"x"}, DPoP: identity.DPoPOff},
		},
		Clients: []identity.Client{
			{ID: "careergpt-backend", AuthMethod: identity.PrivateKeyJWT, JWKS: &jwk.Set{Keys: []jwk.Key{clientKey}},
				Allow: map[string][]string{"logging-service": {"logs:write"}, "notification-service": {"notifications:send"}, "dpop-service": {"x"}, "bearer-service": {"x"}}},
			{ID: "suite", AuthMethod: identity.ClientSecretBasic, SecretSHA256: identity.HashSecret(secret),
				Allow: map[string][]string{"logging-service": {"logs:write"}}},
		},
	}
	db := openDB(tb, dbURL)
	keys := openKeys(tb, db, identity.KeyStoreConfig{
		RotationInterval: 24 * time.Hour, PublishLead: 20 * time.Second, Retain: 6 * time.Minute, Now: clk.Now,
	})

	e := &env{clock: clk, keys: keys, dbURL: dbURL, db: db}
	// The issuer is the test server's own URL, known only once it starts.
	var mu sync.Mutex // e.h may be replaced (withStatusList)
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := e.h
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	e.swap = func(h http.Handler) {
		mu.Lock()
		e.h = h
		mu.Unlock()
	}
	tb.Cleanup(e.srv.Close)
	e.logs = &testutil.SyncBuffer{}
	cfg := identity.Config{Issuer: e.srv.URL, Registry: reg}
	for _, f := range configure {
		f(&cfg)
	}
	e.cfg = cfg
	e.deps = identity.Deps{Keys: keys, Replay: testutil.Replay(tb, db, clk.Now), Now: clk.Now, Logger: slog.New(slog.NewTextHandler(e.logs, nil))}
	h, err := identity.NewServer(cfg, e.deps)
	require.NoError(tb, err)
	e.swap(h)
	e.client = &tokenclient.Client{TokenURL: e.srv.URL + "/oauth2/token", ClientID: "careergpt-backend",
		Key: clientKey, Signer: priv, HTTP: e.srv.Client(), Now: clk.Now}
	return e
}

// replica is a second Identity on e's database and keys, with a memory of
// its own, as another process would have.
func (e *env) replica(tb testing.TB) *env {
	tb.Helper()
	h, err := identity.NewServer(e.cfg, e.deps)
	require.NoError(tb, err)
	r := *e
	r.h = h
	r.srv = httptest.NewServer(h)
	tb.Cleanup(r.srv.Close)
	return &r
}

// process is another Identity process on e's database: its own
// connections, key store and replay store, the same configuration.
func (e *env) process(tb testing.TB) *env {
	tb.Helper()
	db := openDB(tb, e.dbURL)
	deps := e.deps
	deps.Keys = openKeys(tb, db, identity.KeyStoreConfig{
		RotationInterval: 24 * time.Hour, PublishLead: 20 * time.Second, Retain: 6 * time.Minute, Now: e.clock.Now,
	})
	deps.Replay = testutil.Replay(tb, db, e.clock.Now)
	if deps.Status != nil {
		deps.Status = identity.NewStatusList(db, statusListSize, e.clock.Now)
	}
	h, err := identity.NewServer(e.cfg, deps)
	require.NoError(tb, err)
	r := *e
	r.h, r.deps, r.keys, r.db = h, deps, deps.Keys, db
	r.srv = httptest.NewServer(h)
	tb.Cleanup(r.srv.Close)
	return &r
}

// verifier trusts this identity service through its published JWKS.
func (e *env) verifier(tb testing.TB, audience string) *authn.Verifier {
	tb.Helper()
	ks, err := authn.NewRemoteKeySet(authn.RemoteKeySetConfig{Issuer: e.srv.URL, Now: e.clock.Now})
	require.NoError(tb, err)
	v, err := authn.NewVerifier(authn.Config{Issuer: e.srv.URL, Audience: audience, KeySet: ks, Now: e.clock.Now})
	require.NoError(tb, err)
	return v
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func (e *env) post(tb testing.TB, contentType, body string, basic ...string) response {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/token", strings.NewReader(body))
	require.NoError(tb, err)
	req.Header.Set("Content-Type", contentType)
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header}
	require.NoError(tb, json.Unmarshal(data, &r.body), string(data))
	return r
}

const form = "application/x-www-form-urlencoded"

func TestIssueToken(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name        string
		contentType string
		body        string
		basic       []string
		wantStatus  int
		wantError   string
	}{
		{"OK/ClientSecretBasic", form, "grant_type=client_credentials&audience=logging-service", []string{"suite", secret}, 200, ""},
		{"OK/ResourceParameter", form, "grant_type=client_credentials&resource=logging-service", []string{"suite", secret}, 200, ""},
		{"OK/SeedJSONShape", "application/json", `{"sub":"suite","aud":"logging-service"}`, []string{"suite", secret}, 200, ""},
		{"Forbidden/OtherSub", "application/json", `{"sub":"careergpt-backend","aud":"logging-service"}`, []string{"suite", secret}, 403, "unauthorized_client"},
		{"InvalidClient/WrongSecret", form, "grant_type=client_credentials&audience=logging-service", []string{"suite", "wrong"}, 401, "invalid_client"},
		{"InvalidClient/UnknownClient", form, "grant_type=client_credentials&audience=logging-service", []string{"nobody", secret}, 401, "invalid_client"},
		{"InvalidClient/NoAuth", form, "grant_type=client_credentials&audience=logging-service", nil, 401, "invalid_client"},
		{"InvalidRequest/TwoAuthMethods", form, "grant_type=client_credentials&audience=logging-service&client_assertion_type=x&client_assertion=y", []string{"suite", secret}, 400, "invalid_request"},
		{"InvalidRequest/NoGrantType", form, "audience=logging-service", []string{"suite", secret}, 400, "invalid_request"},
		{"UnsupportedGrantType", form, "grant_type=password&audience=logging-service", []string{"suite", secret}, 400, "unsupported_grant_type"},
		{"InvalidTarget/Missing", form, "grant_type=client_credentials", []string{"suite", secret}, 400, "invalid_target"},
		{"InvalidTarget/NotAllowed", form, "grant_type=client_credentials&audience=notification-service", []string{"suite", secret}, 400, "invalid_target"},
		{"InvalidTarget/Identity", form, "grant_type=client_credentials&audience=identity", []string{"suite", secret}, 400, "invalid_target"},
		{"InvalidTarget/Conflict", form, "grant_type=client_credentials&audience=logging-service&resource=notification-service", []string{"suite", secret}, 400, "invalid_target"},
		{"InvalidScope", form, "grant_type=client_credentials&audience=logging-service&scope=logs:read", []string{"suite", secret}, 400, "invalid_scope"},
		{"InvalidRequest/RepeatedParameter", form, "grant_type=client_credentials&audience=logging-service&audience=logging-service", []string{"suite", secret}, 400, "invalid_request"},
		{"InvalidRequest/ContentType", "text/plain", "hello", []string{"suite", secret}, 400, "invalid_request"},
		{"InvalidRequest/MalformedJSON", "application/json", `{"aud":`, []string{"suite", secret}, 400, "invalid_request"},
		{"InvalidRequest/UnknownJSONField", "application/json", `{"aud":"logging-service","admin":true}`, []string{"suite", secret}, 400, "invalid_request"},
		{"InvalidRequest/Oversized", form, "grant_type=client_credentials&audience=" + strings.Repeat("a", 20<<10), []string{"suite", secret}, 400, "invalid_request"},
		{"InvalidRequest/BadExpiresIn", form, "grant_type=client_credentials&audience=logging-service&expires_in=-1", []string{"suite", secret}, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.post(t, tt.contentType, tt.body, tt.basic...)
			require.Equal(t, tt.wantStatus, r.status, r.body)
			if tt.wantError == "" {
				require.Equal(t, "Bearer", r.body["token_type"])
				require.Equal(t, "no-store", r.header.Get("Cache-Control"))
				claims, err := e.verifier(t, "logging-service").Verify(context.Background(), r.body["access_token"].(string))
				require.NoError(t, err)
				require.Equal(t, "suite", claims.Subject)
				return
			}
			require.Equal(t, tt.wantError, r.body["error"])
			require.NotEmpty(t, r.body["error_description"])
			require.Nil(t, r.body["access_token"])
			if tt.wantStatus == http.StatusUnauthorized {
				require.Contains(t, r.header.Get("WWW-Authenticate"), "Basic")
			}
		})
	}
}

func TestIssueToken_RFC9068Claims(t *testing.T) {
	e := newEnv(t)
	tok, err := e.client.Token(context.Background(), tokenclient.Request{Audience: "notification-service"})
	require.NoError(t, err)

	parts := strings.Split(tok.AccessToken, ".")
	var header, claims map[string]any
	for i, dst := range []*map[string]any{&header, &claims} {
		data, err := base64.RawURLEncoding.DecodeString(parts[i])
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(data, dst))
	}
	require.Equal(t, "at+jwt", header["typ"])
	require.Equal(t, "EdDSA", header["alg"])
	require.NotEmpty(t, header["kid"])
	require.Equal(t, e.srv.URL, claims["iss"])
	require.Equal(t, "careergpt-backend", claims["sub"])
	require.Equal(t, "careergpt-backend", claims["client_id"])
	require.Equal(t, "notification-service", claims["aud"])
	require.Equal(t, "notifications:send", claims["scope"])
	now := float64(e.clock.Now().Unix())
	require.Equal(t, now, claims["iat"])
	require.Equal(t, now, claims["nbf"])
	require.Equal(t, now+120, claims["exp"], "capped by the audience's max_ttl")
	jti, err := base64.RawURLEncoding.DecodeString(claims["jti"].(string))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(jti)*8, 128)
}

func TestIssueToken_PrivateKeyJWT(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		e := newEnv(t)
		tok, err := e.client.Token(ctx, tokenclient.Request{Audience: "logging-service", ExpiresIn: time.Second})
		require.NoError(t, err)
		require.Equal(t, e.clock.Now().Add(time.Second), tok.ExpiresAt)
	})

	t.Run("AssertionReplayRefused", func(t *testing.T) {
		e := newEnv(t)
		assertion := signAssertion(t, e, jwt.MapClaims{"aud": e.srv.URL + "/oauth2/token"})
		body := url.Values{"grant_type": {"client_credentials"}, "audience": {"logging-service"},
			"client_assertion_type": {identity.JWTBearerAssertion}, "client_assertion": {assertion}}.Encode()
		require.Equal(t, 200, e.post(t, form, body).status)
		r := e.post(t, form, body)
		require.Equal(t, 401, r.status)
		require.Equal(t, "invalid_client", r.body["error"])
	})

	t.Run("AssertionForAnotherAudienceRefused", func(t *testing.T) {
		e := newEnv(t)
		assertion := signAssertion(t, e, jwt.MapClaims{"aud": "https://elsewhere.test/token"})
		body := url.Values{"grant_type": {"client_credentials"}, "audience": {"logging-service"},
			"client_assertion_type": {identity.JWTBearerAssertion}, "client_assertion": {assertion}}.Encode()
		require.Equal(t, 401, e.post(t, form, body).status)
	})
}

func signAssertion(tb testing.TB, e *env, extra jwt.MapClaims) string {
	tb.Helper()
	now := e.clock.Now()
	claims := jwt.MapClaims{"iss": "careergpt-backend", "sub": "careergpt-backend", "jti": "a-1",
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	for k, v := range extra {
		claims[k] = v
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = e.client.Key.ID
	s, err := t.SignedString(e.client.Signer)
	require.NoError(tb, err)
	return s
}

// TestIssueToken_FailedAuthenticationIsRateLimited: past the limit a wrong
// secret gets 429 with Retry-After until the window ends; the right one
// never waits.
func TestIssueToken_FailedAuthenticationIsRateLimited(t *testing.T) {
	e := newEnv(t)
	body := "grant_type=client_credentials&audience=logging-service"
	for range identity.MaxAuthFailures {
		require.Equal(t, 401, e.post(t, form, body, "suite", "wrong").status)
	}
	r := e.post(t, form, body, "suite", "wrong")
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "invalid_client", r.body["error"])
	require.Equal(t, "60", r.header.Get("Retry-After"))
	require.Equal(t, 200, e.post(t, form, body, "suite", secret).status, "the right secret is never throttled")

	e.clock.Advance(identity.AuthFailureWindow)
	require.Equal(t, 401, e.post(t, form, body, "suite", "wrong").status, "a new window")
}

func TestKeyRotation_NoValidTokenRejected(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	v := e.verifier(t, "logging-service")
	issue := func() string {
		tok, err := e.client.Token(ctx, tokenclient.Request{Audience: "logging-service"})
		require.NoError(t, err)
		return tok.AccessToken
	}
	kid := func(token string) string {
		tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
		require.NoError(t, err)
		return tok.Header["kid"].(string)
	}

	before := issue()
	_, err := v.Verify(ctx, before)
	require.NoError(t, err)

	newKID, err := e.keys.Rotate(ctx)
	require.NoError(t, err)
	require.Len(t, e.keys.PublicKeys(ctx), 2, "the new key is published before it signs")
	require.Equal(t, kid(before), kid(issue()), "the old key signs until the publish lead has passed")

	e.clock.Advance(authn.DefaultMinRefreshInterval * 2)
	after := issue()
	require.Equal(t, newKID, kid(after))
	// after first: its unknown kid makes the verifier refetch the JWKS, which
	// must still hold the old key for before.
	for _, tok := range []string{after, before} {
		_, err := v.Verify(ctx, tok)
		require.NoError(t, err, "a valid token must survive rotation")
	}

	e.clock.Advance(7 * time.Minute) // past Retain: every token of the old key has expired
	require.Len(t, e.keys.PublicKeys(ctx), 1)
	require.Equal(t, newKID, e.keys.PublicKeys(ctx)[0].ID)
}

func TestJWKS_PublicParametersOnly(t *testing.T) {
	e := newEnv(t)
	resp, err := e.srv.Client().Get(e.srv.URL + "/.well-known/jwks.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&set))
	require.NotEmpty(t, set.Keys)
	for _, k := range set.Keys {
		require.Equal(t, "sig", k["use"])
		require.Equal(t, "EdDSA", k["alg"])
		require.NotEmpty(t, k["kid"])
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			require.NotContains(t, k, private)
		}
	}
}

func TestRotateKeys_AdminOnly(t *testing.T) {
	const adminSecret = "admin-secret-for-this-test-only-0123456789"
	reg := &identity.Registry{Audiences: map[string]identity.Audience{"logging-service": {MaxTTL: identity.Duration(time.Minute)}}}
	db := openDB(t, dbtest.SQLite(t))
	keys := openKeys(t, db, identity.KeyStoreConfig{RotationInterval: time.Hour, Retain: time.Hour})
	h, err := identity.NewServer(identity.Config{Issuer: "http://identity.test", Registry: reg, AdminSecretSHA256: identity.HashSecret(adminSecret)},
		identity.Deps{Keys: keys, Replay: testutil.Replay(t, db, nil)})
	require.NoError(t, err)

	rotate := func(user, pass string) int {
		req := httptest.NewRequest(http.MethodPost, "/admin/rotate-keys", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	require.Equal(t, http.StatusUnauthorized, rotate("", ""))
	require.Equal(t, http.StatusUnauthorized, rotate("admin", "wrong"))
	ctx := context.Background()
	require.Len(t, keys.PublicKeys(ctx), 1)
	require.Equal(t, http.StatusOK, rotate("admin", adminSecret))
	require.Len(t, keys.PublicKeys(ctx), 2, "the new key is published at once")

	for range 30 {
		rotate("admin", adminSecret)
	}
	require.Len(t, keys.PublicKeys(ctx), identity.MaxPublishedKeys, "rotations are capped")
	require.Equal(t, http.StatusTooManyRequests, rotate("admin", adminSecret))
}

// TestJWKS_CacheableForLessThanThePublishLead: an HTTP cache between
// Identity and a verifier never hides a key that has started signing.
func TestJWKS_CacheableForLessThanThePublishLead(t *testing.T) {
	e := newEnv(t) // publish lead 20 s
	resp, err := e.srv.Client().Get(e.srv.URL + "/.well-known/jwks.json")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "public, max-age=10", resp.Header.Get("Cache-Control"))

	meta, err := e.srv.Client().Get(e.srv.URL + "/.well-known/oauth-authorization-server")
	require.NoError(t, err)
	defer meta.Body.Close()
	var doc map[string]any
	require.NoError(t, json.NewDecoder(meta.Body).Decode(&doc))
	require.NotContains(t, doc, "response_types_supported", "no flow here has a response type")
}

// TestIssueToken_HugeExpiresInIsCapped: a lifetime too large for a
// time.Duration gets the cap, not an exp in the past.
func TestIssueToken_HugeExpiresInIsCapped(t *testing.T) {
	e := newEnv(t)
	r := e.post(t, form, "grant_type=client_credentials&audience=logging-service&expires_in=9223372037", "suite", secret)
	require.Equal(t, 200, r.status)
	require.EqualValues(t, 300, r.body["expires_in"])
	tok, _, err := jwt.NewParser().ParseUnverified(r.body["access_token"].(string), jwt.MapClaims{})
	require.NoError(t, err)
	exp, err := tok.Claims.GetExpirationTime()
	require.NoError(t, err)
	require.Equal(t, e.clock.Now().Add(5*time.Minute).Unix(), exp.Unix())
}
