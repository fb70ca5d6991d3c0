package identity

import (
	"container/list"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits on failed client authentication. A correct secret is checked
// first and never refused: client secrets are generated with at least 256
// bits (docs/registry.md), so guessing one is hopeless at any rate, and no
// one else's failures, at any address, replica or time, may keep a client
// out. What the limits bound is the cost of failures: how many a source,
// and everyone together, may make in a window before each further one is
// answered 429 and goes unlogged.
const (
	// MaxAuthFailures is how many failed secret checks a source may make
	// for one client id in a window before it must wait.
	MaxAuthFailures = 5
	// MaxSourceFailures is how many failed secret checks a source may make
	// for any client ids in a window, so rotating ids buys no guesses.
	MaxSourceFailures = 50
	// MaxTotalFailures is how many failed secret checks all sources
	// together may make in a window, so many addresses buy no more.
	MaxTotalFailures = 1_000
	// AuthFailureWindow is the window's length.
	AuthFailureWindow = time.Minute
	// MinClientSecretBytes is the shortest secret ever compared: a
	// generated secret is longer, so a shorter one is a guess, or a
	// registered secret nobody should have chosen.
	MinClientSecretBytes = 32
	// MaxClientIDBytes bounds a client id; a longer one fails at once and
	// is neither stored nor logged.
	MaxClientIDBytes = 128
	// maxTracked bounds each table; when full, the entry touched least
	// recently is evicted, never the whole table.
	maxTracked       = 10_000
	lockedOutMessage = "too many failed authentication attempts; retry later"
)

// authLimiter counts failed secret checks, per source and client id, per
// source, and in total. It never decides a correct secret. private_key_jwt
// never passes through it: an assertion cannot be guessed.
type authLimiter struct {
	now     func() time.Time
	mu      sync.Mutex
	pairs   *lru[*failureWindow] // source + client id
	sources *lru[*failureWindow] // source
	total   failureWindow
}

type failureWindow struct {
	start    time.Time
	failures int
}

func newAuthLimiter(now func() time.Time) *authLimiter {
	return &authLimiter{now: now, pairs: newLRU[*failureWindow](maxTracked), sources: newLRU[*failureWindow](maxTracked)}
}

// throttle is the limiter's answer to one failure.
type throttle struct {
	// wait is how long the source should wait before failing again; zero
	// while it is within every limit.
	wait time.Duration
	// quiet is set for the failures after the one that crossed a limit:
	// they are not logged one by one, so a flood costs a line per window.
	quiet bool
}

// fail counts a failed secret check. clientID is "" when the id itself was
// unusable (too long): the source and the total are charged.
func (l *authLimiter) fail(source, clientID string) throttle {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	fresh := func() *failureWindow { return &failureWindow{start: now} }
	var t throttle
	crossed := false
	count := func(w *failureWindow, limit int) {
		w.add(now)
		if wait := w.retryAfter(now, limit); wait > 0 {
			t.wait = max(t.wait, wait)
			crossed = crossed || w.failures == limit+1
		}
	}
	count(&l.total, MaxTotalFailures)
	count(l.sources.getOrPut(source, fresh), MaxSourceFailures)
	if clientID != "" {
		count(l.pairs.getOrPut(pairKey(source, clientID), fresh), MaxAuthFailures)
	}
	t.quiet = t.wait > 0 && !crossed
	return t
}

func (w *failureWindow) add(now time.Time) {
	if now.Sub(w.start) >= AuthFailureWindow {
		w.start, w.failures = now, 0
	}
	w.failures++
}

// retryAfter is how long is left of a window that holds more than limit
// failures.
func (w *failureWindow) retryAfter(now time.Time, limit int) time.Duration {
	left := AuthFailureWindow - now.Sub(w.start)
	if left <= 0 || w.failures <= limit {
		return 0
	}
	return left
}

func pairKey(source, clientID string) string { return source + "\x00" + clientID }

// sourceOf is the address a request came from. Behind a proxy this is the
// proxy: this service trusts no forwarding header an attacker could write.
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// lru is a map bounded to max entries that evicts the least recently used.
type lru[V any] struct {
	max   int
	order *list.List // front: most recently used
	items map[string]*list.Element
}

type lruEntry[V any] struct {
	key   string
	value V
}

func newLRU[V any](max int) *lru[V] {
	return &lru[V]{max: max, order: list.New(), items: make(map[string]*list.Element)}
}

func (c *lru[V]) get(key string) (V, bool) {
	el, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*lruEntry[V]).value, true
}

func (c *lru[V]) getOrPut(key string, newValue func() V) V {
	if v, ok := c.get(key); ok {
		return v
	}
	v := newValue()
	c.put(key, v)
	return v
}

func (c *lru[V]) put(key string, value V) {
	if el, ok := c.items[key]; ok {
		el.Value.(*lruEntry[V]).value = value
		c.order.MoveToFront(el)
		return
	}
	if c.order.Len() >= c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*lruEntry[V]).key)
	}
	c.items[key] = c.order.PushFront(&lruEntry[V]{key: key, value: value})
}

func (c *lru[V]) len() int { return c.order.Len() }
