package sqlitedb_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/sqlitedb"
)

func TestOpen_FilesAreOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := sqlitedb.Open(path, "CREATE TABLE t (v INTEGER);")
	require.NoError(t, err)
	_, err = db.Exec("INSERT INTO t VALUES (1)")
	require.NoError(t, err)
	defer db.Close()
	for _, name := range []string{path, path + "-wal"} {
		info, err := os.Stat(name)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), name)
	}
}
