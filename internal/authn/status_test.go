package authn_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// statusIssuer serves one status list, signed as its test says, and
// counts the fetches.
type statusIssuer struct {
	srv     *httptest.Server
	key     ed25519.PrivateKey
	mu      sync.Mutex
	bits    int
	entries []byte // one status per entry
	sign    func(l *statusIssuer, claims jwt.MapClaims) string
	claims  func(c jwt.MapClaims)
	down    atomic.Bool
	hang    atomic.Bool
	fetches atomic.Int64
	clock   *testutil.Clock
}

const statusPath = "/statuslists/1"

func newStatusIssuer(t testing.TB, clock *testutil.Clock) *statusIssuer {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	l := &statusIssuer{key: key, bits: 2, entries: make([]byte, 64), clock: clock}
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.fetches.Add(1)
		if l.hang.Load() {
			<-r.Context().Done()
			return
		}
		if l.down.Load() || r.URL.Path != statusPath {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/statuslist+jwt")
		_, _ = w.Write([]byte(l.token()))
	}))
	t.Cleanup(l.srv.Close)
	return l
}

func (l *statusIssuer) uri() string { return l.srv.URL + statusPath }

func (l *statusIssuer) set(i int, status byte) {
	l.mu.Lock()
	l.entries[i] = status
	l.mu.Unlock()
}

// token is the list as its issuer signs it: packed bits entries to a
// byte, the first in the least significant bits, ZLIB, base64url.
func (l *statusIssuer) token() string {
	l.mu.Lock()
	packed := make([]byte, len(l.entries)*l.bits/8)
	for i, s := range l.entries {
		bit := i * l.bits
		packed[bit/8] |= s << (bit % 8)
	}
	bits := l.bits
	l.mu.Unlock()
	now := l.clock.Now()
	claims := jwt.MapClaims{"sub": l.uri(), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "ttl": 60,
		"status_list": map[string]any{"bits": bits, "lst": deflate(packed)}}
	if l.claims != nil {
		l.claims(claims)
	}
	if l.sign != nil {
		return l.sign(l, claims)
	}
	return signList(l.key, claims)
}

func signList(key ed25519.PrivateKey, claims jwt.MapClaims) string {
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["typ"], t.Header["kid"] = "statuslist+jwt", "list-key"
	raw, _ := t.SignedString(key)
	return raw
}

func deflate(b []byte) string {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return base64.RawURLEncoding.EncodeToString(buf.Bytes())
}

func (l *statusIssuer) lists(t *testing.T, maxStale time.Duration) *authn.StatusLists {
	s, err := authn.NewStatusLists(authn.StatusListsConfig{Issuer: l.srv.URL,
		KeySet:  authn.NewStaticKeySet(jwk.Key{ID: "list-key", Algorithm: jwk.EdDSA, Public: l.key.Public()}),
		Refresh: 30 * time.Second, MaxStale: maxStale, Now: l.clock.Now, Client: &http.Client{Timeout: 500 * time.Millisecond}})
	require.NoError(t, err)
	return s
}

func ref(l *statusIssuer, i int) authn.StatusRef { return authn.StatusRef{Index: i, URI: l.uri()} }

func TestStatusLists_Entries(t *testing.T) {
	clock := testutil.NewClock(testNow)
	l := newStatusIssuer(t, clock)
	l.set(1, authn.StatusInvalid)
	l.set(2, authn.StatusSuspended)
	l.set(3, 3) // application-specific: not a status this verifier knows
	s := l.lists(t, time.Minute)
	ctx := context.Background()
	require.NoError(t, s.Check(ctx, ref(l, 0)))
	require.ErrorIs(t, s.Check(ctx, ref(l, 1)), authn.ErrRevoked)
	require.ErrorIs(t, s.Check(ctx, ref(l, 2)), authn.ErrSuspended)
	require.ErrorIs(t, s.Check(ctx, ref(l, 3)), authn.ErrStatus)
	require.ErrorIs(t, s.Check(ctx, ref(l, 64)), authn.ErrStatus, "an index past the list")
	require.Equal(t, int64(1), l.fetches.Load(), "one fetch, cached for every check")
}

