package identity

import (
	"sync"
	"time"
)

// Limits on failed client authentication, per client_id.
const (
	MaxAuthFailures   = 5           // failures allowed per window
	AuthFailureWindow = time.Minute // window length
	maxTrackedClients = 10_000      // bound on memory under a flood of made-up ids
	lockedOutMessage  = "too many failed authentication attempts; retry later"
)

// failureLimiter counts failed authentications per client id in fixed
// windows. After MaxAuthFailures a client is refused, even with the right
// credentials, until its window ends: guessing a secret gets no faster by
// being right sometimes.
type failureLimiter struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*failureWindow
}

type failureWindow struct {
	start    time.Time
	failures int
}

func newFailureLimiter(now func() time.Time) *failureLimiter {
	return &failureLimiter{now: now, m: make(map[string]*failureWindow)}
}

// retryAfter returns how long clientID is locked out, or zero.
func (l *failureLimiter) retryAfter(clientID string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.m[clientID]
	if !ok {
		return 0
	}
	left := AuthFailureWindow - l.now().Sub(w.start)
	if left <= 0 {
		delete(l.m, clientID)
		return 0
	}
	if w.failures < MaxAuthFailures {
		return 0
	}
	return left
}

func (l *failureLimiter) fail(clientID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w, ok := l.m[clientID]
	if !ok || now.Sub(w.start) >= AuthFailureWindow {
		if len(l.m) >= maxTrackedClients {
			l.evictExpiredLocked(now)
		}
		w = &failureWindow{start: now}
		l.m[clientID] = w
	}
	w.failures++
}

func (l *failureLimiter) evictExpiredLocked(now time.Time) {
	for id, w := range l.m {
		if now.Sub(w.start) >= AuthFailureWindow {
			delete(l.m, id)
		}
	}
	if len(l.m) >= maxTrackedClients {
		clear(l.m) // still full: all windows are live; start over rather than grow
	}
}
