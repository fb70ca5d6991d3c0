package logging_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/replay"
	"github.com/s2sjwt/s2sjwt/logging"
)

// BenchmarkStore_ListRecent measures GET /v1/logs?since=<a minute ago>
// against a million entries on SQLite, with the time index and, in the
// same run, without it (dropped), as before the migration that adds it.
//
//	go test -run '^$' -bench 'Store_ListRecent' -benchtime 20x -count 3 ./logging/
func BenchmarkStore_ListRecent(b *testing.B) {
	const entries = 1_000_000
	db, store := filledLog(b, entries)
	since := time.Now().Add(-time.Minute)
	for _, variant := range []string{"WithIndex", "WithoutIndex"} {
		b.Run(variant, func(b *testing.B) {
			if variant == "WithoutIndex" {
				_, err := db.Exec(`DROP INDEX IF EXISTS entries_time`)
				require.NoError(b, err)
			}
			for b.Loop() {
				got, err := store.List(context.Background(), logging.Filter{Since: since, Limit: 100})
				require.NoError(b, err)
				require.Len(b, got, 100)
			}
		})
	}
}

// filledLog is a SQLite log of n entries, all old but the last 1,000.
func filledLog(b *testing.B, n int) (*database.DB, *logging.Store) {
	b.Helper()
	db, err := database.Open(context.Background(), dbtest.SQLite(b), "logging", logging.Schema, replay.Schema)
	require.NoError(b, err)
	b.Cleanup(func() { db.Close() })
	old, recent := time.Now().Add(-30*24*time.Hour).UnixNano(), time.Now().UnixNano()
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
			at := old + int64(i+j)
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
