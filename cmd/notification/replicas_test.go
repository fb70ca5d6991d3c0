package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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
		testutil.Start(t, run, "notification", testutil.WithEnv(env, "DATA_DIR", t.TempDir())),
		testutil.Start(t, run, "notification", testutil.WithEnv(env, "DATA_DIR", t.TempDir())),
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

// TestReplicas_AuditEntriesDeliveredOnce: two replicas share one outbox.
// Notifications accepted while Logging is down are queued; once it is
// back, each audit entry reaches it exactly once, though both replicas
// deliver from the same table.
func TestReplicas_AuditEntriesDeliveredOnce(t *testing.T) {
	db := dbtest.Postgres(t)
	iss := testutil.NewIssuer(t)
	peers := newAuditPeers(t)
	peers.down.Store(true)
	env := map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(), "DATABASE_URL": db,
		"IDENTITY_URL": peers.identity.URL, "LOGGING_URL": peers.logging.URL}
	dir := t.TempDir() // one client key for both
	replicas := []*testutil.Process{
		testutil.Start(t, run, "notification", testutil.WithEnv(env, "DATA_DIR", dir)),
		testutil.Start(t, run, "notification", testutil.WithEnv(env, "DATA_DIR", dir)),
	}
	const n = 20
	var wg sync.WaitGroup
	for i := range n { // at once: each 202 waits up to 2 s for a delivery that cannot happen yet
		tok := iss.Token(t, "careergpt-backend", "notification-service", "notifications:send")
		wg.Go(func() {
			status, body := testutil.Do(t, http.MethodPost, replicas[i%2].URL+"/v1/notifications", tok, notificationBody)
			assert.Equal(t, http.StatusAccepted, status, body)
		})
	}
	wg.Wait()
	// A slow Logging: one replica's deliveries are still under way when
	// the other polls the outbox.
	peers.delay.Store(int64(100 * time.Millisecond))
	peers.down.Store(false)
	require.Eventually(t, func() bool { return len(peers.delivered()) >= n }, 30*time.Second, 50*time.Millisecond)
	time.Sleep(2 * time.Second) // both replicas poll every second: give a duplicate time to arrive
	delivered := peers.delivered()
	require.Len(t, delivered, n, "each entry once: %v", delivered)
}

// TestReplicas_LoggedTellsTheTruth: two replicas share one outbox, so the
// replica that accepted a notification is not always the one that delivers
// its audit entry. Under load alternating between them, no 202 says
// logged:false for an entry Logging had already stored when it answered.
func TestReplicas_LoggedTellsTheTruth(t *testing.T) {
	db := dbtest.Postgres(t)
	iss := testutil.NewIssuer(t)
	peers := newAuditPeers(t)
	env := map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(), "DATABASE_URL": db,
		"IDENTITY_URL": peers.identity.URL, "LOGGING_URL": peers.logging.URL}
	dir := t.TempDir()
	replicas := []*testutil.Process{
		testutil.Start(t, run, "notification", testutil.WithEnv(env, "DATA_DIR", dir)),
		testutil.Start(t, run, "notification", testutil.WithEnv(env, "DATA_DIR", dir)),
	}
	const callers, perCaller = 4, 75
	var wg sync.WaitGroup
	var untrue, queued atomic.Int32
	for c := range callers {
		wg.Go(func() {
			for i := range perCaller {
				tok := iss.Token(t, "careergpt-backend", "notification-service", "notifications:send")
				status, body := testutil.Do(t, http.MethodPost, replicas[(c+i)%2].URL+"/v1/notifications", tok, notificationBody)
				answered := time.Now()
				var resp struct {
					ID     int64
					Logged bool
				}
				if !assert.Equal(t, http.StatusAccepted, status, body) || !assert.NoError(t, json.Unmarshal([]byte(body), &resp)) {
					return
				}
				if !resp.Logged {
					queued.Add(1)
					if peers.deliveredBefore(fmt.Sprint(resp.ID), answered) {
						untrue.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d notifications, %d answered logged:false, %d of them already delivered", callers*perCaller, queued.Load(), untrue.Load())
	require.Zero(t, untrue.Load(), "a 202 said logged:false for an entry Logging already had")
}
