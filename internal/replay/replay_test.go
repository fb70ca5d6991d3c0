package replay_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/groupcommit"
	"github.com/s2sjwt/s2sjwt/internal/replay"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// open opens a Store on the database at url; several on one PostgreSQL
// database are replicas of one service.
func open(tb testing.TB, url string, now func() time.Time) *replay.Store {
	tb.Helper()
	return testutil.Replay(tb, openDB(tb, url), now)
}

// openDB opens the database at url with the store's schema.
func openDB(tb testing.TB, url string) *database.DB {
	tb.Helper()
	db, err := database.Open(context.Background(), url, "replay", replay.Schema)
	require.NoError(tb, err)
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestStore_Use(t *testing.T) {
	dbtest.Each(t, testStoreUse)
}

func testStoreUse(t *testing.T, url string) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s := open(t, url, func() time.Time { return now })

	first, err := s.Use(ctx, "a", now.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, first)
	again, err := s.Use(ctx, "a", now.Add(time.Minute))
	require.NoError(t, err)
	require.False(t, again)

	now = now.Add(2 * time.Minute)
	n, err := s.Purge(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "ids past forget-after are purged")
}

// TestStore_UseConcurrently: of 1,000 concurrent uses of 100 ids, sharing
// group commits, exactly one per id is first, and every id is stored.
func TestStore_UseConcurrently(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		s := open(t, url, nil)
		useConcurrently(t, []*replay.Store{s})
	})
}

// TestStore_ReplicasShareUses: two Stores on one PostgreSQL database, as
// two replicas of a service, with 1,000 uses of 100 ids spread over both:
// exactly one use per id is first, whichever replica it reached.
func TestStore_ReplicasShareUses(t *testing.T) {
	url := dbtest.Postgres(t)
	useConcurrently(t, []*replay.Store{open(t, url, nil), open(t, url, nil)})
}

func useConcurrently(t *testing.T, replicas []*replay.Store) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	var firsts [100]atomic.Int32
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Go(func() {
			s := replicas[i%len(replicas)]
			first, err := s.Use(ctx, fmt.Sprint(i%100), exp)
			assert.NoError(t, err)
			if first {
				firsts[i%100].Add(1)
			}
		})
	}
	wg.Wait()
	for id := range firsts {
		require.Equal(t, int32(1), firsts[id].Load(), "id %d", id)
		for _, s := range replicas {
			again, err := s.Use(ctx, fmt.Sprint(id), exp)
			require.NoError(t, err)
			require.False(t, again, "id %d is stored", id)
		}
	}
}

