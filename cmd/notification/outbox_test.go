package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// auditPeers are a token endpoint that issues anything and a logging
// service that can be down and records what it stores.
type auditPeers struct {
	identity, logging *httptest.Server
	down              atomic.Bool
	delay             atomic.Int64 // per stored entry, in nanoseconds
	// delegatedTTL is the lifetime, in seconds, of exchanged tokens.
	delegatedTTL atomic.Int64
	// hangExchanges makes token exchanges hang until the caller gives up;
	// exchanges counts the exchange requests.
	hangExchanges atomic.Bool
	exchanges     atomic.Int64
	mu            sync.Mutex
	entries       []string             // notification ids
	storedAt      map[string]time.Time // when each was first stored
	stored        []storedEntry
}

// storedEntry is what the fake Logging was sent for one entry.
type storedEntry struct {
	token      string
	attributes map[string]string
}

func newAuditPeers(t *testing.T) *auditPeers {
	p := &auditPeers{storedAt: map[string]time.Time{}}
	p.delegatedTTL.Store(300)
	p.identity = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokenType := "Bearer"
		if r.Header.Get("DPoP") != "" { // Notification binds its audit tokens to a key of its own
			tokenType = "DPoP"
		}
		token, ttl := "notification-token", int64(300)
		if r.PostFormValue("grant_type") == "urn:ietf:params:oauth:grant-type:token-exchange" {
			p.exchanges.Add(1)
			if p.hangExchanges.Load() {
				<-r.Context().Done()
				return
			}
			token, ttl = "delegated-token", p.delegatedTTL.Load()
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"access_token":%q,"token_type":%q,"expires_in":%d}`, token, tokenType, ttl)
	}))
	p.logging = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		time.Sleep(time.Duration(p.delay.Load()))
		var body struct {
			Attributes map[string]string `json:"attributes"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		id := body.Attributes["notification_id"]
		_, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		p.mu.Lock()
		p.stored = append(p.stored, storedEntry{token: token, attributes: body.Attributes})
		p.entries = append(p.entries, id)
		if _, ok := p.storedAt[id]; !ok {
			p.storedAt[id] = time.Now()
		}
		p.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(func() { p.identity.Close(); p.logging.Close() })
	return p
}

// deliveredBefore reports whether entry id was stored before t.
func (p *auditPeers) deliveredBefore(id string, t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.storedAt[id]
	return ok && at.Before(t)
}

func (p *auditPeers) delivered() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.entries...)
}

// TestOutbox_AuditEntrySurvivesKill: a notification accepted while Logging
// is down is queued with it; the process is killed (SIGKILL) before it
// could deliver; after a restart, with Logging back, the entry arrives, and
// the token that sent it stays used.
func TestOutbox_AuditEntrySurvivesKill(t *testing.T) {
	bin := testutil.BuildBinary(t)

	iss := testutil.NewIssuer(t)
	peers := newAuditPeers(t)
	peers.down.Store(true)
	env := []string{"TRUSTED_ISSUER=" + iss.URL, "JWKS_URL=" + iss.JWKSURL(), "DATA_DIR=" + t.TempDir(),
		"IDENTITY_URL=" + peers.identity.URL, "LOGGING_URL=" + peers.logging.URL}

	cmd, url := testutil.StartBinary(t, bin, env)
	tok := iss.Token(t, "careergpt-backend", "notification-service", "notifications:send")
	status, body := testutil.Do(t, http.MethodPost, url+"/v1/notifications", tok, notificationBody)
	require.Equal(t, http.StatusAccepted, status, body)
	require.Contains(t, body, `"audit":"queued"`)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.Empty(t, peers.delivered())

	peers.down.Store(false)
	_, url = testutil.StartBinary(t, bin, env)
	require.Eventually(t, func() bool { return len(peers.delivered()) == 1 }, 10*time.Second, 20*time.Millisecond)
	replayed, _ := testutil.Do(t, http.MethodPost, url+"/v1/notifications", tok, notificationBody)
	require.Equal(t, http.StatusUnauthorized, replayed, "the token was used before the kill")
	var resp struct{ ID int64 }
	require.NoError(t, json.Unmarshal([]byte(body), &resp))
	require.Equal(t, fmt.Sprint(resp.ID), peers.delivered()[0])
}

// TestOutbox_CallerThatDisconnectsLosesNothing: callers that hang up right
// after sending leave every notification they got stored with its audit
// entry delivered: nothing half-done depends on the caller staying.
func TestOutbox_CallerThatDisconnectsLosesNothing(t *testing.T) {
	iss := testutil.NewIssuer(t)
	peers := newAuditPeers(t)
	dir := t.TempDir()
	env := map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(), "DATA_DIR": dir,
		"IDENTITY_URL": peers.identity.URL, "LOGGING_URL": peers.logging.URL}
	p := testutil.Start(t, run, "notification", env)
	host := strings.TrimPrefix(p.URL, "http://")
	const n = 30
	for range n {
		tok := iss.Token(t, "careergpt-backend", "notification-service", "notifications:send")
		conn, err := net.Dial("tcp", host)
		require.NoError(t, err)
		_, err = fmt.Fprintf(conn, "POST /v1/notifications HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			host, tok, len(notificationBody), notificationBody)
		require.NoError(t, err)
		time.Sleep(time.Millisecond)
		conn.Close()
	}
	// Every stored notification gets its audit entry, once the deliverer
	// (restarted, as after a crash) has caught up. At least once: an entry
	// delivered just before the stop may come again.
	p.Stop()
	stored := storedIDs(t, filepath.Join(dir, "notification.db"))
	require.NotEmpty(t, stored)
	testutil.Start(t, run, "notification", env)
	require.Eventually(t, func() bool {
		got := map[string]bool{}
		for _, id := range peers.delivered() {
			got[id] = true
		}
		for _, id := range stored {
			if !got[id] {
				return false
			}
		}
		return true
	}, 10*time.Second, 20*time.Millisecond, "stored %v, delivered %v", stored, peers.delivered())
	t.Logf("%d callers hung up; %d notifications stored, each with its audit entry", n, len(stored))
}

