package groupcommit_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/groupcommit"
)

var errRefused = errors.New("refused by the writer")

// TestNewTx_WritersShareCommitsButNotFailures: 200 concurrent writers, every
// tenth of which fails after writing: exactly the others' rows are stored,
// and each writer gets its own result.
func TestNewTx_WritersShareCommitsButNotFailures(t *testing.T) {
	dbtest.Each(t, testWritersShareCommitsButNotFailures)
}

var table = database.Schema{Name: "t", Migrations: []database.Migration{{
	SQLite: `CREATE TABLE t (v INTEGER PRIMARY KEY)`, Postgres: `CREATE TABLE t (v INTEGER PRIMARY KEY)`,
}}}

func testWritersShareCommitsButNotFailures(t *testing.T, url string) {
	ctx := context.Background()
	db, err := database.Open(ctx, url, "groupcommit", table)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	c := groupcommit.NewTx(db)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			err := c.Do(ctx, groupcommit.Work{Run: func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO t (v) VALUES ($1)", i); err != nil {
					return err
				}
				if i%10 == 0 {
					return fmt.Errorf("writer %d: %w", i, errRefused)
				}
				return nil
			}})
			if i%10 == 0 {
				assert.ErrorIs(t, err, errRefused)
			} else {
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	var n, failedRows int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM t").Scan(&n))
	require.NoError(t, db.QueryRow("SELECT count(*) FROM t WHERE v % 10 = 0").Scan(&failedRows))
	require.Equal(t, 180, n)
	require.Zero(t, failedRows, "a failing writer's own work is undone")
}

// TestBatcher_AtMostLanesBatchesAtOnce: with three lanes, 300 concurrent
// writers see up to three batches written at once, never more, and every
// item written exactly once.
func TestBatcher_AtMostLanesBatchesAtOnce(t *testing.T) {
	var mu sync.Mutex
	inFlight, most := 0, 0
	written := map[int]int{}
	c := groupcommit.New(3, func(_ context.Context, items []int) []error {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		for _, it := range items {
			written[it]++
		}
		mu.Unlock()
		time.Sleep(2 * time.Millisecond) // a commit
		mu.Lock()
		inFlight--
		mu.Unlock()
		return make([]error, len(items))
	})
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() { require.NoError(t, c.Do(context.Background(), i)) })
	}
	wg.Wait()
	require.Equal(t, 3, most, "three lanes, all used")
	require.Len(t, written, 300)
	for i, n := range written {
		require.Equal(t, 1, n, "item %d", i)
	}
}

// TestNewTx_WorksRunInKeyOrder: within each shared transaction the works
// run in Key order, whatever order their writers came in, so that batches
// locking rows by key cannot deadlock one another; each still gets its own
// result.
func TestNewTx_WorksRunInKeyOrder(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db, err := database.Open(ctx, url, "groupcommit", table)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		c := groupcommit.NewTx(db)
		var mu sync.Mutex
		ran := map[*sql.Tx][]string{}
		var wg sync.WaitGroup
		for i := range 200 {
			key := fmt.Sprintf("%03d", (i*37)%200) // arrival order is not key order
			wg.Go(func() {
				err := c.Do(ctx, groupcommit.Work{Key: key, Run: func(tx *sql.Tx) error {
					mu.Lock()
					ran[tx] = append(ran[tx], key)
					mu.Unlock()
					if key == "007" {
						return errRefused
					}
					return nil
				}})
				if key == "007" {
					assert.ErrorIs(t, err, errRefused)
				} else {
					assert.NoError(t, err)
				}
			})
		}
		wg.Wait()
		batched := 0
		for _, keys := range ran {
			require.True(t, slices.IsSorted(keys), "%v", keys)
			if len(keys) > 1 {
				batched++
			}
		}
		require.Positive(t, batched, "some writers shared a transaction")
	})
}
