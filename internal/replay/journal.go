package replay

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"sync"

	"github.com/s2sjwt/s2sjwt/internal/database"
)

// idKey is an id as the set in memory keeps it: the first 128 bits of its
// SHA-256, so that an entry costs the same whatever the id's length, and
// two ids share a key only by a collision nobody can find.
type idKey [16]byte

func keyOf(jti string) idKey {
	sum := sha256.Sum256([]byte(jti))
	return idKey(sum[:16])
}

// idSet is the SQLite store's ids in memory, each with the Unix second
// after which it may be forgotten. Its size is the live set: every id whose
// token may still be accepted, about the accepted rate times the longest
// lifetime plus leeway (at 20,000 new ids a second and tokens of 5 minutes,
// 6 million ids, some 300 MB; docs/benchmarks.md measures it).
type idSet struct {
	mu  sync.Mutex
	ids map[idKey]int64
	// byMinute lists each minute's ids by their forget-after, so that a
	// purge visits the expired ones only, a step at a time.
	byMinute map[int64][]idKey
}

func newIDSet() *idSet {
	return &idSet{ids: map[idKey]int64{}, byMinute: map[int64][]idKey{}}
}

// claim adds k unless it is there already, and reports whether it added it.
func (s *idSet) claim(k idKey, forget int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, used := s.ids[k]; used {
		return false
	}
	s.ids[k] = forget
	m := forget / 60
	s.byMinute[m] = append(s.byMinute[m], k)
	return true
}

// release forgets a claim whose write failed. Its entry in byMinute stays
// until a purge, which checks the set before deleting anything.
func (s *idSet) release(k idKey) {
	s.mu.Lock()
	delete(s.ids, k)
	s.mu.Unlock()
}

// purge forgets ids whose forget-after is before cutoff, holding the lock
// for at most step ids at a time so that claims get through meanwhile.
func (s *idSet) purge(cutoff int64, step int) {
	for {
		s.mu.Lock()
		var minute int64
		found := false
		for m := range s.byMinute {
			// A minute is done when all of it is before cutoff.
			if (m+1)*60 <= cutoff && (!found || m < minute) {
				minute, found = m, true
			}
		}
		if !found {
			s.mu.Unlock()
			return
		}
		keys := s.byMinute[minute]
		n := min(step, len(keys))
		for _, k := range keys[:n] {
			// An id released and claimed again may now expire later.
			if f, ok := s.ids[k]; ok && f < cutoff {
				delete(s.ids, k)
			}
		}
		if n == len(keys) {
			delete(s.byMinute, minute)
		} else {
			s.byMinute[minute] = keys[n:]
		}
		s.mu.Unlock()
	}
}

// loadJournal reads the journal's ids into a set: all of them, as the
// table held them until a purge, so that a clock set back at a restart
// cannot free an id (expired ones go at the next purge).
func loadJournal(ctx context.Context, db *database.DB) (*idSet, error) {
	rows, err := db.QueryContext(ctx, `SELECT jti, forget_after FROM replay_journal`)
	if err != nil {
		return nil, fmt.Errorf("replay: journal: %w", err)
	}
	defer rows.Close()
	set := newIDSet()
	for rows.Next() {
		var jti string
		var forget int64
		if err := rows.Scan(&jti, &forget); err != nil {
			return nil, fmt.Errorf("replay: journal: %w", err)
		}
		set.claim(keyOf(jti), forget) // an id twice (a rare failed-then-retried append) is one
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("replay: journal: %w", err)
	}
	return set, nil
}

// appendJournal appends a batch of new ids: one autocommitted statement
// alone (a transaction around it measured 80 µs slower), else one
// transaction of statements of maxRowsPerInsert rows.
func appendJournal(ctx context.Context, db *sql.DB, uses []*use) error {
	if len(uses) == 1 {
		return appendOne(ctx, db, uses[0].jti, uses[0].forget)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op once committed
	for start := 0; start < len(uses); start += maxRowsPerInsert {
		q, args := insertRows("replay_journal", uses[start:min(start+maxRowsPerInsert, len(uses))])
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	return nil
}

// appendOne appends one id, claimed in the set already.
func appendOne(ctx context.Context, ex Execer, jti string, forget int64) error {
	if _, err := ex.ExecContext(ctx, `INSERT INTO replay_journal (jti, forget_after) VALUES ($1, $2)`, jti, forget); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	return nil
}

// purgeJournal deletes expired rows in steps, then gives the freed pages
// back to the file system in steps as small (files made since SQLite's
// incremental auto-vacuum was on; older files reuse the pages instead).
func purgeJournal(ctx context.Context, db *database.DB, cutoff int64) (int64, error) {
	total, err := inSteps(ctx, db, `DELETE FROM replay_journal WHERE seq IN (SELECT seq FROM replay_journal WHERE forget_after < $1 LIMIT $2)`, cutoff)
	if err != nil {
		return total, err
	}
	return total, database.GiveSpaceBack(ctx, db, PurgeStep)
}

// inSteps runs a bounded DELETE (its parameters: a cutoff and a limit)
// until it deletes fewer rows than PurgeStep, and returns the total.
func inSteps(ctx context.Context, db *database.DB, stmt string, cutoff int64) (int64, error) {
	var total int64
	for {
		res, err := db.ExecContext(ctx, stmt, cutoff, PurgeStep)
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
