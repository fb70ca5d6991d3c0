// Package replay remembers which token ids (jti) have been used, durably, so
// a single-use token stays used across restarts.
package replay

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/groupcommit"
)

// Schema is the store's table; pass it to database.Open with a service's
// own schemas.
var Schema = database.Schema{Name: "replay", Migrations: []database.Migration{{
	// IF NOT EXISTS: SQLite files made before migrations already have it.
	SQLite: `CREATE TABLE IF NOT EXISTS used_jti (
		jti          TEXT PRIMARY KEY,
		forget_after INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE INDEX IF NOT EXISTS used_jti_forget_after ON used_jti(forget_after);`,
	Postgres: `CREATE TABLE used_jti (
		jti          TEXT PRIMARY KEY,
		forget_after BIGINT NOT NULL
	);
	CREATE INDEX used_jti_forget_after ON used_jti(forget_after);`,
}}}

// purgeInterval is how often expired ids are deleted. Between purges they
// cost disk, never correctness: an expired token is refused anyway.
const purgeInterval = time.Minute

// Store is a durable set of used token ids. It implements authn.ReplayGuard.
// Concurrent Use calls share one transaction, one statement and one fsync
// (group commit).
type Store struct {
	db   *database.DB
	now  func() time.Time
	uses *groupcommit.Batcher[*use]

	mu        sync.Mutex
	lastPurge time.Time
}

type use struct {
	jti    string
	forget int64
	first  bool
}

// New returns a Store on db, which must already hold Schema.
func New(db *database.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	s := &Store{db: db, now: now, lastPurge: now()}
	// One lane on PostgreSQL too: a batch is a single statement, and fewer,
	// larger batches measured faster than overlapping ones (docs/benchmarks.md).
	s.uses = groupcommit.New(1, s.write)
	return s
}

// Measure records the store's batches in m under writer.
func (s *Store) Measure(m *groupcommit.Metrics, writer string) { s.uses.Measure(m, writer) }

// Use records jti and reports whether it was new, once that is durable.
// The primary key makes the check-and-insert atomic: of N concurrent uses
// exactly one inserts a row.
func (s *Store) Use(ctx context.Context, jti string, forgetAfter time.Time) (bool, error) {
	u := &use{jti: jti, forget: forgetAfter.Unix() + 1} // +1: Unix truncates; never forget early
	err := s.uses.Do(ctx, u)
	return u.first, err
}

// write inserts a batch of uses in one transaction, 500 rows a statement;
// the batch succeeds or fails as one.
func (s *Store) write(ctx context.Context, uses []*use) []error {
	s.purgeIfDue()
	ctx, cancel := s.db.Bound(ctx)
	defer cancel()
	if len(uses) == 1 {
		// Alone, one autocommitted statement: a transaction around it
		// measured 80 µs slower on SQLite, and is two more round trips on
		// PostgreSQL.
		first, err := insert(ctx, s.db, uses[0].jti, uses[0].forget)
		uses[0].first = first
		return []error{err}
	}
	err := groupcommit.InTx(ctx, s.db.DB, 1, func(tx *sql.Tx, _ int) error {
		for start := 0; start < len(uses); start += maxRowsPerInsert {
			if err := insertMany(ctx, tx, uses[start:min(start+maxRowsPerInsert, len(uses))]); err != nil {
				return err
			}
		}
		return nil
	})[0]
	errs := make([]error, len(uses))
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// Execer is a database or a transaction.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// UseTx is Use inside the caller's transaction, so that the token's use and
// what it was used for commit together or not at all.
func (s *Store) UseTx(ctx context.Context, tx Execer, jti string, forgetAfter time.Time) (bool, error) {
	s.purgeIfDue()
	return insert(ctx, tx, jti, forgetAfter.Unix()+1)
}

// maxRowsPerInsert keeps a statement's parameters far below either
// database's limit.
const maxRowsPerInsert = 500

// insertMany inserts items in one statement; RETURNING names the ids that
// were new, and of an id listed twice only the first use is. Rows go in in
// jti order: replicas inserting overlapping batches into a shared
// PostgreSQL table then take their row locks in the same order and cannot
// deadlock.
func insertMany(ctx context.Context, tx *sql.Tx, items []*use) error {
	sorted := slices.SortedStableFunc(slices.Values(items), func(a, b *use) int { return strings.Compare(a.jti, b.jti) })
	var q strings.Builder
	q.WriteString(`INSERT INTO used_jti (jti, forget_after) VALUES `)
	args := make([]any, 0, 2*len(items))
	for i, it := range sorted {
		if i > 0 {
			q.WriteString(",")
		}
		q.WriteString("($" + strconv.Itoa(2*i+1) + ", $" + strconv.Itoa(2*i+2) + ")")
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
	res, err := ex.ExecContext(ctx, `INSERT INTO used_jti (jti, forget_after) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING`, jti, forget)
	if err != nil {
		return false, fmt.Errorf("replay: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("replay: %w", err)
	}
	return n == 1, nil
}

// PurgeStep bounds one purge statement. SQLite has one writer, which a
// statement holds to its end: deleting a million expired ids in one stalled
// every check for seconds. In steps, the checks waiting for the connection
// get it between two of them.
const PurgeStep = 2000

// Purge deletes ids whose tokens can no longer be accepted anyway, in
// statements of at most PurgeStep rows.
func (s *Store) Purge(ctx context.Context) (int64, error) {
	cutoff := s.now().Unix()
	var total int64
	for {
		res, err := s.db.ExecContext(ctx,
			`DELETE FROM used_jti WHERE jti IN (SELECT jti FROM used_jti WHERE forget_after < $1 LIMIT $2)`, cutoff, PurgeStep)
		if err != nil {
			return total, fmt.Errorf("replay: purge: %w", err)
		}
		n, err := res.RowsAffected()
		total += n
		if err != nil || n < PurgeStep {
			return total, err
		}
	}
}

// purgeTimeout bounds a background purge.
const purgeTimeout = 30 * time.Second

// purgeIfDue starts a purge once per purgeInterval, in the background and
// in a statement of its own: never inside a batch's transaction, where on
// PostgreSQL its row locks could meet another replica's inserts, and with
// SQLite's one connection it simply waits for that transaction to end.
func (s *Store) purgeIfDue() {
	s.mu.Lock()
	due := s.now().Sub(s.lastPurge) >= purgeInterval
	if due {
		s.lastPurge = s.now()
	}
	s.mu.Unlock()
	if due {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), purgeTimeout)
			defer cancel()
			_, _ = s.Purge(ctx) // best effort; tried again next interval
		}()
	}
}
