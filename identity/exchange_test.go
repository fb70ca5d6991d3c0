package identity_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/identity"
	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

const (
	notificationSecret = "notification-secret-0123456789abcdef0123456789"
	relaySecret        = "relay-secret-0123456789abcdef0123456789abcdef"
)

// withDelegation adds two actors: notification-backend may exchange
// careergpt-backend's tokens for its own service toward Logging (and
// bearer-service), and relay may exchange careergpt-backend's tokens for
// bearer-service, again and again, so that chains can grow.
func withDelegation(cfg *identity.Config) {
	reg := cfg.Registry
	reg.Clients = append(reg.Clients,
		identity.Client{ID: "notification-backend", AuthMethod: identity.ClientSecretBasic, SecretSHA256: identity.HashSecret(notificationSecret),
			Allow: map[string][]string{"logging-service": {"logs:write"}},
			MayAct: []identity.MayAct{{For: []string{"careergpt-backend"}, Received: "notification-service",
				// logs:read is in the rule, but careergpt-backend may not
				// read logs itself, so no delegated token carries it.
				Allow: map[string][]string{"logging-service": {"logs:write", "logs:read"}, "bearer-service": {"x"}}}}},
		identity.Client{ID: "relay", AuthMethod: identity.ClientSecretBasic, SecretSHA256: identity.HashSecret(relaySecret),
			Allow: map[string][]string{"logging-service": {"logs:write"}},
			MayAct: []identity.MayAct{{For: []string{"careergpt-backend"}, Received: "bearer-service",
				Allow: map[string][]string{"logging-service": {"logs:write"}, "bearer-service": {"x"}}}}},
	)
}

var notificationBasic = []string{"notification-backend", notificationSecret}

func exchangeBody(subject string, extra ...string) string {
	v := url.Values{"grant_type": {identity.TokenExchangeGrant}, "subject_token": {subject},
		"subject_token_type": {identity.AccessTokenType}, "audience": {"logging-service"}}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			v.Del(extra[i])
			continue
		}
		v.Set(extra[i], extra[i+1])
	}
	return v.Encode()
}

// careergptToken is a token careergpt-backend got for audience.
func (e *env) careergptToken(tb testing.TB, audience string) string {
	tb.Helper()
	tok, err := e.client.Token(context.Background(), tokenclient.Request{Audience: audience})
	require.NoError(tb, err)
	return tok.AccessToken
}

func TestTokenExchange_Issues(t *testing.T) {
	e := newEnv(t, withDelegation)
	subject := e.careergptToken(t, "notification-service") // lives 2 minutes
	e.clock.Advance(30 * time.Second)
	r := e.post(t, form, exchangeBody(subject), notificationBasic...)
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Equal(t, identity.AccessTokenType, r.body["issued_token_type"])
	require.Equal(t, "logs:write", r.body["scope"], "within the rule and careergpt-backend's own allow")
	require.LessOrEqual(t, r.body["expires_in"], float64(90), "no longer than the subject token's remaining life")

	v, err := authn.NewVerifier(authn.Config{Issuer: e.srv.URL, Audience: "logging-service", KeySet: e.remoteKeys(t), Now: e.clock.Now,
		Actors: []string{"notification-backend"}})
	require.NoError(t, err)
	claims, err := v.Verify(context.Background(), r.body["access_token"].(string))
	require.NoError(t, err)
	require.Equal(t, "careergpt-backend", claims.Subject, "sub: on whose behalf")
	require.Equal(t, []string{"notification-backend"}, claims.Actors(), "act: who acts")
	require.Equal(t, "notification-backend", claims.ClientID, "client_id: who asked (RFC 9068)")
	subjectClaims, err := authn.Parse(subject)
	require.NoError(t, err)
	require.False(t, claims.ExpiresAt.After(subjectClaims.UnverifiedClaims().ExpiresAt.Time))
	require.Contains(t, e.logs.String(), "token exchanged")
	require.NotContains(t, e.logs.String(), subject)
}

