// Package database opens the store a service keeps its durable state in:
// an embedded SQLite file by default, or a PostgreSQL database shared by
// replicas, chosen by a URL. Both speak the same SQL in this project
// ($1-style parameters, RETURNING, ON CONFLICT, savepoints), so a service
// has one code path; only schemas differ, per dialect, in its migrations.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// DB is an open database and the dialect it speaks.
type DB struct {
	*sql.DB
	Dialect Dialect
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
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("%s migration %d: %w", s.Name, i+1, err)
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