// BenchmarkStore_Use measures durable replay checks on SQLite and, with
// TEST_DATABASE_URL, PostgreSQL, against an in-memory map check, with ids
// shaped like the ones Identity issues (Random: 128 random bits, base64url,
// 22 characters) and, in the same run, sequential ids of the same length,
// whose inserts all land on the B-tree's last page: the difference is what
// random ids cost.
//
//	go test -run '^$' -bench 'Store_Use' -benchtime 2s -count 3 ./internal/replay/
func BenchmarkStore_Use(b *testing.B) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	b.Run("InMemoryBaseline", func(b *testing.B) {
		var mu sync.Mutex
		seen := map[string]struct{}{}
		for b.Loop() {
			id := randomJTI()
			mu.Lock()
			seen[id] = struct{}{}
			mu.Unlock()
		}
	})
	ids := map[string]func() func() string{
		"Random":       func() func() string { return randomJTI },
		"Sequential22": sequentialJTIs,
	}
	for _, backend := range []struct {
		name string
		url  func(testing.TB) string
	}{{"SQLite", dbtest.SQLite}, {"Postgres", dbtest.Postgres}} {
		for _, shape := range []string{"Random", "Sequential22"} {
			b.Run(backend.name+"/"+shape, func(b *testing.B) {
				s, next := open(b, backend.url(b), nil), ids[shape]()
				for b.Loop() {
					if _, err := s.Use(ctx, next(), exp); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(backend.name+"Parallel/"+shape, func(b *testing.B) {
				benchmarkParallel(b, open(b, backend.url(b), nil), ids[shape]())
			})
		}
	}
}

// sequentialJTIs returns ids as long as Identity's, in ascending order.
func sequentialJTIs() func() string {
	var mu sync.Mutex
	i := 0
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		i++
		return fmt.Sprintf("%022d", i)
	}
}

func benchmarkParallel(b *testing.B, s *replay.Store, next func() string) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	b.SetParallelism(32) // 64 callers on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Use(ctx, next(), exp); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestStore_PurgesInTheBackground: once the purge interval has passed, a
// check starts a purge of expired ids in a statement of its own.
func TestStore_PurgesInTheBackground(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		clk := testutil.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
		db := openDB(t, url)
		s := testutil.Replay(t, db, clk.Now)
		_, err := s.Use(ctx, "old", clk.Now().Add(time.Second))
		require.NoError(t, err)
		clk.Advance(2 * time.Minute)
		_, err = s.Use(ctx, "new", clk.Now().Add(time.Minute))
		require.NoError(t, err)
		table := map[database.Dialect]string{database.SQLite: "replay_journal", database.Postgres: "used_jti"}[db.Dialect]
		require.Eventually(t, func() bool {
			var n int
			return db.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE jti = 'old'`).Scan(&n) == nil && n == 0
		}, 5*time.Second, 10*time.Millisecond, "the expired id is purged")
	})
}

// TestStore_PurgeInSteps: a purge of more expired ids than one step holds
// removes them all, in steps, and none that may still be needed.
func TestStore_PurgeInSteps(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
		s := open(t, url, func() time.Time { return now })
		expired := 2*replay.PurgeStep + 17
		var wg sync.WaitGroup
		for i := range expired + 5 {
			forget := now.Add(time.Second)
			if i >= expired {
				forget = now.Add(time.Hour)
			}
			wg.Go(func() {
				_, err := s.Use(ctx, fmt.Sprintf("jti-%05d", i), forget)
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		now = now.Add(time.Minute)
		n, err := s.Purge(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(expired), n)
		for i := expired; i < expired+5; i++ {
			first, err := s.Use(ctx, fmt.Sprintf("jti-%05d", i), now.Add(time.Hour))
			require.NoError(t, err)
			require.False(t, first, "an id still needed survives the purge")
		}
	})
}

// TestStore_FailedUseFreesTheID: a use whose write fails answers the error
// and leaves the id unused, so that the caller's retry with the same token
// is not refused as a replay; a purge frees expired ids from memory too.
func TestStore_FailedUseFreesTheID(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db := openDB(t, url)
		now := time.Now()
		s := testutil.Replay(t, db, func() time.Time { return now })

		db.Timeout = time.Nanosecond // every write now misses its deadline
		_, err := s.Use(ctx, "retried", now.Add(time.Minute))
		require.Error(t, err)
		db.Timeout = 0
		first, err := s.Use(ctx, "retried", now.Add(time.Minute))
		require.NoError(t, err)
		require.True(t, first, "the failed use did not count")

		now = now.Add(2 * time.Minute)
		_, err = s.Purge(ctx)
		require.NoError(t, err)
		first, err = s.Use(ctx, "retried", now.Add(time.Minute))
		require.NoError(t, err)
		require.True(t, first, "a purged id is forgotten, in memory as on disk")
	})
}

// TestStore_KeepsIDsOfTheKeyedTable: a SQLite file whose ids are in the
// table that came before the journal keeps them used after the upgrade.
func TestStore_KeepsIDsOfTheKeyedTable(t *testing.T) {
	ctx := context.Background()
	path := dbtest.SQLite(t)
	before := database.Schema{Name: "replay", Migrations: replay.Schema.Migrations[:1]}
	db, err := database.Open(ctx, path, "replay", before)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO used_jti (jti, forget_after) VALUES ('used-before', $1)`, time.Now().Add(time.Hour).Unix())
	require.NoError(t, err)
	require.NoError(t, db.Close())

	s := open(t, path, nil)
	first, err := s.Use(ctx, "used-before", time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.False(t, first)
}

// TestStore_GivesSpaceBack: after a purge of most of its ids, a SQLite
// file shrinks, in steps, to about what the ids still needed take.
func TestStore_GivesSpaceBack(t *testing.T) {
	ctx := context.Background()
	db, s, now := filledStore(t, 50_000)
	size := func() (pages int) {
		require.NoError(t, db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages))
		return pages
	}
	full := size()
	_, err := s.Use(ctx, "still needed", now.Add(time.Hour))
	require.NoError(t, err)
	_, err = s.Purge(ctx)
	require.NoError(t, err)
	require.Less(t, size(), full/10, "from %d pages", full)
	first, err := s.Use(ctx, "still needed", now.Add(time.Hour))
	require.NoError(t, err)
	require.False(t, first)
}

// TestStore_UseWith: the use and the caller's work commit together: work
// that fails leaves the id unused, a replay does not run the work, and of
// concurrent uses one runs it.
func TestStore_UseWith(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db := openDB(t, url)
		s, commits := testutil.Replay(t, db, nil), groupcommit.NewTx(db)
		exp := time.Now().Add(time.Hour)
		var ran atomic.Int32
		work := func(*sql.Tx) error { ran.Add(1); return nil }

		_, err := s.UseWith(ctx, commits, "a", exp, func(*sql.Tx) error { return errors.New("refused") })
		require.Error(t, err)
		first, err := s.UseWith(ctx, commits, "a", exp, work)
		require.NoError(t, err)
		require.True(t, first, "the failed work took the id with it")
		first, err = s.UseWith(ctx, commits, "a", exp, work)
		require.NoError(t, err)
		require.False(t, first)
		require.Equal(t, int32(1), ran.Load(), "a replay runs no work")

		var firsts atomic.Int32
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				first, err := s.UseWith(ctx, commits, "b", exp, work)
				assert.NoError(t, err)
				if first {
					firsts.Add(1)
				}
			})
		}
		wg.Wait()
		require.Equal(t, int32(1), firsts.Load())
		require.Equal(t, int32(2), ran.Load())
	})
}
