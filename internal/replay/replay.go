// Package replay remembers which token ids (jti) have been used, durably, so
// a single-use token stays used across restarts.
package replay

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
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
//
// Concurrent Use calls share one transaction and so one fsync (group
// commit): while one batch commits, the next gathers, and one of its
// callers commits it. A lone caller commits alone, as before.
type Store struct {
	db  *sql.DB
	now func() time.Time

	mu        sync.Mutex
	lastPurge time.Time
	pending   *batch // gathering while another batch commits
	flushing  bool   // a batch is committing
}

// batch is one group commit's uses.
type batch struct {
	items []use
	err   error
	done  chan struct{} // closed when committed, or failed
	lead  chan struct{} // one token: the caller that takes it commits the batch
}

type use struct {
	jti    string
	forget int64
	first  bool
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
	s.mu.Lock()
	b := s.pending
	if b == nil {
		b = &batch{done: make(chan struct{}), lead: make(chan struct{}, 1)}
		s.pending = b
	}
	i := len(b.items)
	b.items = append(b.items, use{jti: jti, forget: forgetAfter.Unix() + 1}) // +1: Unix truncates; never forget early
	if !s.flushing {
		s.flushing, s.pending = true, nil
		s.mu.Unlock()
		s.commit(ctx, b)
	} else {
		s.mu.Unlock()
		// Not ctx: the batch commits whether or not this caller waits,
		// and a leader token nobody takes would stall the store.
		select {
		case <-b.done:
		case <-b.lead:
			s.commit(ctx, b)
		}
	}
	return b.items[i].first, b.err
}

// commit writes b in one transaction, then hands the next batch, if one
// gathered meanwhile, to one of its callers.
func (s *Store) commit(ctx context.Context, b *batch) {
	// The batch belongs to every caller in it: one leaving fails no other.
	b.err = s.write(context.WithoutCancel(ctx), b.items)
	close(b.done)
	s.mu.Lock()
	next := s.pending
	if next == nil {
		s.flushing = false
	} else {
		s.pending = nil
		next.lead <- struct{}{}
	}
	s.mu.Unlock()
}

func (s *Store) write(ctx context.Context, items []use) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op once committed
	s.purgeIfDue(ctx, tx)
	for start := 0; start < len(items); start += maxRowsPerInsert {
		if err := insertMany(ctx, tx, items[start:min(start+maxRowsPerInsert, len(items))]); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	return nil
}

// Execer is a database or a transaction.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// UseTx is Use inside the caller's transaction, so that the token's use and
// what it was used for commit together or not at all.
func (s *Store) UseTx(ctx context.Context, tx Execer, jti string, forgetAfter time.Time) (bool, error) {
	s.purgeIfDue(ctx, tx)
	return insert(ctx, tx, jti, forgetAfter.Unix()+1)
}

// maxRowsPerInsert keeps a statement's parameters far below SQLite's limit.
const maxRowsPerInsert = 500

// insertMany inserts items in one statement; RETURNING names the ids that
// were new, and of an id listed twice only the first use is.
func insertMany(ctx context.Context, tx *sql.Tx, items []use) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO used_jti (jti, forget_after) VALUES `)
	args := make([]any, 0, 2*len(items))
	for i, it := range items {
		if i > 0 {
			q.WriteString(",")
		}
		q.WriteString("(?, ?)")
		args = append(args, it.jti, it.forget)
	}
	q.WriteString(` ON CONFLICT (jti) DO NOTHING RETURNING jti`)
	rows, err := tx.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer rows.Close()
	inserted := map[string]bool{}
	for rows.Next() {
		var jti string
		if err := rows.Scan(&jti); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		inserted[jti] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	for i := range items {
		items[i].first = inserted[items[i].jti]
		delete(inserted, items[i].jti) // a second use of the same id is a replay
	}
	return nil
}

// insert is the atomic check-and-insert: true if jti was new.
func insert(ctx context.Context, ex Execer, jti string, forget int64) (bool, error) {
	res, err := ex.ExecContext(ctx, `INSERT INTO used_jti (jti, forget_after) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING`, jti, forget)
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
