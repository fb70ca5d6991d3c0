package logging_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/replay"
	"github.com/s2sjwt/s2sjwt/logging"
)

// BenchmarkStore_List measures one page of GET /v1/logs (100 entries) on
// SQLite logs of 10,000 and 10,000,000 entries: since a minute ago, from a
// cursor in the middle of the log, newest first, and for a source and a
// level that every entry has. The goal: the page at 10 million within 2×
// of the same page at 10,000. Filling 10 million entries takes minutes.
//
//	go test -run '^$' -bench 'Store_List' -benchtime 200x -count 3 -timeout 30m ./logging/
func BenchmarkStore_List(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"10k", 10_000}, {"10M", 10_000_000}} {
		b.Run(size.name, func(b *testing.B) {
			store := sharedLog(b, size.n)
			middle := logging.Cursor{Time: oldest + int64(size.n/2), ID: int64(size.n / 2)}
			for _, read := range []struct {
				name string
				f    logging.Filter
			}{
				{"Since", logging.Filter{Since: time.Unix(0, recent).Add(-time.Minute)}},
				{"Cursor", logging.Filter{After: middle}},
				{"Newest", logging.Filter{Newest: true}},
				{"SourceLevel", logging.Filter{Source: "careergpt-backend", Level: "info", After: middle}},
			} {
				b.Run(read.name, func(b *testing.B) {
					read.f.Limit = 100
					for b.Loop() {
						page, err := store.List(context.Background(), read.f)
						require.NoError(b, err)
						require.Len(b, page.Entries, 100)
					}
				})
			}
		})
	}
}

// sharedLogs keeps filled logs for the benchmark's later counts, so that
// 10 million entries are filled once per run; TestMain removes them.
var sharedLogs = struct {
	stores map[int]*logging.Store
	dirs   []string
}{stores: map[int]*logging.Store{}}

func sharedLog(b *testing.B, n int) *logging.Store {
	if s, ok := sharedLogs.stores[n]; ok {
		return s
	}
	dir, err := os.MkdirTemp("", "list-bench")
	require.NoError(b, err)
	sharedLogs.dirs = append(sharedLogs.dirs, dir)
	_, store := fillLog(b, filepath.Join(dir, "logging.db"), n)
	sharedLogs.stores[n] = store
	return store
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range sharedLogs.dirs {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// oldest is the time of a filled log's first entry, recent that of its
// last 1,000 (fixed: filling 10 million takes minutes).
var oldest, recent = time.Now().Add(-30 * 24 * time.Hour).UnixNano(), time.Now().UnixNano()

// fillLog makes a SQLite log of n entries at path, all old but the last
// 1,000, one entry a nanosecond from oldest.
func fillLog(b *testing.B, path string, n int) (*database.DB, *logging.Store) {
	db, err := database.Open(context.Background(), path, "logging", logging.Schema, replay.Schema)
	require.NoError(b, err)
	tx, err := db.Begin()
	require.NoError(b, err)
	const perStatement = 500
	for i := 0; i < n; i += perStatement {
		var q strings.Builder
		q.WriteString("INSERT INTO entries (time, source, level, message, attributes, jti, client_id) VALUES ")
		args := make([]any, 0, 2*perStatement)
		for j := range perStatement {
			if j > 0 {
				q.WriteString(", ")
			}
			at := oldest + int64(i+j)
			if i+j >= n-1000 {
				at = recent
			}
			q.WriteString("($" + strconv.Itoa(2*j+1) + ", 'careergpt-backend', 'info', 'an entry', '{}', $" + strconv.Itoa(2*j+2) + ", 'careergpt-backend')")
			args = append(args, at, "jti-"+strconv.Itoa(i+j))
		}
		_, err := tx.Exec(q.String(), args...)
		require.NoError(b, err)
	}
	require.NoError(b, tx.Commit())
	store, err := logging.NewStore(context.Background(), db)
	require.NoError(b, err)
	return db, store
}
