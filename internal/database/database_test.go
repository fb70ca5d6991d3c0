package database_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
)

var counters = database.Schema{Name: "counters", Migrations: []database.Migration{
	{SQLite: `CREATE TABLE counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL)`,
		Postgres: `CREATE TABLE counters (name TEXT PRIMARY KEY, n BIGINT NOT NULL)`},
	{SQLite: `INSERT INTO counters VALUES ('a', 1)`, Postgres: `INSERT INTO counters VALUES ('a', 1)`},
}}

func TestOpen_MigratesOnceAndKeepsData(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db, err := database.Open(ctx, url, "test", counters)
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, `UPDATE counters SET n = n + $1 WHERE name = $2`, 41, "a")
		require.NoError(t, err)
		require.NoError(t, db.Close())

		// Reopened: migration 2 must not run again.
		db, err = database.Open(ctx, url, "test", counters)
		require.NoError(t, err)
		defer db.Close()
		var n int
		require.NoError(t, db.QueryRowContext(ctx, `SELECT n FROM counters WHERE name = $1`, "a").Scan(&n))
		require.Equal(t, 42, n)
	})
}

func TestOpen_RefusesADatabaseNewerThanTheBinary(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db, err := database.Open(ctx, url, "test", counters)
		require.NoError(t, err)
		db.Close()
		older := database.Schema{Name: counters.Name, Migrations: counters.Migrations[:1]}
		_, err = database.Open(ctx, url, "test", older)
		require.ErrorContains(t, err, "newer than this binary")
	})
}

// Replicas starting at once must not trip over each other's migrations,
// and services sharing one PostgreSQL database keep separate tables.
func TestOpen_PostgresReplicasAndNamespaces(t *testing.T) {
	url := dbtest.Postgres(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ns := []string{"one", "two"}[i%2]
			db, err := database.Open(ctx, url, ns, counters)
			if err == nil {
				_, err = db.ExecContext(ctx, `UPDATE counters SET n = n + 1`)
				db.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	for _, ns := range []string{"one", "two"} {
		db, err := database.Open(ctx, url, ns, counters)
		require.NoError(t, err)
		var n int
		require.NoError(t, db.QueryRowContext(ctx, `SELECT n FROM counters`).Scan(&n))
		require.Equal(t, 4, n, ns) // 1 from the migration, one per opener
		db.Close()
	}
}

func TestOpen_SQLiteFilesAreOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := database.Open(context.Background(), path, "test", counters)
	require.NoError(t, err)
	_, err = db.Exec("UPDATE counters SET n = 2")
	require.NoError(t, err)
	defer db.Close()
	for _, name := range []string{path, path + "-wal"} {
		info, err := os.Stat(name)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), name)
	}
}

func TestOpen_RejectsBadNamespace(t *testing.T) {
	_, err := database.Open(context.Background(), dbtest.SQLite(t), "x; DROP TABLE y", counters)
	require.Error(t, err)
}

// TestOpen_OneProcessPerSQLiteFile: a SQLite file open here cannot be
// opened again until it is closed, with an error that says why.
func TestOpen_OneProcessPerSQLiteFile(t *testing.T) {
	ctx := context.Background()
	path := dbtest.SQLite(t)
	db, err := database.Open(ctx, path, "test", counters)
	require.NoError(t, err)
	_, err = database.Open(ctx, path, "test", counters)
	require.ErrorContains(t, err, "in use by another process")
	require.NoError(t, db.Close())
	again, err := database.Open(ctx, path, "test", counters)
	require.NoError(t, err)
	require.NoError(t, again.Close())
}
