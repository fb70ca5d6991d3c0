// Package dbtest gives tests fresh databases of each kind the services
// run on: a SQLite file, and a PostgreSQL database on the server named by
// TEST_DATABASE_URL (.ci/postgres starts one on loopback).
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/stretchr/testify/require"
)

// Each runs f as a subtest on a fresh SQLite file and on a fresh
// PostgreSQL database.
func Each(t *testing.T, f func(t *testing.T, url string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { f(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, Postgres(t)) })
}

// SQLite returns the path of a SQLite file in a temporary directory.
func SQLite(tb testing.TB) string {
	return filepath.Join(tb.TempDir(), "test.db")
}

// Postgres creates an empty database, dropped when tb ends, and returns its
// URL. Without TEST_DATABASE_URL it skips tb, unless REQUIRE_POSTGRES=1
// (as in CI), where that is a failure.
func Postgres(tb testing.TB) string {
	tb.Helper()
	server := os.Getenv("TEST_DATABASE_URL")
	if server == "" {
		if os.Getenv("REQUIRE_POSTGRES") == "1" {
			tb.Fatal("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is empty (.ci/postgres prints one)")
		}
		tb.Skip("no PostgreSQL: set TEST_DATABASE_URL (.ci/postgres starts one), or REQUIRE_POSTGRES=1 to fail instead")
	}
	u, err := url.Parse(server)
	require.NoError(tb, err)
	admin, err := sql.Open("pgx", server)
	require.NoError(tb, err)
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := "s2sjwt_test_" + hex.EncodeToString(randomBytes(6))
	_, err = admin.ExecContext(ctx, "CREATE DATABASE "+name)
	require.NoError(tb, err, "TEST_DATABASE_URL's role must be allowed to create databases")
	tb.Cleanup(func() {
		admin, err := sql.Open("pgx", server)
		if err != nil {
			return
		}
		defer admin.Close()
		_, err = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		if err != nil {
			tb.Logf("dropping %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
