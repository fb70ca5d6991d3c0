package logging_test

import (
	"cmp"
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/replay"
	"github.com/s2sjwt/s2sjwt/logging"
)

// TestStore_ListSince: entries since a time come oldest first, by time,
// on both databases (the time index, migration 2, exists on each).
func TestStore_ListSince(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		store := openStore(t, url)
		t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
		// Appended out of time order, as one batch's entries may be.
		for _, at := range []time.Time{t0.Add(2 * time.Second), t0, t0.Add(time.Second)} {
			_, err := store.Append(ctx, logging.Entry{Time: at, Source: "careergpt-backend", Level: "info", Message: at.Format(time.TimeOnly)})
			require.NoError(t, err)
		}
		got, err := store.List(ctx, logging.Filter{Since: t0.Add(time.Second), Limit: 10})
		require.NoError(t, err)
		var times []time.Time
		for _, e := range got.Entries {
			times = append(times, e.Time)
		}
		require.Equal(t, []time.Time{t0.Add(time.Second), t0.Add(2 * time.Second)}, times)
	})
}

// TestStore_ListPages: paging with the cursor through every filter, in
// both orders, returns each matching entry once, in (time, id) order, with
// many entries sharing a time and appended out of order.
func TestStore_ListPages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		store, _ := openLog(t, url)
		t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
		var all []logging.Entry
		for i := range 250 {
			e := logging.Entry{Time: t0.Add(time.Duration((i*37)%50) * time.Second), Source: []string{"a", "b"}[i%2], Level: "info", Message: "m"}
			if i%7 == 0 {
				e.Level = "error"
			}
			e, err := store.Append(ctx, e)
			require.NoError(t, err)
			all = append(all, e)
		}
		for _, f := range []logging.Filter{{}, {Source: "a"}, {Level: "error"}, {Source: "a", Level: "error"}, {Since: t0.Add(20 * time.Second)}, {Source: "b", Since: t0.Add(45 * time.Second)}} {
			for _, newest := range []bool{false, true} {
				f.Newest, f.Limit, f.After = newest, 7, logging.Cursor{}
				var want []int64
				for _, e := range sortedEntries(all, newest) {
					if (f.Source == "" || e.Source == f.Source) && (f.Level == "" || e.Level == f.Level) && !e.Time.Before(f.Since) {
						want = append(want, e.ID)
					}
				}
				var got []int64
				for pages := 0; ; pages++ {
					require.Less(t, pages, 100, "the cursor moves on")
					page, err := store.List(ctx, f)
					require.NoError(t, err)
					require.LessOrEqual(t, len(page.Entries), 7)
					for _, e := range page.Entries {
						got = append(got, e.ID)
					}
					if page.Next.IsZero() {
						break
					}
					f.After = page.Next
				}
				require.Equal(t, want, got, "%+v", f)
			}
		}
	})
}

// TestStore_ListBoundsTheScan: with a source and a rare level, a read stops
// after maxScan entries of the source with a cursor, and the next read
// finds the entry after them.
func TestStore_ListBoundsTheScan(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		store, db := openLog(t, url)
		var rows []sourceRow
		for i := range 10_050 {
			rows = append(rows, sourceRow{int64(i), "info", "m"})
		}
		insertForSource(t, db, append(rows, sourceRow{20_000, "error", "rare"}))

		f := logging.Filter{Source: "a", Level: "error", Limit: 10}
		first, err := store.List(ctx, f)
		require.NoError(t, err)
		require.Empty(t, first.Entries, "10,000 entries read, none of them an error")
		require.False(t, first.Next.IsZero(), "and a cursor to go on")
		f.After = first.Next
		second, err := store.List(ctx, f)
		require.NoError(t, err)
		require.Len(t, second.Entries, 1)
		require.Equal(t, "rare", second.Entries[0].Message)
	})
}

func TestParseCursor(t *testing.T) {
	c := logging.Cursor{Time: time.Now().UnixNano(), ID: 42}
	got, err := logging.ParseCursor(c.String())
	require.NoError(t, err)
	require.Equal(t, c, got)
	for _, bad := range []string{"x", "!!", base64.RawURLEncoding.EncodeToString([]byte("1.0")), base64.RawURLEncoding.EncodeToString([]byte("a.1")), strings.Repeat("A", 65)} {
		_, err := logging.ParseCursor(bad)
		require.Error(t, err, bad)
	}
}

