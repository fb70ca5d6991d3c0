package database

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// MaxPostgresConns bounds each process's connections, so that replicas of
// every service fit in PostgreSQL's default max_connections (100).
const MaxPostgresConns = 8

// openPostgres opens the database at url with its tables in the schema
// namespace. Replicas may start at once: migrations run under an advisory
// lock, one replica at a time.
func openPostgres(ctx context.Context, url, namespace string, schemas []Schema) (*DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err // pgx's message leaves the password out
	}
	admin := stdlib.OpenDB(*cfg.Copy())
	defer admin.Close()
	err = inTx(ctx, admin, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('s2sjwt migrations'))`); err != nil {
			return err
		}
		// namespace is validated: lower-case letters and _ only.
		if _, err := tx.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+namespace); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `SET LOCAL search_path TO `+namespace); err != nil {
			return err
		}
		return migrate(ctx, tx, Postgres, schemas)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres %s@%s/%s: %w", cfg.User, cfg.Host, cfg.Database, err)
	}
	cfg.RuntimeParams["search_path"] = namespace
	if _, set := cfg.RuntimeParams["statement_timeout"]; !set {
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(DefaultTimeout.Milliseconds(), 10)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(MaxPostgresConns)
	db.SetMaxIdleConns(MaxPostgresConns)
	return &DB{DB: db, Dialect: Postgres}, nil
}
