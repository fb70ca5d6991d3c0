package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
	"github.com/s2sjwt/s2sjwt/logging"
)

// TestReplicas_KillUnderLoadLosesNoAcknowledgedEntry: two Logging replicas
// on one PostgreSQL database take writes from 16 callers; one replica is
// killed with SIGKILL mid-load. Every entry either replica acknowledged
// (201) is in the database; the survivor keeps acknowledging.
func TestReplicas_KillUnderLoadLosesNoAcknowledgedEntry(t *testing.T) {
	url := dbtest.Postgres(t)
	bin := testutil.BuildBinary(t)
	iss := testutil.NewIssuer(t)
	env := []string{"TRUSTED_ISSUER=" + iss.URL, "JWKS_URL=" + iss.JWKSURL(), "DATABASE_URL=" + url}
	victim, victimURL := testutil.StartBinary(t, bin, append(env, "DATA_DIR="+t.TempDir()))
	_, survivorURL := testutil.StartBinary(t, bin, append(env, "DATA_DIR="+t.TempDir()))
	token := iss.Token(t, "careergpt-backend", "logging-service", "logs:write")

	var (
		mu        sync.Mutex
		acked     []string
		failed    atomic.Int32
		afterKill atomic.Int32 // survivor's acknowledgements after the kill
		killed    atomic.Bool
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Second}
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				target := []string{victimURL, survivorURL}[(w+i)%2]
				msg := fmt.Sprintf("caller %d entry %d", w, i)
				req, _ := http.NewRequest(http.MethodPost, target+"/v1/logs", strings.NewReader(`{"message":"`+msg+`"}`))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					failed.Add(1)
					continue
				}
				mu.Lock()
				acked = append(acked, msg)
				mu.Unlock()
				if killed.Load() && target == survivorURL {
					afterKill.Add(1)
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, victim.Process.Kill())
	killed.Store(true)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	db, err := database.Open(context.Background(), url, "logging", logging.Schema)
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT message FROM entries`)
	require.NoError(t, err)
	stored := map[string]bool{}
	for rows.Next() {
		var m string
		require.NoError(t, rows.Scan(&m))
		stored[m] = true
	}
	require.NoError(t, rows.Err())
	for _, m := range acked {
		require.True(t, stored[m], "acknowledged but lost: %q", m)
	}
	require.Positive(t, failed.Load(), "the kill hit requests in flight or on their way")
	require.Positive(t, afterKill.Load(), "the survivor kept serving")
	t.Logf("%d entries acknowledged, all stored; %d requests failed with the killed replica; %d acknowledged by the survivor after the kill",
		len(acked), failed.Load(), afterKill.Load())
}
