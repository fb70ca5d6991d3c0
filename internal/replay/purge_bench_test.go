package replay_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/replay"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// BenchmarkPurge_CheckLatency measures what a purge of a million expired
// ids costs the checks that arrive meanwhile, on SQLite: one check after
// another while the purge runs, their longest and median wait reported,
// for the stepwise purge and, in the same run, for the one statement it
// replaced. Ids are random and as long as the ones Identity issues.
//
//	go test -run '^$' -bench 'Purge_CheckLatency' -benchtime 1x -count 3 ./internal/replay/
func BenchmarkPurge_CheckLatency(b *testing.B) {
	const expired = 1_000_000
	for _, mode := range []string{"Steps", "OneStatement"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				db, s, now := filledStore(b, expired)
				b.StartTimer()
				purge := func() error {
					if mode == "Steps" {
						_, err := s.Purge(context.Background())
						return err
					}
					_, err := db.Exec(`DELETE FROM replay_journal WHERE forget_after < $1`, now.Unix())
					return err
				}
				done := make(chan error, 1)
				start := time.Now()
				go func() { done <- purge() }()
				var waits []time.Duration
				for running := true; running; {
					select {
					case err := <-done:
						require.NoError(b, err)
						running = false
					default:
					}
					t := time.Now()
					_, err := s.Use(context.Background(), randomJTI(), now.Add(time.Hour))
					require.NoError(b, err)
					waits = append(waits, time.Since(t))
				}
				b.ReportMetric(time.Since(start).Seconds(), "purge-s")
				slices.Sort(waits)
				b.ReportMetric(float64(waits[len(waits)-1].Microseconds())/1000, "max-check-ms")
				b.ReportMetric(float64(waits[len(waits)*99/100].Microseconds())/1000, "p99-check-ms")
				b.ReportMetric(float64(waits[len(waits)/2].Microseconds())/1000, "p50-check-ms")
				b.ReportMetric(float64(len(waits)), "checks")
			}
		})
	}
}

// filledStore is a SQLite store holding n random ids, all expired by the
// time it returns; now is that time.
func filledStore(b testing.TB, n int) (*database.DB, *replay.Store, time.Time) {
	b.Helper()
	db, err := database.Open(context.Background(), dbtest.SQLite(b), "replay", replay.Schema)
	require.NoError(b, err)
	b.Cleanup(func() { db.Close() })
	past := time.Now().Add(-time.Hour).Unix()
	tx, err := db.Begin()
	require.NoError(b, err)
	const perStatement = 500
	for i := 0; i < n; i += perStatement {
		var q strings.Builder
		q.WriteString("INSERT INTO replay_journal (jti, forget_after) VALUES ")
		args := make([]any, 0, 2*perStatement)
		for j := range perStatement {
			if j > 0 {
				q.WriteString(", ")
			}
			q.WriteString("($" + strconv.Itoa(2*j+1) + ", $" + strconv.Itoa(2*j+2) + ")")
			args = append(args, randomJTI(), past)
		}
		_, err := tx.Exec(q.String(), args...)
		require.NoError(b, err)
	}
	require.NoError(b, tx.Commit())
	now := time.Now()
	return db, testutil.Replay(b, db, func() time.Time { return now }), now
}

// randomJTI is 128 random bits, base64url: the jti Identity issues.
func randomJTI() string {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// BenchmarkStore_Open measures what a SQLite store's set in memory costs:
// the time to read a journal of a million random ids at start, and the
// heap each id takes.
//
//	go test -run '^$' -bench 'Store_Open' -benchtime 3x -count 3 ./internal/replay/
func BenchmarkStore_Open(b *testing.B) {
	const ids = 1_000_000
	db, _, _ := filledStore(b, ids)
	var before, after runtime.MemStats
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		s, err := replay.New(context.Background(), db, nil)
		require.NoError(b, err)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/ids, "heap-B/id")
		runtime.KeepAlive(s)
	}
}
