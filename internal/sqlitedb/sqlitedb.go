// Package sqlitedb opens the embedded, pure-Go SQLite databases that Logging,
// Notification and Identity keep their durable state in.
package sqlitedb

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" driver; pure Go, so binaries stay static
)

// Open opens (creating if needed) the database at path and applies schema.
//
// synchronous=FULL makes a commit durable before Exec returns: an entry the
// service acknowledged survives a crash, and a jti it marked used stays used.
// One connection serialises writers, which SQLite would do anyway, and
// avoids SQLITE_BUSY under concurrent requests. Temporary tables live in
// memory because containers run with a read-only root file system.
func Open(path string, schema string) (*sql.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlitedb: %w", err)
	}
	// Only this service reads its database: create it 0600 (SQLite gives its
	// -wal and -shm files the same mode) and tighten an older one.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlitedb: %w", err)
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("sqlitedb: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(5000)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlitedb: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlitedb: schema for %s: %w", path, err)
	}
	return db, nil
}
