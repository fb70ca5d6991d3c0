package identity

import (
	"container/list"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits on failed client authentication. Failures are counted per source
// address: what a request merely claims (a client id) never decides whom
// another request's failures lock out.
const (
	// MaxAuthFailures is how many failed secret checks a source may make
	// for one client id in a window before it must wait.
	MaxAuthFailures = 5
	// MaxSourceFailures is how many failed secret checks a source may make
	// for any client ids in a window, so rotating ids buys no guesses.
	MaxSourceFailures = 50
	// AuthFailureWindow is the window's length.
	AuthFailureWindow = time.Minute
	// KnownSourceTTL is how long a source that proved a client's secret
	// stays exempt from that client's lockout (OWASP's "device cookie" for
	// machines): an attacker's failures never lock out the client itself.
	KnownSourceTTL = 24 * time.Hour
	// MaxClientIDBytes bounds a client id; a longer one fails at once and
	// is neither stored nor logged.
	MaxClientIDBytes = 128
	// maxTracked bounds each table; when full, the entry touched least
	// recently is evicted, never the whole table.
	maxTracked       = 10_000
	lockedOutMessage = "too many failed authentication attempts; retry later"
)

// authLimiter throttles guessing of client secrets. private_key_jwt never
// passes through it: an assertion cannot be guessed, so failing one counts
// for nothing and locks out nobody.
type authLimiter struct {
	now     func() time.Time
	mu      sync.Mutex
	pairs   *lru[*failureWindow] // source + client id
	sources *lru[*failureWindow] // source
	known   *lru[time.Time]      // source + client id → last proof of the secret
}

type failureWindow struct {
	start    time.Time
	failures int
}

func newAuthLimiter(now func() time.Time) *authLimiter {
	return &authLimiter{now: now, pairs: newLRU[*failureWindow](maxTracked),
		sources: newLRU[*failureWindow](maxTracked), known: newLRU[time.Time](maxTracked)}
}

// retryAfter returns how long source must wait before its next secret
// check for clientID, or zero. A source that proved the secret recently
// never waits for that client.
func (l *authLimiter) retryAfter(source, clientID string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if last, ok := l.known.get(pairKey(source, clientID)); ok && now.Sub(last) < KnownSourceTTL {
		return 0
	}
	wait := time.Duration(0)
	if w, ok := l.pairs.get(pairKey(source, clientID)); ok {
		wait = max(wait, w.retryAfter(now, MaxAuthFailures))
	}
	if w, ok := l.sources.get(source); ok {
		wait = max(wait, w.retryAfter(now, MaxSourceFailures))
	}
	return wait
}

// fail counts a failed secret check. clientID is "" when the id itself was
// unusable (too long): only the source is charged.
func (l *authLimiter) fail(source, clientID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sources.getOrPut(source, func() *failureWindow { return &failureWindow{start: now} }).add(now)
	if clientID != "" {
		l.pairs.getOrPut(pairKey(source, clientID), func() *failureWindow { return &failureWindow{start: now} }).add(now)
	}
}

// succeed remembers that source proved clientID's secret.
func (l *authLimiter) succeed(source, clientID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.known.put(pairKey(source, clientID), l.now())
}

func (w *failureWindow) add(now time.Time) {
	if now.Sub(w.start) >= AuthFailureWindow {
		w.start, w.failures = now, 0
	}
	w.failures++
}

func (w *failureWindow) retryAfter(now time.Time, limit int) time.Duration {
	left := AuthFailureWindow - now.Sub(w.start)
	if left <= 0 || w.failures < limit {
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