// A list the issuer did not sign for that URI, or no longer valid, never
// answers: the check fails closed (ErrStatus, 401), and no revoked token
// becomes valid.
func TestStatusLists_RefusesBadLists(t *testing.T) {
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	// Compressed once, here: deflating 5 MiB in the handler took longer
	// than the client's timeout on a busy machine under -race, and the
	// case then saw an unavailable issuer instead of a bomb.
	bomb := deflate(make([]byte, 5<<20))
	for name, tamper := range map[string]func(l *statusIssuer){
		"OtherKey": func(l *statusIssuer) {
			l.sign = func(_ *statusIssuer, c jwt.MapClaims) string { return signList(other, c) }
		},
		"OtherSub": func(l *statusIssuer) { l.claims = func(c jwt.MapClaims) { c["sub"] = l.srv.URL + "/statuslists/2" } },
		"Expired": func(l *statusIssuer) {
			l.claims = func(c jwt.MapClaims) { c["exp"] = testNow.Add(-time.Minute).Unix() }
		},
		"NoIat": func(l *statusIssuer) { l.claims = func(c jwt.MapClaims) { delete(c, "iat") } },
		"BadBits": func(l *statusIssuer) {
			l.claims = func(c jwt.MapClaims) { c["status_list"].(map[string]any)["bits"] = 3 }
		},
		"NotZLIB": func(l *statusIssuer) {
			l.claims = func(c jwt.MapClaims) { c["status_list"].(map[string]any)["lst"] = "AAAA" }
		},
		"ZLIBBomb": func(l *statusIssuer) {
			l.claims = func(c jwt.MapClaims) { c["status_list"].(map[string]any)["lst"] = bomb }
		},
		"WrongTyp": func(l *statusIssuer) {
			l.sign = func(_ *statusIssuer, c jwt.MapClaims) string { return signTyp(l.key, c, "JWT") }
		},
		"AlgNoneLike": func(l *statusIssuer) { l.sign = func(_ *statusIssuer, c jwt.MapClaims) string { return unsigned(c) } },
	} {
		t.Run(name, func(t *testing.T) {
			l := newStatusIssuer(t, testutil.NewClock(testNow))
			l.set(1, authn.StatusInvalid)
			tamper(l)
			s := l.lists(t, time.Minute)
			// Refused as the token's fault (401), not the service's: the
			// issuer answered, with a list that cannot be trusted.
			require.ErrorIs(t, s.Check(context.Background(), ref(l, 1)), authn.ErrStatus)
			require.ErrorIs(t, s.Check(context.Background(), ref(l, 0)), authn.ErrStatus)
		})
	}
}

func signTyp(key ed25519.PrivateKey, claims jwt.MapClaims, typ string) string {
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["typ"], t.Header["kid"] = typ, "list-key"
	raw, _ := t.SignedString(key)
	return raw
}

func unsigned(claims jwt.MapClaims) string {
	raw, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	return raw
}

// A reference to a list elsewhere than under the trusted issuer is
// refused without fetching it.
func TestStatusLists_FetchesOnlyUnderTheIssuer(t *testing.T) {
	clock := testutil.NewClock(testNow)
	trusted, elsewhere := newStatusIssuer(t, clock), newStatusIssuer(t, clock)
	s := trusted.lists(t, time.Minute)
	for _, uri := range []string{elsewhere.uri(), trusted.srv.URL + ".evil.example/statuslists/1", trusted.uri() + "?x=1", "file:///etc/passwd"} {
		require.ErrorIs(t, s.Check(context.Background(), authn.StatusRef{Index: 0, URI: uri}), authn.ErrStatus, uri)
	}
	require.Zero(t, elsewhere.fetches.Load())
	require.Zero(t, trusted.fetches.Load())
}

// A revocation is seen once the list is refreshed: the first check after
// the list's ttl starts a refresh in the background and is answered from
// the list it has; the refreshed list answers the next.
func TestStatusLists_RevocationSeenAfterRefresh(t *testing.T) {
	clock := testutil.NewClock(testNow)
	l := newStatusIssuer(t, clock)
	s := l.lists(t, time.Minute)
	ctx := context.Background()
	require.NoError(t, s.Check(ctx, ref(l, 5)))
	l.set(5, authn.StatusInvalid)
	clock.Advance(29 * time.Second)
	require.NoError(t, s.Check(ctx, ref(l, 5)), "within the refresh the cached list answers")
	require.Equal(t, int64(1), l.fetches.Load())
	clock.Advance(2 * time.Second)
	_ = s.Check(ctx, ref(l, 5)) // starts the refresh
	require.Eventually(t, func() bool { return s.Check(ctx, ref(l, 5)) != nil }, 5*time.Second, 10*time.Millisecond)
	require.ErrorIs(t, s.Check(ctx, ref(l, 5)), authn.ErrRevoked)
}

