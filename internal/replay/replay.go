// Package replay remembers which token ids (jti) have been used, durably, so
// a single-use token stays used across restarts.
package replay

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// Schema creates the store's table; pass it to sqlitedb.Open, alone or
// after a service's own schema.
const Schema = `
CREATE TABLE IF NOT EXISTS used_jti (
	jti          TEXT PRIMARY KEY,
	forget_after INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS used_jti_forget_after ON used_jti(forget_after);`

// purgeInterval is how often expired ids are deleted. Between purges they
// cost disk, never correctness: an expired token is refused anyway.
const purgeInterval = time.Minute

// Store is a durable set of used token ids. It implements authn.ReplayGuard.
type Store struct {
	db  *sql.DB
	now func() time.Time

	mu        sync.Mutex
	lastPurge time.Time
}

// New returns a Store on db, which must already hold Schema.
func New(db *sql.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now, lastPurge: now()}
}

// Use records jti and reports whether it was new. The primary key makes the
// check-and-insert one atomic statement: of N concurrent uses exactly one
// inserts a row.
func (s *Store) Use(ctx context.Context, jti string, forgetAfter time.Time) (bool, error) {
	return s.UseTx(ctx, s.db, jti, forgetAfter)
}

// Execer is a database or a transaction.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// UseTx is Use inside the caller's transaction, so that the token's use and
// what it was used for commit together or not at all.
func (s *Store) UseTx(ctx context.Context, tx Execer, jti string, forgetAfter time.Time) (bool, error) {
	s.purgeIfDue(ctx, tx)
	res, err := tx.ExecContext(ctx,
		`INSERT INTO used_jti (jti, forget_after) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING`,
		jti, forgetAfter.Unix()+1) // +1: Unix truncates; never forget early
	if err != nil {
		return false, fmt.Errorf("replay: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("replay: %w", err)
	}
	return n == 1, nil
}

// Purge deletes ids whose tokens can no longer be accepted anyway.
func (s *Store) Purge(ctx context.Context) (int64, error) { return s.purge(ctx, s.db) }

func (s *Store) purge(ctx context.Context, ex Execer) (int64, error) {
	res, err := ex.ExecContext(ctx, `DELETE FROM used_jti WHERE forget_after < ?`, s.now().Unix())
	if err != nil {
		return 0, fmt.Errorf("replay: purge: %w", err)
	}
	return res.RowsAffected()
}

// purgeIfDue purges through ex: with one connection, a purge on the
// database while the caller's transaction holds it would wait forever.
func (s *Store) purgeIfDue(ctx context.Context, ex Execer) {
	s.mu.Lock()
	due := s.now().Sub(s.lastPurge) >= purgeInterval
	if due {
		s.lastPurge = s.now()
	}
	s.mu.Unlock()
	if due {
		_, _ = s.purge(ctx, ex) // best effort; retried next interval
	}
}
