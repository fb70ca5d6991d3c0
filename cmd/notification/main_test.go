package main

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

const notificationBody = `{"channel":"email","to":"a@example.com","message":"hi"}`

func TestRun_ReplayMemorySurvivesRestart(t *testing.T) {
	iss := testutil.NewIssuer(t)
	// No identity or logging: audit forwarding off, verification only.
	env := map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(), "DATA_DIR": t.TempDir()}
	tok := iss.Token(t, "careergpt-backend", "notification-service", "notifications:send")

	p := testutil.Start(t, run, "notification", env)
	status, body := testutil.Do(t, http.MethodPost, p.URL+"/v1/notifications", tok, notificationBody)
	require.Equal(t, http.StatusAccepted, status, body)
	p.Stop()

	p = testutil.Start(t, run, "notification", env)
	status, body = testutil.Do(t, http.MethodPost, p.URL+"/v1/notifications", tok, notificationBody)
	require.Equal(t, http.StatusUnauthorized, status)
	require.Contains(t, body, "token already used")
}

func TestRun_ConcurrentReplays(t *testing.T) {
	iss := testutil.NewIssuer(t)
	env := map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(), "DATA_DIR": t.TempDir()}
	p := testutil.Start(t, run, "notification", env)
	tok := iss.Token(t, "careergpt-backend", "notification-service", "notifications:send")

	const n = 32
	var accepted atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if status, _ := testutil.Do(t, http.MethodPost, p.URL+"/v1/notifications", tok, notificationBody); status == http.StatusAccepted {
				accepted.Add(1)
			}
		})
	}
	wg.Wait()
	require.Equal(t, int32(1), accepted.Load())
}

func TestRun_BadInput(t *testing.T) {
	iss := testutil.NewIssuer(t)
	env := map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(), "DATA_DIR": t.TempDir()}
	p := testutil.Start(t, run, "notification", env)
	for name, tc := range map[string]struct {
		body string
		want int
	}{
		"UnknownChannel": {`{"channel":"pigeon","to":"a","message":"hi"}`, http.StatusBadRequest},
		"Malformed":      {`{"channel":`, http.StatusBadRequest},
		"UnknownField":   {`{"channel":"email","to":"a","message":"hi","from":"ceo"}`, http.StatusBadRequest},
	} {
		t.Run(name, func(t *testing.T) {
			tok := iss.Token(t, "careergpt-backend", "notification-service", "notifications:send")
			status, body := testutil.Do(t, http.MethodPost, p.URL+"/v1/notifications", tok, tc.body)
			require.Equal(t, tc.want, status, body)
		})
	}
}
