package replay

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/s2sjwt/s2sjwt/internal/database"
)

// Execer is a database or a transaction.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// maxRowsPerInsert keeps a statement's parameters far below either
// database's limit.
const maxRowsPerInsert = 500

// insertMany inserts items into the shared table in one statement;
// RETURNING names the ids that were new, and of an id listed twice only the
// first use is. Rows go in in jti order: replicas inserting overlapping
// batches then take their row locks in the same order and cannot deadlock.
func insertMany(ctx context.Context, tx *sql.Tx, items []*use) error {
	sorted := slices.SortedStableFunc(slices.Values(items), func(a, b *use) int { return strings.Compare(a.jti, b.jti) })
	q, args := insertRows("used_jti", sorted)
	rows, err := tx.QueryContext(ctx, q+` ON CONFLICT (jti) DO NOTHING RETURNING jti`, args...)
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

// insert is the shared table's atomic check-and-insert: true if jti was new.
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

// purgeTable deletes the shared table's expired ids in steps.
func purgeTable(ctx context.Context, db *database.DB, cutoff int64) (int64, error) {
	return inSteps(ctx, db, `DELETE FROM used_jti WHERE jti IN (SELECT jti FROM used_jti WHERE forget_after < $1 LIMIT $2)`, cutoff)
}

// insertRows is an INSERT of items' (jti, forget_after) into table, one
// statement, and its arguments.
func insertRows(table string, items []*use) (string, []any) {
	var q strings.Builder
	q.WriteString("INSERT INTO " + table + " (jti, forget_after) VALUES ")
	args := make([]any, 0, 2*len(items))
	for i, it := range items {
		if i > 0 {
			q.WriteString(",")
		}
		q.WriteString("($" + strconv.Itoa(2*i+1) + ", $" + strconv.Itoa(2*i+2) + ")")
		args = append(args, it.jti, it.forget)
	}
	return q.String(), args
}
