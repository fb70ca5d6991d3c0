// Package replay remembers which token ids (jti) have been used, durably, so
// a single-use token stays used across restarts.
//
// Two layouts, one guarantee (of any number of concurrent uses of an id,
// exactly one is first, and only once that is durable):
//
//   - On SQLite, the embedded default, a service is one process. The ids it
//     has seen are a set in memory, and each new one is appended to a
//     journal table, fsynced before the answer, and read back into the set
//     at start. Appends touch the end of the table, where a primary key on
//     random ids dirtied a page of its own per insert (docs/benchmarks.md).
//   - On PostgreSQL, replicas share the store: the id is the primary key of
//     a table and the database decides which use is first.
package replay

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/groupcommit"
)

// Schema is the store's tables; pass it to database.Open with a service's
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
}, {
	// SQLite: the journal replaces the keyed table, with the ids it held.
	// The index on forget_after finds expired ids for a purge; its entries
	// arrive roughly in time order, so inserts into it stay local too.
	SQLite: `CREATE TABLE replay_journal (
		seq          INTEGER PRIMARY KEY,
		jti          TEXT NOT NULL,
		forget_after INTEGER NOT NULL
	);
	CREATE INDEX replay_journal_forget_after ON replay_journal(forget_after);
	INSERT INTO replay_journal (jti, forget_after) SELECT jti, forget_after FROM used_jti;
	DROP TABLE used_jti;`,
}}}

// purgeInterval is how often expired ids are deleted. Between purges they
// cost memory and disk, never correctness: an expired token is refused
// anyway.
const purgeInterval = time.Minute

// Store is a durable set of used token ids. It implements authn.ReplayGuard.
// Concurrent Use calls share one transaction and one fsync (group commit).
//
// On SQLite a database holds one Store: the set in memory is this process's
// (database.Open refuses a file another process has open).
type Store struct {
	db   *database.DB
	now  func() time.Time
	uses *groupcommit.Batcher[*use]
	seen *idSet // SQLite only: every id in the journal, and those being appended

	mu        sync.Mutex
	lastPurge time.Time
}

type use struct {
	jti    string
	forget int64
	first  bool
}

// New returns a Store on db, which must already hold Schema. On SQLite it
// reads the journal's ids.
func New(ctx context.Context, db *database.DB, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	s := &Store{db: db, now: now, lastPurge: now()}
	// One lane on PostgreSQL too: a batch is a single statement, and fewer,
	// larger batches measured faster than overlapping ones (docs/benchmarks.md).
	s.uses = groupcommit.New(1, s.write)
	if db.Dialect == database.SQLite {
		seen, err := loadJournal(ctx, db)
		if err != nil {
			return nil, err
		}
		s.seen = seen
	}
	return s, nil
}

// Measure records the store's batches in m under writer.
func (s *Store) Measure(m *groupcommit.Metrics, writer string) { s.uses.Measure(m, writer) }

// Use records jti and reports whether it was new, once that is durable.
//
// On SQLite the set in memory decides at once: a second use is refused
// without a write, even while the first is still being appended (if that
// append fails, the first use answers an error and the id is free again;
// neither use succeeded). On PostgreSQL the primary key decides.
func (s *Store) Use(ctx context.Context, jti string, forgetAfter time.Time) (bool, error) {
	u := &use{jti: jti, forget: forgetAfter.Unix() + 1} // +1: Unix truncates; never forget early
	if s.seen != nil {
		k := keyOf(jti)
		if !s.seen.claim(k, u.forget) {
			return false, nil
		}
		if err := s.uses.Do(ctx, u); err != nil {
			s.seen.release(k) // a batch that failed was rolled back
			return false, err
		}
		return true, nil
	}
	err := s.uses.Do(ctx, u)
	return u.first, err
}

// write writes a batch of uses, the batch succeeding or failing as one.
func (s *Store) write(ctx context.Context, uses []*use) []error {
	s.purgeIfDue()
	ctx, cancel := s.db.Bound(ctx)
	defer cancel()
	var err error
	switch {
	case s.seen != nil:
		err = appendJournal(ctx, s.db.DB, uses)
	case len(uses) == 1:
		// Alone, one autocommitted statement: a transaction around it is
		// two more round trips on PostgreSQL.
		uses[0].first, err = insert(ctx, s.db, uses[0].jti, uses[0].forget)
	default:
		err = groupcommit.InTx(ctx, s.db.DB, 1, func(tx *sql.Tx, _ int) error {
			for start := 0; start < len(uses); start += maxRowsPerInsert {
				if err := insertMany(ctx, tx, uses[start:min(start+maxRowsPerInsert, len(uses))]); err != nil {
					return err
				}
			}
			return nil
		})[0]
	}
	errs := make([]error, len(uses))
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// errReplayed ends a Work whose id was used before: its savepoint rolls back.
var errReplayed = errors.New("replay: used before")

// UseWith uses jti and runs work in the same transaction of commits, so that
// the token's use and what it was used for are durable together or not at
// all. It reports false, without running work, if jti was used before.
func (s *Store) UseWith(ctx context.Context, commits *groupcommit.Batcher[groupcommit.Work], jti string, forgetAfter time.Time, work func(tx *sql.Tx) error) (bool, error) {
	s.purgeIfDue()
	forget := forgetAfter.Unix() + 1
	if s.seen != nil {
		k := keyOf(jti)
		if !s.seen.claim(k, forget) {
			return false, nil
		}
		err := commits.Do(ctx, groupcommit.Work{Key: jti, Run: func(tx *sql.Tx) error {
			if err := appendOne(ctx, tx, jti, forget); err != nil {
				return err
			}
			return work(tx)
		}})
		if err != nil {
			s.seen.release(k) // its savepoint, or the whole batch, was rolled back
			return false, err
		}
		return true, nil
	}
	err := commits.Do(ctx, groupcommit.Work{Key: jti, Run: func(tx *sql.Tx) error {
		first, err := insert(ctx, tx, jti, forget)
		if err != nil {
			return err
		}
		if !first {
			return errReplayed
		}
		return work(tx)
	}})
	if errors.Is(err, errReplayed) {
		return false, nil
	}
	return err == nil, err
}

// PurgeStep bounds one purge statement. SQLite has one writer, which a
// statement holds to its end: deleting a million expired ids in one stalled
// every check for seconds. In steps, the checks waiting for the connection
// get it between two of them.
const PurgeStep = 2000

// Purge deletes ids whose tokens can no longer be accepted anyway, in
// statements of at most PurgeStep rows (and, on SQLite, from the set in
// memory in steps as small), and reports how many rows it deleted.
func (s *Store) Purge(ctx context.Context) (int64, error) {
	cutoff := s.now().Unix()
	if s.seen != nil {
		s.seen.purge(cutoff, PurgeStep)
		return purgeJournal(ctx, s.db, cutoff)
	}
	return purgeTable(ctx, s.db, cutoff)
}

// purgeTimeout bounds a background purge.
const purgeTimeout = 30 * time.Second

// purgeIfDue starts a purge once per purgeInterval, in the background and
// in statements of its own: never inside a batch's transaction, where on
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