func openLog(t *testing.T, url string) (*logging.Store, *database.DB) {
	t.Helper()
	db, err := database.Open(context.Background(), url, "logging", logging.Schema, replay.Schema)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	store, err := logging.NewStore(context.Background(), db)
	require.NoError(t, err)
	return store, db
}

func sortedEntries(es []logging.Entry, newest bool) []logging.Entry {
	es = slices.Clone(es)
	slices.SortFunc(es, func(a, b logging.Entry) int {
		c := cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.ID, b.ID))
		if newest {
			return -c
		}
		return c
	})
	return es
}

// TestStore_ListDoesNotWaitForWrites: on SQLite, with the one writer
// connection held by a transaction (a batch of appends being written), a
// listing still answers, from a read connection of its own.
func TestStore_ListDoesNotWaitForWrites(t *testing.T) {
	ctx := context.Background()
	store, db := openLog(t, dbtest.SQLite(t))
	_, err := store.Append(ctx, logging.Entry{Time: time.Now(), Source: "a", Level: "info", Message: "committed"})
	require.NoError(t, err)
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO entries (time, source, level, message, attributes, jti, client_id) VALUES (1, 'a', 'info', 'uncommitted', '{}', 'j', 'c')`)
	require.NoError(t, err)

	db.Timeout = 2 * time.Second // without a connection of its own, the read would wait this long and fail
	page, err := store.List(ctx, logging.Filter{Limit: 10})
	require.NoError(t, err)
	require.Len(t, page.Entries, 1)
	require.Equal(t, "committed", page.Entries[0].Message, "and sees only what is committed")
}

// TestStore_ListCutAtAFullPage: when the scan's bound falls on the entry
// that fills the page, the page still has a cursor, and the entries after
// it are found.
func TestStore_ListCutAtAFullPage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		store, db := openLog(t, url)
		var rows []sourceRow
		for i := range 10_000 {
			level := map[bool]string{true: "error", false: "info"}[i == 9_999] // the 10,000th of the source
			rows = append(rows, sourceRow{int64(i), level, "m"})
		}
		insertForSource(t, db, append(rows, sourceRow{20_000, "error", "after"}))

		f := logging.Filter{Source: "a", Level: "error", Limit: 1}
		first, err := store.List(ctx, f)
		require.NoError(t, err)
		require.Len(t, first.Entries, 1)
		require.False(t, first.Next.IsZero(), "the scan stopped: there may be more")
		f.After = first.Next
		second, err := store.List(ctx, f)
		require.NoError(t, err)
		require.Len(t, second.Entries, 1)
		require.Equal(t, "after", second.Entries[0].Message)
	})
}

// sourceRow is an entry of source "a" written straight into the table.
type sourceRow struct {
	time           int64
	level, message string
}

// insertForSource writes rows in one transaction, faster than 10,000
// durable appends.
func insertForSource(t *testing.T, db *database.DB, rows []sourceRow) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	for _, r := range rows {
		_, err := tx.ExecContext(ctx, `INSERT INTO entries (time, source, level, message, attributes, jti, client_id) VALUES ($1, 'a', $2, $3, '{}', 'j', 'c')`, r.time, r.level, r.message)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())
}

// TestStore_Actors: a delegated entry keeps its actors in call order; an
// entry its source wrote itself has none.
func TestStore_Actors(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		store := openStore(t, url)
		at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
		_, err := store.Append(ctx, logging.Entry{Time: at, Source: "careergpt-backend", Level: "info", Message: "own"})
		require.NoError(t, err)
		_, err = store.Append(ctx, logging.Entry{Time: at.Add(time.Second), Source: "careergpt-backend", Level: "info", Message: "delegated",
			Actors: []string{"gateway", "notification-backend"}})
		require.NoError(t, err)
		got, err := store.List(ctx, logging.Filter{Source: "careergpt-backend", Limit: 10})
		require.NoError(t, err)
		require.Len(t, got.Entries, 2)
		require.Empty(t, got.Entries[0].Actors)
		require.Equal(t, []string{"gateway", "notification-backend"}, got.Entries[1].Actors)
	})
}

// openStore opens a store on a fresh database at url, closed when t ends.
func openStore(t *testing.T, url string) *logging.Store {
	t.Helper()
	db, err := database.Open(context.Background(), url, "logging", logging.Schema, replay.Schema)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	store, err := logging.NewStore(context.Background(), db)
	require.NoError(t, err)
	return store
}
