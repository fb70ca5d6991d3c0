package identity

import (
	"bytes"
	"compress/zlib"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/groupcommit"
)

// Token Status List (draft-ietf-oauth-status-list-17): with a StatusList,
// every token Identity issues names an entry of one list, which Identity
// signs and serves at StatusListPath; revoking a token or a caller flips
// entries there, and resource servers that check status lists refuse
// those tokens once they refetch the list.

// StatusListPath is where the issuer's one list is served, under its URL.
const StatusListPath = "/statuslists/1"

// Status list settings.
const (
	// DefaultStatusListSize is the number of entries: the live tokens one
	// issuer can have at once (a slot is free again once its token expired).
	// At 2 bits each, 256 KiB before compression.
	DefaultStatusListSize = 1 << 20
	// statusListTTL is the list's ttl (§5.1): how long a resource server
	// may use it before fetching it again, and so, with statusListCache,
	// the bound on how late a revocation is seen.
	statusListTTL = 10 * time.Second
	// statusListCache bounds the work a flood of list requests costs: the
	// list is read, compressed and signed at most once a second per replica.
	statusListCache = time.Second
	// statusListLifetime is the list token's exp after its iat.
	statusListLifetime = 5 * time.Minute
	// clientStatusCache: a caller's revocation or suspension reaches every
	// replica's token endpoint within this.
	clientStatusCache = time.Second
	// allocationProbes bounds the random slots tried for a new token before
	// the list counts as full.
	allocationProbes = 16
)

// ErrStatusListFull is a token request made while every probed slot of the
// list held a live token: more live tokens than the list can hold.
var ErrStatusListFull = errors.New("identity: status list full")

// StatusSchema holds the entries of the status list and callers' statuses.
var StatusSchema = database.Schema{Name: "identity_status", Migrations: []database.Migration{{
	SQLite: `CREATE TABLE token_status (
		idx       INTEGER PRIMARY KEY,
		jti       TEXT NOT NULL,
		client_id TEXT NOT NULL,
		free_at   INTEGER NOT NULL, -- unix seconds: the token's exp plus leeway; the slot may be reused after it
		status    INTEGER NOT NULL
	);
	CREATE INDEX token_status_jti ON token_status(jti);
	CREATE INDEX token_status_client ON token_status(client_id);
	CREATE TABLE client_status (client_id TEXT PRIMARY KEY, status INTEGER NOT NULL);`,
	Postgres: `CREATE TABLE token_status (
		idx       BIGINT PRIMARY KEY,
		jti       TEXT NOT NULL,
		client_id TEXT NOT NULL,
		free_at   BIGINT NOT NULL,
		status    SMALLINT NOT NULL
	);
	CREATE INDEX token_status_jti ON token_status(jti);
	CREATE INDEX token_status_client ON token_status(client_id);
	CREATE TABLE client_status (client_id TEXT PRIMARY KEY, status SMALLINT NOT NULL);`,
}}}

// StatusList is the issuer's status list, kept in its database: replicas
// sharing one PostgreSQL database share one list.
type StatusList struct {
	db      *database.DB
	commits *groupcommit.Batcher[groupcommit.Work]
	size    int
	now     func() time.Time

	mu       sync.Mutex
	clients  map[string]byte // statuses of revoked and suspended callers
	loadedAt time.Time

	// listMu guards the served list apart from the callers' statuses, so
	// that building it never holds up a token request.
	listMu  sync.Mutex
	served  string // the signed list token, at builtAt
	builtAt time.Time
}

// NewStatusList returns the list on db (which holds StatusSchema) of size
// entries (DefaultStatusListSize if zero).
func NewStatusList(db *database.DB, size int, now func() time.Time) *StatusList {
	if size <= 0 {
		size = DefaultStatusListSize
	}
	if now == nil {
		now = time.Now
	}
	return &StatusList{db: db, commits: groupcommit.NewTx(db), size: size, now: now}
}

