package runner

import (
	"context"
	"errors"
	"flag"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/database"
)

// Database is where a service keeps its state: a SQLite file of its own
// by default, or PostgreSQL, which replicas of the service share.
type Database struct {
	URL string
	// Timeout bounds each operation a request waits for.
	Timeout time.Duration
}

// Flags registers DATABASE_URL and DATABASE_TIMEOUT. The URL is a secret
// (it may hold a password), so -h shows no default.
func (d *Database) Flags(fs *flag.FlagSet, env Env) {
	d.URL = env("DATABASE_URL", "")
	fs.Var(secretValue{&d.URL}, "database-url", "postgres://… shared by replicas; empty: a SQLite file in the data directory (env DATABASE_URL)")
	DurationFlag(fs, env, &d.Timeout, "database-timeout", "DATABASE_TIMEOUT", database.DefaultTimeout,
		"longest a request waits for the database before it is answered 503")
}

// Open opens d.URL, or else the SQLite file sqlitePath, with the schemas
// in namespace.
func (d Database) Open(ctx context.Context, sqlitePath, namespace string, schemas ...database.Schema) (*database.DB, error) {
	url := d.URL
	if url == "" {
		url = sqlitePath
	} else if !database.IsPostgres(url) {
		return nil, errors.New("DATABASE_URL: want postgres://… (or nothing, for SQLite)")
	}
	db, err := database.Open(ctx, url, namespace, schemas...)
	if err == nil {
		db.Timeout = d.Timeout
	}
	return db, err
}