func TestTokenExchange_Refusals(t *testing.T) {
	e := newEnv(t, withDelegation)
	other := testutil.NewIssuer(t)
	tests := []struct {
		name      string
		subject   func(t *testing.T) string
		extra     []string
		basic     []string
		wantError string
	}{
		{"NoPolicy", func(t *testing.T) string { return e.careergptToken(t, "notification-service") }, nil, []string{"suite", secret}, "unauthorized_client"},
		{"SubjectTokenForAnotherService", func(t *testing.T) string { return e.careergptToken(t, "logging-service") }, nil, notificationBasic, "invalid_request"},
		{"SubjectTokenOfAnotherIssuer", func(t *testing.T) string {
			return other.Token(t, "careergpt-backend", "notification-service", "notifications:send")
		}, nil, notificationBasic, "invalid_request"},
		{"SubjectTokenNotAToken", func(t *testing.T) string { return "not-a-token" }, nil, notificationBasic, "invalid_request"},
		{"WiderScope", func(t *testing.T) string { return e.careergptToken(t, "notification-service") }, []string{"scope", "logs:read"}, notificationBasic, "invalid_scope"},
		{"AudienceOutsidePolicy", func(t *testing.T) string { return e.careergptToken(t, "notification-service") }, []string{"audience", "dpop-service"}, notificationBasic, "invalid_target"},
		{"NoAudience", func(t *testing.T) string { return e.careergptToken(t, "notification-service") }, []string{"audience", ""}, notificationBasic, "invalid_target"},
		{"NoSubjectToken", func(t *testing.T) string { return "" }, nil, notificationBasic, "invalid_request"},
		{"SubjectTokenTypeUnknown", func(t *testing.T) string { return e.careergptToken(t, "notification-service") },
			[]string{"subject_token_type", "urn:ietf:params:oauth:token-type:saml2"}, notificationBasic, "invalid_request"},
		{"RequestedTokenTypeUnknown", func(t *testing.T) string { return e.careergptToken(t, "notification-service") },
			[]string{"requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"}, notificationBasic, "invalid_request"},
		{"ActorTokenOfAnotherClient", func(t *testing.T) string { return e.careergptToken(t, "notification-service") },
			[]string{"actor_token", "ACTOR", "actor_token_type", identity.AccessTokenType}, notificationBasic, "invalid_request"},
		{"ActorTokenWithoutType", func(t *testing.T) string { return e.careergptToken(t, "notification-service") },
			[]string{"actor_token", "ACTOR"}, notificationBasic, "invalid_request"},
		{"WrongSecret", func(t *testing.T) string { return e.careergptToken(t, "notification-service") }, nil, []string{"notification-backend", secret}, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := tt.extra
			for i := range extra {
				if extra[i] == "ACTOR" { // careergpt-backend's own token: another client than the actor
					extra = append([]string(nil), extra...)
					extra[i] = e.careergptToken(t, "logging-service")
				}
			}
			r := e.post(t, form, exchangeBody(tt.subject(t), extra...), tt.basic...)
			require.Equal(t, tt.wantError, r.body["error"], r.body)
			require.NotEmpty(t, r.body["error_description"])
			require.Nil(t, r.body["access_token"])
		})
	}
}

func TestTokenExchange_ExpiredSubjectToken(t *testing.T) {
	e := newEnv(t, withDelegation)
	subject := e.careergptToken(t, "notification-service")
	e.clock.Advance(3 * time.Minute)
	r := e.post(t, form, exchangeBody(subject), notificationBasic...)
	require.Equal(t, "invalid_request", r.body["error"], r.body)
	require.Contains(t, r.body["error_description"], "expired")
}

// The actor's own token as actor_token is accepted: it names the client.
func TestTokenExchange_ActorTokenOfTheActor(t *testing.T) {
	e := newEnv(t, withDelegation)
	own := e.post(t, form, "grant_type=client_credentials&audience=logging-service", notificationBasic...)
	require.Equal(t, http.StatusOK, own.status, own.body)
	r := e.post(t, form, exchangeBody(e.careergptToken(t, "notification-service"),
		"actor_token", own.body["access_token"].(string), "actor_token_type", identity.AccessTokenType), notificationBasic...)
	require.Equal(t, http.StatusOK, r.status, r.body)
}

func TestTokenExchange_Once(t *testing.T) {
	e := newEnv(t, withDelegation)
	subject := e.careergptToken(t, "notification-service")
	require.Equal(t, http.StatusOK, e.post(t, form, exchangeBody(subject), notificationBasic...).status)
	r := e.post(t, form, exchangeBody(subject), notificationBasic...)
	require.Equal(t, "invalid_request", r.body["error"])
	require.Contains(t, r.body["error_description"], "already exchanged")
}