// Issuer down or hung: the list is used until MaxStale past its refresh,
// then every check fails closed; fetches stay one a second, and a hung
// fetch holds up only the requests that have no usable list.
func TestStatusLists_IssuerDownOrHung(t *testing.T) {
	for name, fail := range map[string]func(l *statusIssuer){
		"Down": func(l *statusIssuer) { l.down.Store(true) },
		"Hung": func(l *statusIssuer) { l.hang.Store(true) },
	} {
		t.Run(name, func(t *testing.T) {
			clock := testutil.NewClock(testNow)
			l := newStatusIssuer(t, clock)
			s := l.lists(t, time.Minute)
			ctx := context.Background()
			require.NoError(t, s.Check(ctx, ref(l, 0)))
			fail(l)
			clock.Advance(31 * time.Second) // past the refresh, within MaxStale
			require.NoError(t, s.Check(ctx, ref(l, 0)), "a stale list answers while within MaxStale")
			clock.Advance(time.Minute) // past MaxStale
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range errs {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
					defer cancel()
					errs[i] = s.Check(ctx, ref(l, 0))
				})
			}
			wg.Wait()
			for _, err := range errs {
				require.ErrorIs(t, err, authn.ErrStatusUnavailable, "fail closed")
			}
			require.LessOrEqual(t, l.fetches.Load(), int64(3), "concurrent checks share a fetch")
			if name == "Down" {
				before := l.fetches.Load()
				for range 10 {
					require.ErrorIs(t, s.Check(ctx, ref(l, 0)), authn.ErrStatusUnavailable)
				}
				// The clock stands still: at most one fetch (if the last
				// attempt was a second ago), then none.
				time.Sleep(100 * time.Millisecond) // let a fetch started by the loop reach the issuer
				require.LessOrEqual(t, l.fetches.Load(), before+1, "one fetch a second, not one per check")
				after := l.fetches.Load()
				clock.Advance(time.Second)
				_ = s.Check(ctx, ref(l, 0))
				require.Eventually(t, func() bool { return l.fetches.Load() == after+1 }, 5*time.Second, 10*time.Millisecond, "a second later, one more")
			}
		})
	}
}

func TestVerifier_Status(t *testing.T) {
	clock := testutil.NewClock(testNow)
	l := newStatusIssuer(t, clock)
	l.set(1, authn.StatusInvalid)
	f := newFixture(t)
	v, err := authn.NewVerifier(authn.Config{Issuer: l.srv.URL, Audience: testAudience, KeySet: f.keys, Now: clock.Now, Status: l.lists(t, time.Minute)})
	require.NoError(t, err)
	token := func(status any) string {
		c := with(validClaims(), "iss", l.srv.URL)
		if status != nil {
			c["status"] = status
		}
		return f.token(t, validHeader(), c)
	}
	ctx := context.Background()
	for name, tt := range map[string]struct {
		status any
		want   error
	}{
		"NoStatus":        {nil, nil},
		"Valid":           {map[string]any{"status_list": map[string]any{"idx": 0, "uri": l.uri()}}, nil},
		"Revoked":         {map[string]any{"status_list": map[string]any{"idx": 1, "uri": l.uri()}}, authn.ErrRevoked},
		"OtherMechanism":  {map[string]any{"other": map[string]any{"x": 1}}, nil},
		"NotObject":       {"revoked", authn.ErrMalformed},
		"IdxNegative":     {map[string]any{"status_list": map[string]any{"idx": -1, "uri": l.uri()}}, authn.ErrMalformed},
		"IdxFraction":     {map[string]any{"status_list": map[string]any{"idx": 1.5, "uri": l.uri()}}, authn.ErrMalformed},
		"IdxString":       {map[string]any{"status_list": map[string]any{"idx": "1", "uri": l.uri()}}, authn.ErrMalformed},
		"NoURI":           {map[string]any{"status_list": map[string]any{"idx": 1}}, authn.ErrMalformed},
		"URIElsewhere":    {map[string]any{"status_list": map[string]any{"idx": 1, "uri": "http://127.0.0.1:1/statuslists/1"}}, authn.ErrStatus},
		"StatusListArray": {map[string]any{"status_list": []any{1}}, authn.ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(ctx, token(tt.status))
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}
