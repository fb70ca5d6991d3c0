package authn_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/replay"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

func protected(f *fixture, opts ...authn.Option) http.Handler {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := authn.ClaimsFromContext(r.Context())
		w.Header().Set("X-Sub", c.Subject)
		w.WriteHeader(http.StatusNoContent)
	})
	return authn.Authenticate(f.v, opts...)(authn.RequireScope("logs:write")(ok))
}

func serve(h http.Handler, authorization ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/v1/logs", nil)
	for _, a := range authorization {
		req.Header.Add("Authorization", a)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	h := protected(f)
	good := f.token(t, validHeader(), validClaims())

	tests := []struct {
		name          string
		authorization []string
		wantStatus    int
		wantChallenge string
		wantReason    string
	}{
		{"OK", []string{"Bearer " + good}, http.StatusNoContent, "", ""},
		{"OK/SchemeCaseInsensitive", []string{"bearer " + good}, http.StatusNoContent, "", ""},
		{"NoToken", nil, http.StatusUnauthorized, `Bearer realm="logging-service", error_description="bearer token required"`, authn.ReasonNoToken},
		{"BasicScheme", []string{"Basic Zm9vOmJhcg=="}, http.StatusUnauthorized, `Bearer realm="logging-service"`, authn.ReasonNoToken},
		{"Garbage", []string{"Bearer garbage"}, http.StatusUnauthorized, `error="invalid_token"`, "malformed"},
		{"TwoHeaders", []string{"Bearer " + good, "Bearer " + good}, http.StatusUnauthorized, `error="invalid_token"`, "malformed"},
		{"Expired", []string{"Bearer " + f.token(t, validHeader(), with(validClaims(), "exp", testNow.Unix()-3600))},
			http.StatusUnauthorized, `error_description="token expired"`, "expired"},
		{"InsufficientScope", []string{"Bearer " + f.token(t, validHeader(), with(validClaims(), "scope", "logs:read"))},
			http.StatusForbidden, `error="insufficient_scope", error_description="token lacks scope logs:write", scope="logs:write"`, authn.ReasonInsufficientScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(h, tt.authorization...)
			require.Equal(t, tt.wantStatus, rec.Code)
			require.Contains(t, rec.Header().Get("WWW-Authenticate"), tt.wantChallenge)
			if tt.wantReason != "" {
				var body struct{ Reason string }
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
				require.Equal(t, tt.wantReason, body.Reason, "the reason code tells refusals apart by value")
			}
			if rec.Code == http.StatusNoContent {
				require.Equal(t, "careergpt-backend", rec.Header().Get("X-Sub"))
			} else {
				require.True(t, strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer "))
				require.NotContains(t, rec.Body.String(), good, "a response must never echo the token")
			}
		})
	}
}

// newReplayStore opens a replay store in dir; stop closes it, as a
// process that exits would.
func newReplayStore(tb testing.TB, dir string) (s *replay.Store, stop func()) {
	tb.Helper()
	db, err := database.Open(context.Background(), filepath.Join(dir, "replay.db"), "replay", replay.Schema)
	require.NoError(tb, err)
	tb.Cleanup(func() { db.Close() })
	return testutil.Replay(tb, db, nil), func() { db.Close() }
}

func TestAuthenticate_SingleUse(t *testing.T) {
	f := newFixture(t)
	used, _ := newReplayStore(t, t.TempDir())
	h := protected(f, authn.WithSingleUse(used))

	t.Run("SecondUseRefused", func(t *testing.T) {
		tok := f.token(t, validHeader(), with(validClaims(), "jti", "once"))
		require.Equal(t, http.StatusNoContent, serve(h, "Bearer "+tok).Code)
		rec := serve(h, "Bearer "+tok)
		require.Equal(t, http.StatusUnauthorized, rec.Code)
		require.Contains(t, rec.Header().Get("WWW-Authenticate"), `error_description="token already used"`)
		require.Contains(t, rec.Body.String(), `"reason":"`+authn.ReasonReplayed+`"`)
	})

	t.Run("ConcurrentPresentations", func(t *testing.T) {
		tok := f.token(t, validHeader(), with(validClaims(), "jti", "raced"))
		const n = 64
		var accepted, refused atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range n {
			wg.Go(func() {
				<-start
				switch serve(h, "Bearer "+tok).Code {
				case http.StatusNoContent:
					accepted.Add(1)
				case http.StatusUnauthorized:
					refused.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		require.Equal(t, int32(1), accepted.Load(), "exactly one presentation may succeed")
		require.Equal(t, int32(n-1), refused.Load())
	})

	t.Run("SurvivesRestart", func(t *testing.T) {
		dir := t.TempDir()
		tok := f.token(t, validHeader(), with(validClaims(), "jti", "durable"))
		first, stop := newReplayStore(t, dir)
		require.Equal(t, http.StatusNoContent, serve(protected(f, authn.WithSingleUse(first)), "Bearer "+tok).Code)
		stop()
		reopened, _ := newReplayStore(t, dir)
		require.Equal(t, http.StatusUnauthorized, serve(protected(f, authn.WithSingleUse(reopened)), "Bearer "+tok).Code)
	})
}

// TestAuthenticate_LogsABoundedReason: a refused token's attacker-chosen
// parts (here a 5 KB crit, a 5 KB path) reach the log cut to a bound.
func TestAuthenticate_LogsABoundedReason(t *testing.T) {
	f := newFixture(t)
	var logs testutil.SyncBuffer
	h := protected(f, authn.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	tok := f.token(t, with(validHeader(), "crit", []string{strings.Repeat("c", 5<<10)}), validClaims())
	req := httptest.NewRequest(http.MethodPost, "/v1/logs/"+strings.Repeat("p", 5<<10), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Contains(t, logs.String(), "token rejected")
	require.Less(t, len(logs.String()), 1<<10, logs.String())
}