// A refused exchange does not use the subject token up.
func TestTokenExchange_RefusalKeepsSubjectToken(t *testing.T) {
	e := newEnv(t, withDelegation)
	subject := e.careergptToken(t, "notification-service")
	require.Equal(t, "invalid_scope", e.post(t, form, exchangeBody(subject, "scope", "logs:read"), notificationBasic...).body["error"])
	require.Equal(t, http.StatusOK, e.post(t, form, exchangeBody(subject), notificationBasic...).status)
}

// Each exchange nests the previous actors (RFC 8693 §4.1), up to
// authn.MaxActorChain.
func TestTokenExchange_Nesting(t *testing.T) {
	e := newEnv(t, withDelegation)
	r := e.post(t, form, exchangeBody(e.careergptToken(t, "notification-service"), "audience", "bearer-service"), notificationBasic...)
	require.Equal(t, http.StatusOK, r.status, r.body)
	v, err := authn.NewVerifier(authn.Config{Issuer: e.srv.URL, Audience: "bearer-service", KeySet: e.remoteKeys(t), Now: e.clock.Now, Actors: []string{"relay", "notification-backend"}})
	require.NoError(t, err)
	relay := []string{"relay", relaySecret}
	for n := 2; n <= authn.MaxActorChain; n++ {
		r = e.post(t, form, exchangeBody(r.body["access_token"].(string), "audience", "bearer-service"), relay...)
		require.Equal(t, http.StatusOK, r.status, r.body)
		claims, err := v.Verify(context.Background(), r.body["access_token"].(string))
		require.NoError(t, err)
		require.Equal(t, "careergpt-backend", claims.Subject)
		require.Len(t, claims.Actors(), n)
		require.Equal(t, "notification-backend", claims.Actors()[0], "the first actor first")
		require.Equal(t, "relay", claims.Actor.Subject, "the current actor outermost")
	}
	r = e.post(t, form, exchangeBody(r.body["access_token"].(string), "audience", "bearer-service"), relay...)
	require.Equal(t, "invalid_request", r.body["error"], r.body)
	require.Contains(t, r.body["error_description"], "actor chain")
}

func TestTokenExchange_Metadata(t *testing.T) {
	for name, tt := range map[string]struct {
		configure []func(*identity.Config)
		want      bool
	}{"WithPolicy": {[]func(*identity.Config){withDelegation}, true}, "WithoutPolicy": {nil, false}} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, tt.configure...)
			status, body := testutil.Do(t, http.MethodGet, e.srv.URL+"/.well-known/oauth-authorization-server", "", "")
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, tt.want, strings.Contains(body, identity.TokenExchangeGrant))
		})
	}
}

// Replicas on one PostgreSQL database exchange a subject token at most
// once between them, however the requests are spread.
func TestTokenExchange_OnceAcrossReplicas(t *testing.T) {
	e := newEnvOn(t, dbtest.Postgres(t), withDelegation)
	other := e.process(t)
	for range 5 {
		subject := e.careergptToken(t, "notification-service")
		var wg sync.WaitGroup
		statuses := make([]int, 6)
		for i := range statuses {
			wg.Go(func() {
				replica := e
				if i%2 == 1 {
					replica = other
				}
				statuses[i] = replica.status(exchangeBody(subject), notificationBasic...)
			})
		}
		wg.Wait()
		ok := 0
		for _, s := range statuses {
			if s == http.StatusOK {
				ok++
			}
		}
		require.Equal(t, 1, ok, "statuses %v", statuses)
	}
}

// status posts a token request and returns only its status (or 0), fit
// for a goroutine other than the test's.
func (e *env) status(body string, basic ...string) int {
	status, _ := e.postQuietly(body, basic...)
	return status
}

// postQuietly posts a token request with Basic credentials and returns
// its status and body, or 0 and nil, failing no test: fit for a goroutine
// other than the test's.
func (e *env) postQuietly(body string, basic ...string) (int, []byte) {
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/token", strings.NewReader(body))
	if err != nil {
		return 0, nil
	}
	req.Header.Set("Content-Type", form)
	req.SetBasicAuth(basic[0], basic[1])
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func (e *env) remoteKeys(tb testing.TB) authn.KeySet {
	tb.Helper()
	ks, err := authn.NewRemoteKeySet(authn.RemoteKeySetConfig{Issuer: e.srv.URL, Now: e.clock.Now})
	require.NoError(tb, err)
	return ks
}
