package database

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

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
	if err := os.Chmod(path, 0o600); err != nil {
		f.Close()
		return nil, err
	}
	// One process per file: what a service keeps in memory beside its file
	// (the replay store's set of used ids) is right only if nobody else
	// writes to it. The lock is held while the DB is open.
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	q := url.Values{}
	// auto_vacuum first: it takes effect only in a file without tables, so
	// files made from now on can give the space of purged rows back
	// (GiveSpaceBack); older ones reuse it instead.
	for _, p := range []string{"auto_vacuum(INCREMENTAL)", "journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(5000)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := inTx(ctx, db, func(tx *sql.Tx) error { return migrate(ctx, tx, SQLite, schemas) }); err != nil {
		db.Close()
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := url.Values{}
	for _, p := range []string{"query_only(1)", "busy_timeout(5000)", "temp_store(MEMORY)"} {
		r.Add("_pragma", p)
	}
	reads, err := sql.Open("sqlite", "file:"+path+"?"+r.Encode())
	if err != nil {
		db.Close()
		f.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	reads.SetMaxOpenConns(maxReaders)
	return &DB{DB: db, Dialect: SQLite, lock: f, reads: reads}, nil
}

// maxReaders bounds the read-only connections of a SQLite file: reads run
// beside the writer and each other, as many at once as there are cores
// to run them.
var maxReaders = max(2, runtime.GOMAXPROCS(0))

// GiveSpaceBack returns a SQLite file's free pages to the file system, at
// most step pages a statement so that writers get the connection between
// two. It does nothing on PostgreSQL (whose autovacuum does this) nor on
// files made before incremental auto-vacuum.
func GiveSpaceBack(ctx context.Context, db *DB, step int) error {
	if db.Dialect != SQLite {
		return nil
	}
	var mode int
	if err := db.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil || mode != 2 { // 2: incremental
		return err
	}
	for last := -1; ; {
		var free int
		if err := db.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
			return err
		}
		if free == 0 || free == last { // done, or no progress: stop rather than spin
			return nil
		}
		last = free
		if _, err := db.ExecContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, step)); err != nil {
			return err
		}
	}
}
