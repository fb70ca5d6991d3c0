// Package database opens the store a service keeps its durable state in:
// an embedded SQLite file by default, or a PostgreSQL database shared by
// replicas, chosen by a URL. Both speak the same SQL in this project
// ($1-style parameters, RETURNING, ON CONFLICT, savepoints), so a service
// has one code path; only schemas differ, per dialect, in its migrations.
package database

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// DB is an open database and the dialect it speaks.
type DB struct {
	*sql.DB
	Dialect Dialect
	// Timeout bounds each operation a request waits for (Bound);
	// DefaultTimeout if zero.
	Timeout time.Duration

	lock  *os.File // SQLite: the file, locked for this process while open
	reads *sql.DB  // SQLite: read-only connections beside the one writer
}

// Reads is the pool to read from when a read need not see the caller's own
// uncommitted writes. On SQLite its connections are read-only and beside
// the one writer, so that a long read never makes a write wait (WAL lets
// both run at once); on PostgreSQL it is the DB itself.
func (db *DB) Reads() *sql.DB {
	if db.reads != nil {
		return db.reads
	}
	return db.DB
}

// Close closes the database and, on SQLite, lets another process open it.
func (db *DB) Close() error {
	err := db.DB.Close()
	if db.reads != nil {
		err = errors.Join(err, db.reads.Close())
	}
	if db.lock != nil {
		err = errors.Join(err, db.lock.Close())
		db.lock = nil // closing twice is harmless, as for sql.DB
	}
	return err
}

// DefaultTimeout bounds what a request waits for the database: a hung
// database (a stopped process, a lost network) then costs each request
// that long and a 503, never a request held without end. On PostgreSQL it
// is also the server's statement_timeout unless the URL sets one.
const DefaultTimeout = 5 * time.Second

// Bound returns ctx with the database's timeout.
func (db *DB) Bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, cmp.Or(db.Timeout, DefaultTimeout))
}

// Unavailable reports whether err means the database did not answer in
// time or could not be reached, rather than that it refused the request:
// the caller answers 503 with Retry-After, not 500.
func Unavailable(err error) bool {
	var pg *pgconn.PgError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, driver.ErrBadConn), pgconn.Timeout(err):
		return true
	case errors.As(err, &pg):
		// 57014 query_canceled (statement_timeout), class 08 connection
		// exceptions, 57P01..57P03 shutting down or starting.
		return pg.Code == "57014" || strings.HasPrefix(pg.Code, "08") || strings.HasPrefix(pg.Code, "57P")
	case errors.As(err, &netErr):
		return true
	}
	var connect *pgconn.ConnectError
	return errors.As(err, &connect)
}

// Conflicted reports whether err is PostgreSQL aborting a transaction to
// break a deadlock (40P01) or a serialization conflict (40001): the whole
// transaction may be tried again.
func Conflicted(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40P01" || pg.Code == "40001")
}

// Dialect names the database behind a DB.
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// Schema is one component's tables, built by migrations applied in order
// and recorded by version. A released migration is never edited: a change
// is a new migration at the end.
type Schema struct {
	Name       string
	Migrations []Migration
}

// Migration is one step of a schema, in each dialect.
type Migration struct {
	SQLite, Postgres string
}

// Open opens the database at url and brings every schema up to date.
// url is postgres://… (or postgresql://…) for PostgreSQL, where the tables
// live in the PostgreSQL schema namespace so that services may share one
// database; anything else is a SQLite file path.
func Open(ctx context.Context, url, namespace string, schemas ...Schema) (*DB, error) {
	if !validNamespace.MatchString(namespace) {
		return nil, fmt.Errorf("database: namespace %q: want lower-case letters and _", namespace)
	}
	var (
		db  *DB
		err error
	)
	if IsPostgres(url) {
		db, err = openPostgres(ctx, url, namespace, schemas)
	} else {
		db, err = openSQLite(ctx, strings.TrimPrefix(url, "sqlite:"), schemas)
	}
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	return db, nil
}

// IsPostgres reports whether url names a PostgreSQL database.
func IsPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

var validNamespace = regexp.MustCompile(`^[a-z_]{1,32}$`)

// migrate applies the migrations of schemas not yet recorded in tx.
func migrate(ctx context.Context, tx *sql.Tx, d Dialect, schemas []Schema) error {
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component TEXT NOT NULL,
		version   INTEGER NOT NULL,
		PRIMARY KEY (component, version))`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	for _, s := range schemas {
		var applied int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = $1`, s.Name).Scan(&applied); err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		if applied > len(s.Migrations) {
			return fmt.Errorf("%s: the database is at version %d, newer than this binary (%d)", s.Name, applied, len(s.Migrations))
		}
		for i := applied; i < len(s.Migrations); i++ {
			stmt := s.Migrations[i].SQLite
			if d == Postgres {
				stmt = s.Migrations[i].Postgres
			}
			if stmt != "" { // empty: the migration changes the other dialect only
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s migration %d: %w", s.Name, i+1, err)
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (component, version) VALUES ($1, $2)`, s.Name, i+1); err != nil {
				return fmt.Errorf("%s migration %d: %w", s.Name, i+1, err)
			}
		}
	}
	return nil
}

// inTx runs f in a transaction and commits it.
func inTx(ctx context.Context, db *sql.DB, f func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}
