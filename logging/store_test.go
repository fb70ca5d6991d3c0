package logging_test

import (
	"context"
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
		db, err := database.Open(ctx, url, "logging", logging.Schema, replay.Schema)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		store, err := logging.NewStore(ctx, db)
		require.NoError(t, err)
		t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
		// Appended out of time order, as one batch's entries may be.
		for _, at := range []time.Time{t0.Add(2 * time.Second), t0, t0.Add(time.Second)} {
			_, err := store.Append(ctx, logging.Entry{Time: at, Source: "careergpt-backend", Level: "info", Message: at.Format(time.TimeOnly)})
			require.NoError(t, err)
		}
		got, err := store.List(ctx, logging.Filter{Since: t0.Add(time.Second), Limit: 10})
		require.NoError(t, err)
		var times []time.Time
		for _, e := range got {
			times = append(times, e.Time)
		}
		require.Equal(t, []time.Time{t0.Add(time.Second), t0.Add(2 * time.Second)}, times)
	})
}
