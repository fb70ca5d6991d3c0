package database

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" driver; pure Go, so binaries stay static
)

// openSQLite opens (creating if needed) the file at path.
//
// synchronous=FULL makes a commit durable before it returns: an entry the
// service acknowledged survives a crash, and a jti it marked used stays
// used. One connection serialises writers, which SQLite would do anyway,
// and avoids SQLITE_BUSY under concurrent requests. Temporary tables live
// in memory because containers run with a read-only root file system.
func openSQLite(ctx context.Context, path string, schemas []Schema) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	// Only this service reads its database: create it 0600 (SQLite gives its
	// -wal and -shm files the same mode) and tighten an older one.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(5000)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := inTx(ctx, db, func(tx *sql.Tx) error { return migrate(ctx, tx, SQLite, schemas) }); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &DB{DB: db, Dialect: SQLite}, nil
}
