package logging

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/groupcommit"
	"github.com/s2sjwt/s2sjwt/internal/replay"
	"github.com/s2sjwt/s2sjwt/internal/sqlitedb"
)

const schema = `
CREATE TABLE IF NOT EXISTS entries (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	time       INTEGER NOT NULL,  -- unix nanoseconds
	source     TEXT NOT NULL,     -- the caller's verified sub
	level      TEXT NOT NULL,
	message    TEXT NOT NULL,
	attributes TEXT NOT NULL,     -- JSON object
	jti        TEXT NOT NULL,
	client_id  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_source ON entries(source, id);` + replay.Schema

// Entry is one stored log entry.
type Entry struct {
	ID         int64             `json:"id"`
	Time       time.Time         `json:"time"`
	Source     string            `json:"source"`
	Level      string            `json:"level"`
	Message    string            `json:"message"`
	Attributes map[string]string `json:"attributes,omitempty"`
	// TokenID and ClientID record which token authorised the entry.
	TokenID  string `json:"jti"`
	ClientID string `json:"client_id"`
}

// Filter selects entries; zero fields match everything.
type Filter struct {
	Source string
	Level  string
	Since  time.Time
	Limit  int
}

// Store keeps entries in SQLite. Append returns only after the entry is
// durable, so an acknowledged entry survives a crash or restart; concurrent
// appends share one commit (group commit).
type Store struct {
	db      *sql.DB
	appends *groupcommit.Batcher[groupcommit.Work]
	// Proofs remembers DPoP proof ids, so each proof works once.
	Proofs *replay.Store
}

// OpenStore opens or creates the store at path.
func OpenStore(path string) (*Store, error) {
	db, err := sqlitedb.Open(path, schema)
	if err != nil {
		return nil, fmt.Errorf("logging: %w", err)
	}
	return &Store{db: db, appends: groupcommit.NewTx(db), Proofs: replay.New(db, nil)}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Append stores e and returns it with its id.
func (s *Store) Append(ctx context.Context, e Entry) (Entry, error) {
	attrs, err := json.Marshal(e.Attributes)
	if err != nil {
		return Entry{}, fmt.Errorf("logging: %w", err)
	}
	err = s.appends.Do(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO entries (time, source, level, message, attributes, jti, client_id) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			e.Time.UnixNano(), e.Source, e.Level, e.Message, string(attrs), e.TokenID, e.ClientID)
		if err == nil {
			e.ID, err = res.LastInsertId()
		}
		return err
	})
	if err != nil {
		return Entry{}, fmt.Errorf("logging: append: %w", err)
	}
	return e, nil
}

// List returns matching entries, oldest first.
func (s *Store) List(ctx context.Context, f Filter) ([]Entry, error) {
	var where []string
	var args []any
	if f.Source != "" {
		where, args = append(where, "source = ?"), append(args, f.Source)
	}
	if f.Level != "" {
		where, args = append(where, "level = ?"), append(args, f.Level)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "time >= ?"), append(args, f.Since.UnixNano())
	}
	q := "SELECT id, time, source, level, message, attributes, jti, client_id FROM entries"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id LIMIT ?"
	args = append(args, f.Limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("logging: list: %w", err)
	}
	defer rows.Close()
	entries := []Entry{}
	for rows.Next() {
		var e Entry
		var nanos int64
		var attrs string
		if err := rows.Scan(&e.ID, &nanos, &e.Source, &e.Level, &e.Message, &attrs, &e.TokenID, &e.ClientID); err != nil {
			return nil, fmt.Errorf("logging: list: %w", err)
		}
		e.Time = time.Unix(0, nanos).UTC()
		if err := json.Unmarshal([]byte(attrs), &e.Attributes); err != nil {
			return nil, fmt.Errorf("logging: list: %w", err)
		}
		entries = append(entries, e)
	}
	return entries, rows.Err()
}