// allocate gives the token jti of client, valid until freeAt, a slot of
// its own: a random one whose token (if any) can no longer be valid. The
// slot is durable before the token is returned, so a crash cannot hand it
// to a second live token.
//
// Replicas lock slots in any order, so PostgreSQL may break a deadlock
// between two batches by aborting one: its allocations are tried again.
// The first slot a Work tries is its Key, so that within a batch, and
// between batches of few probes, slots are locked in ascending order.
func (l *StatusList) allocate(ctx context.Context, jti, client string, freeAt time.Time) (int, error) {
	var err error
	for range allocationAttempts {
		var idx int
		if idx, err = l.tryAllocate(ctx, jti, client, freeAt); !database.Conflicted(err) {
			return idx, err
		}
	}
	return -1, err
}

// allocationAttempts bounds the tries of an allocation aborted to break a
// deadlock.
const allocationAttempts = 4

func (l *StatusList) tryAllocate(ctx context.Context, jti, client string, freeAt time.Time) (int, error) {
	idx, first := -1, rand.IntN(l.size)
	err := l.commits.Do(ctx, groupcommit.Work{Key: fmt.Sprintf("%012d", first), Run: func(tx *sql.Tx) error {
		for probe := range allocationProbes {
			i := first
			if probe > 0 {
				i = rand.IntN(l.size)
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO token_status (idx, jti, client_id, free_at, status) VALUES ($1, $2, $3, $4, 0)
				ON CONFLICT (idx) DO UPDATE SET jti = excluded.jti, client_id = excluded.client_id, free_at = excluded.free_at, status = 0
				WHERE token_status.free_at < $5`, i, jti, client, freeAt.Unix(), l.now().Unix())
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				idx = i
				return nil
			}
		}
		return ErrStatusListFull
	}})
	return idx, err
}

// RevokeToken marks the live token jti revoked for good, and reports
// whether one was found.
func (l *StatusList) RevokeToken(ctx context.Context, jti string) (bool, error) {
	ctx, cancel := l.db.Bound(ctx)
	defer cancel()
	res, err := l.db.ExecContext(ctx, `UPDATE token_status SET status = $1 WHERE jti = $2 AND free_at >= $3`,
		authn.StatusInvalid, jti, l.now().Unix())
	if err != nil {
		return false, fmt.Errorf("identity: status list: %w", err)
	}
	l.invalidate()
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// SetClient revokes (StatusInvalid), suspends (StatusSuspended) or
// reinstates (StatusValid) a caller: every token it holds reads so in the
// list, and it gets no new token unless reinstated. A revoked caller stays
// revoked: suspending or reinstating it changes nothing.
func (l *StatusList) SetClient(ctx context.Context, client string, status byte) error {
	ctx, cancel := l.db.Bound(ctx)
	defer cancel()
	var err error
	switch status {
	case authn.StatusValid:
		_, err = l.db.ExecContext(ctx, `DELETE FROM client_status WHERE client_id = $1 AND status <> $2`, client, authn.StatusInvalid)
	case authn.StatusInvalid, authn.StatusSuspended:
		_, err = l.db.ExecContext(ctx, `INSERT INTO client_status (client_id, status) VALUES ($1, $2)
			ON CONFLICT (client_id) DO UPDATE SET status = excluded.status WHERE client_status.status <> $3`, client, status, authn.StatusInvalid)
	default:
		return fmt.Errorf("identity: status %#x is not valid, revoked or suspended", status)
	}
	if err != nil {
		return fmt.Errorf("identity: status list: %w", err)
	}
	l.invalidate()
	return nil
}

// invalidate makes the next read see this replica's own change at once.
func (l *StatusList) invalidate() {
	l.mu.Lock()
	l.loadedAt = time.Time{}
	l.mu.Unlock()
	l.listMu.Lock()
	l.builtAt = time.Time{}
	l.listMu.Unlock()
}

// clientStatus is client's status, read at most once a second per replica.
func (l *StatusList) clientStatus(ctx context.Context, client string) (byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.now().Sub(l.loadedAt) >= clientStatusCache {
		clients, err := l.readClients(ctx)
		if err != nil {
			return 0, err
		}
		l.clients, l.loadedAt = clients, l.now()
	}
	return l.clients[client], nil
}

func (l *StatusList) readClients(ctx context.Context) (map[string]byte, error) {
	ctx, cancel := l.db.Bound(ctx)
	defer cancel()
	rows, err := l.db.Reads().QueryContext(ctx, `SELECT client_id, status FROM client_status`)
	if err != nil {
		return nil, fmt.Errorf("identity: status list: %w", err)
	}
	defer rows.Close()
	out := map[string]byte{}
	for rows.Next() {
		var id string
		var st int
		if err := rows.Scan(&id, &st); err != nil {
			return nil, err
		}
		out[id] = byte(st)
	}
	return out, rows.Err()
}

// tokenStatus is the status of the live token jti: its own, or its
// caller's when that is revoked or suspended.
func (l *StatusList) tokenStatus(ctx context.Context, jti, client string) (byte, error) {
	if st, err := l.clientStatus(ctx, client); err != nil || st != authn.StatusValid {
		return st, err
	}
	ctx, cancel := l.db.Bound(ctx)
	defer cancel()
	var st int
	err := l.db.Reads().QueryRowContext(ctx, `SELECT status FROM token_status WHERE jti = $1 AND free_at >= $2`, jti, l.now().Unix()).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return authn.StatusValid, nil
	}
	return byte(st), err
}

// token is the list as a status list token: read, packed, compressed and
// signed (by sign, given the lst member) at most once per statusListCache,
// so that a flood of list requests costs one build a second.
func (l *StatusList) token(ctx context.Context, sign func(lst string) (string, error)) (string, error) {
	l.listMu.Lock()
	defer l.listMu.Unlock()
	if l.served != "" && l.now().Sub(l.builtAt) < statusListCache {
		return l.served, nil
	}
	list, err := l.packed(ctx)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, _ = zw.Write(list)
	_ = zw.Close()
	raw, err := sign(base64.RawURLEncoding.EncodeToString(buf.Bytes()))
	if err != nil {
		return "", err
	}
	l.served, l.builtAt = raw, l.now()
	return raw, nil
}

// packed reads the list as 2-bit entries, the first in the least
// significant bits (§4.1).
func (l *StatusList) packed(ctx context.Context) ([]byte, error) {
	ctx, cancel := l.db.Bound(ctx)
	defer cancel()
	// A live token reads as its own status, or as its caller's if that is
	// revoked or suspended (revoked wins).
	rows, err := l.db.Reads().QueryContext(ctx, `SELECT t.idx, t.status, COALESCE(c.status, 0) FROM token_status t
		LEFT JOIN client_status c ON c.client_id = t.client_id
		WHERE t.free_at >= $1 AND (t.status <> 0 OR c.status IS NOT NULL)`, l.now().Unix())
	if err != nil {
		return nil, fmt.Errorf("identity: status list: %w", err)
	}
	defer rows.Close()
	list := make([]byte, l.size*2/8)
	for rows.Next() {
		var idx, own, caller int
		if err := rows.Scan(&idx, &own, &caller); err != nil {
			return nil, err
		}
		st := byte(own)
		switch {
		case caller == authn.StatusInvalid:
			st = authn.StatusInvalid // a revoked caller's tokens are revoked
		case st == authn.StatusValid:
			st = byte(caller)
		}
		if idx >= 0 && idx < l.size {
			list[idx/4] |= st << (idx % 4 * 2)
		}
	}
	return list, rows.Err()
}

// statusClaim is a token's status claim (§6.1).
type statusClaim struct {
	StatusList authn.StatusRef `json:"status_list"`
}

// handleStatusList serves the list as a status list token, signed with the
// issuer's current key (§5.1).
func (s *server) handleStatusList(w http.ResponseWriter, r *http.Request) {
	raw, err := s.deps.Status.token(r.Context(), func(lst string) (string, error) {
		key, err := s.deps.Keys.Signer(r.Context())
		if err != nil {
			return "", err
		}
		now := s.now()
		t := jwt.NewWithClaims(jwt.GetSigningMethod(key.Algorithm), jwt.MapClaims{
			"sub": s.cfg.Issuer + StatusListPath, "iat": now.Unix(), "exp": now.Add(statusListLifetime).Unix(),
			"ttl": int(statusListTTL / time.Second), "status_list": map[string]any{"bits": 2, "lst": lst},
		})
		t.Header["typ"], t.Header["kid"] = authn.StatusListType, key.ID
		return t.SignedString(key.Signer)
	})
	if err != nil {
		s.deps.Logger.Error("status list not served", "err", err)
		http.Error(w, "status list unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/"+authn.StatusListType)
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(statusListTTL/time.Second)))
	_, _ = w.Write([]byte(raw))
}