func storedIDs(t *testing.T, path string) []string {
	t.Helper()
	db, err := database.Open(context.Background(), path, "notification")
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query("SELECT id FROM notifications")
	require.NoError(t, err)
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, fmt.Sprint(id))
	}
	return ids
}

// TestOutbox_ClaimOfAKilledProcessIsReleasedOnSQLite: an entry a killed
// process had claimed for delivery (next attempt a lease ahead) is
// delivered as soon as Notification starts again, not after the lease:
// on SQLite no other process shares the outbox, so the claim is a dead one.
func TestOutbox_ClaimOfAKilledProcessIsReleasedOnSQLite(t *testing.T) {
	iss := testutil.NewIssuer(t)
	peers := newAuditPeers(t)
	dir := t.TempDir()
	env := map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(), "DATA_DIR": dir,
		"IDENTITY_URL": peers.identity.URL, "LOGGING_URL": peers.logging.URL}
	testutil.Start(t, run, "notification", env).Stop() // creates the database

	db, err := database.Open(context.Background(), filepath.Join(dir, "notification.db"), "notification")
	require.NoError(t, err)
	claimedUntil := time.Now().Add(time.Minute).UnixNano()
	_, err = db.Exec(`INSERT INTO notifications (id, time, source, channel, target, message, jti) VALUES (41, 0, 'careergpt-backend', 'email', 'a@example.com', 'm', 'jti-41')`)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO audit_outbox (notification_id, requested_by, channel, next_attempt) VALUES (41, 'careergpt-backend', 'email', $1)`, claimedUntil)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	testutil.Start(t, run, "notification", env)
	require.Eventually(t, func() bool { return slices.Contains(peers.delivered(), "41") }, 10*time.Second, 20*time.Millisecond,
		"the dead process's claim still held the entry")
}

func (p *auditPeers) storedEntries() []storedEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]storedEntry(nil), p.stored...)
}

// TestOutbox_DelegatedTokenExpiredBeforeDelivery: the audit entry goes
// with the token Notification exchanged for its caller while that token
// is good; when Logging is down past its expiry, the entry still arrives,
// once, with Notification's own token and delegation=expired, so it reads
// as Notification's statement about its caller, never as the caller's.
func TestOutbox_DelegatedTokenExpiredBeforeDelivery(t *testing.T) {
	iss := testutil.NewIssuer(t)
	peers := newAuditPeers(t)
	env := map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(), "DATA_DIR": t.TempDir(),
		"IDENTITY_URL": peers.identity.URL, "LOGGING_URL": peers.logging.URL}
	p := testutil.Start(t, run, "notification", env)
	send := func() {
		status, body := testutil.Do(t, http.MethodPost, p.URL+"/v1/notifications", iss.Token(t, "careergpt-backend", "notification-service", "notifications:send"), notificationBody)
		require.Equal(t, http.StatusAccepted, status, body)
	}

	send()
	require.Eventually(t, func() bool { return len(peers.storedEntries()) == 1 }, 10*time.Second, 20*time.Millisecond)
	first := peers.storedEntries()[0]
	require.Equal(t, "delegated-token", first.token)
	require.NotContains(t, first.attributes, "delegation")

	// A token usable for one second more than a delivery attempt takes
	// (5 s), and Logging down for longer than that.
	peers.delegatedTTL.Store(6)
	peers.down.Store(true)
	send()
	time.Sleep(2 * time.Second)
	peers.down.Store(false)
	require.Eventually(t, func() bool { return len(peers.storedEntries()) == 2 }, 20*time.Second, 20*time.Millisecond)
	second := peers.storedEntries()[1]
	require.Equal(t, "notification-token", second.token, "the expired exchanged token is not sent")
	require.Equal(t, "expired", second.attributes["delegation"])
	require.Equal(t, "careergpt-backend", second.attributes["requested_by"])
	require.Len(t, peers.storedEntries(), 2, "no entry twice")
}

// TestOutbox_HungIdentityDelaysOneExchange: with token exchanges hanging,
// notifications are still accepted, their entries delivered as
// Notification's own (delegation=unavailable), and after the first hung
// exchange the others are not even tried for a while: a hung Identity
// holds up one request, not every one.
func TestOutbox_HungIdentityDelaysOneExchange(t *testing.T) {
	iss := testutil.NewIssuer(t)
	peers := newAuditPeers(t)
	peers.hangExchanges.Store(true)
	env := map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(), "DATA_DIR": t.TempDir(),
		"IDENTITY_URL": peers.identity.URL, "LOGGING_URL": peers.logging.URL}
	p := testutil.Start(t, run, "notification", env)
	const n = 5
	for range n {
		status, body := testutil.Do(t, http.MethodPost, p.URL+"/v1/notifications", iss.Token(t, "careergpt-backend", "notification-service", "notifications:send"), notificationBody)
		require.Equal(t, http.StatusAccepted, status, body)
	}
	require.Eventually(t, func() bool { return len(peers.storedEntries()) == n }, 10*time.Second, 20*time.Millisecond)
	for _, e := range peers.storedEntries() {
		require.Equal(t, "notification-token", e.token)
		require.Equal(t, "unavailable", e.attributes["delegation"])
	}
	// One hung exchange, then a backoff of 2 s: a second may start only if
	// the four requests after the first took longer than that.
	require.LessOrEqual(t, peers.exchanges.Load(), int64(2), "exchanges tried while Identity hung")
}
