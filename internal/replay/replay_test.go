package replay_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/replay"
	"github.com/s2sjwt/s2sjwt/internal/sqlitedb"
)

func open(tb testing.TB, now func() time.Time) *replay.Store {
	tb.Helper()
	db, err := sqlitedb.Open(filepath.Join(tb.TempDir(), "replay.db"), replay.Schema)
	require.NoError(tb, err)
	tb.Cleanup(func() { db.Close() })
	return replay.New(db, now)
}

func TestStore_Use(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s := open(t, func() time.Time { return now })

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
	ctx := context.Background()
	s := open(t, nil)
	exp := time.Now().Add(time.Hour)
	var firsts [100]atomic.Int32
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Go(func() {
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
		again, err := s.Use(ctx, fmt.Sprint(id), exp)
		require.NoError(t, err)
		require.False(t, again, "id %d is stored", id)
	}
}

// BenchmarkStore_Use measures durable replay checks (one fsync'd SQLite
// insert each) against an in-memory map check, in the same run:
//
//	go test -run '^$' -bench 'Store_Use' -benchmem ./internal/replay/
func BenchmarkStore_Use(b *testing.B) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	b.Run("InMemoryBaseline", func(b *testing.B) {
		var mu sync.Mutex
		seen := map[string]struct{}{}
		i := 0
		for b.Loop() {
			mu.Lock()
			seen[fmt.Sprint(i)] = struct{}{}
			mu.Unlock()
			i++
		}
	})
	b.Run("SQLite", func(b *testing.B) {
		s := open(b, nil)
		i := 0
		for b.Loop() {
			if _, err := s.Use(ctx, fmt.Sprint(i), exp); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("SQLiteParallel", func(b *testing.B) {
		s := open(b, nil)
		var mu sync.Mutex
		i := 0
		b.SetParallelism(32) // 64 callers on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.Lock()
				i++
				id := fmt.Sprint(i)
				mu.Unlock()
				if _, err := s.Use(ctx, id, exp); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
