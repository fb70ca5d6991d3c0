package main

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// TestReplicas_TokenUsedOnceAcrossReplicas: two Notification replicas on
// one PostgreSQL database are one service: a token used at one is refused
// at the other, and of 1,000 parallel presentations of a fresh token,
// spread over both, exactly one is accepted.
func TestReplicas_TokenUsedOnceAcrossReplicas(t *testing.T) {
	db := dbtest.Postgres(t)
	iss := testutil.NewIssuer(t)
	env := map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(), "DATABASE_URL": db}
	replicas := []*testutil.Process{
		testutil.Start(t, run, "notification", withDataDir(env, t.TempDir())),
		testutil.Start(t, run, "notification", withDataDir(env, t.TempDir())),
	}

	tok := iss.Token(t, "careergpt-backend", "notification-service", "notifications:send")
	status, body := testutil.Do(t, http.MethodPost, replicas[0].URL+"/v1/notifications", tok, notificationBody)
	require.Equal(t, http.StatusAccepted, status, body)
	status, body = testutil.Do(t, http.MethodPost, replicas[1].URL+"/v1/notifications", tok, notificationBody)
	require.Equal(t, http.StatusUnauthorized, status, body)
	require.Contains(t, body, "token already used")

	fresh := iss.Token(t, "careergpt-backend", "notification-service", "notifications:send")
	client := &http.Client{Transport: &http.Transport{}}
	const n = 1000
	var accepted, refused atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest(http.MethodPost, replicas[i%2].URL+"/v1/notifications", strings.NewReader(notificationBody))
			req.Header.Set("Authorization", "Bearer "+fresh)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusAccepted:
				accepted.Add(1)
			case http.StatusUnauthorized:
				refused.Add(1)
			default:
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	close(start)
	wg.Wait()
	require.Equal(t, int32(1), accepted.Load(), "exactly one presentation accepted")
	require.Equal(t, int32(n-1), refused.Load(), "every other one refused as a replay")
}

func withDataDir(env map[string]string, dir string) map[string]string {
	out := map[string]string{"DATA_DIR": dir}
	for k, v := range env {
		out[k] = v
	}
	return out
}
