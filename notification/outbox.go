package notification

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/logclient"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

// The audit_outbox table (in Schema) holds audit entries not yet
// delivered to Logging. A row is written in the same transaction as its
// notification, so no stored notification lacks one, and deleted once
// Logging acknowledged it.

// Delivery of audit entries.
const (
	deliveryTimeout = 5 * time.Second
	maxBackoff      = time.Minute
	outboxBatch     = 10
	outboxPoll      = time.Second // for entries whose retry falls due
	// claimLease: a claimed entry is left to its claimer this long, enough
	// for a batch to time out entry by entry; then another replica may
	// take it (its claimer died).
	claimLease = outboxBatch*deliveryTimeout + 10*time.Second
)

// outbox delivers audit entries at least once, across restarts and
// outages of Identity or Logging, in order within each replica. A
// deliverer claims due entries for claimLease, so replicas sharing one
// database do not send the same entry together; a crash after delivery
// and before the delete sends it again (entries name their
// notification_id).
type outbox struct {
	db *sql.DB
	// alone is set where no other process shares the outbox (a SQLite
	// file): every claim found at start is then a dead process's.
	alone  bool
	audit  AuditLogger
	logger *slog.Logger
	now    func() time.Time
	wake   chan struct{}

	mu      sync.Mutex
	waiters map[int64]chan struct{} // closed when that entry is delivered
	// held are the Logging tokens exchanged for each entry's caller, in
	// memory only: a token is never written to the outbox.
	held map[int64]*tokenclient.Token
	// exchangeAfter: no exchange is tried before it (Identity was
	// unavailable).
	exchangeAfter time.Time
}

func newOutbox(db *database.DB, audit AuditLogger, logger *slog.Logger, now func() time.Time) *outbox {
	return &outbox{db: db.DB, alone: db.Dialect == database.SQLite, audit: audit, logger: logger, now: now,
		wake: make(chan struct{}, 1), waiters: map[int64]chan struct{}{}, held: map[int64]*tokenclient.Token{}}
}

// add queues the entry inside tx, to be written with onBehalf if not nil,
// and returns a channel closed once it is delivered; call forget if tx
// does not commit.
func (o *outbox) add(ctx context.Context, tx *sql.Tx, id int64, requestedBy, channel string, onBehalf *tokenclient.Token) (<-chan struct{}, error) {
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_outbox (notification_id, requested_by, channel, next_attempt) VALUES ($1, $2, $3, $4)`,
		id, requestedBy, channel, o.now().UnixNano()); err != nil {
		return nil, fmt.Errorf("notification: outbox: %w", err)
	}
	ch := make(chan struct{})
	o.mu.Lock()
	o.waiters[id] = ch
	if onBehalf != nil {
		o.held[id] = onBehalf
	}
	o.mu.Unlock()
	return ch, nil
}

// forget drops entry id's waiter; with rolledBack, also its held token.
func (o *outbox) forget(id int64, rolledBack bool) {
	o.mu.Lock()
	delete(o.waiters, id)
	if rolledBack {
		delete(o.held, id)
	}
	o.mu.Unlock()
}

// maxHeld bounds the exchanged tokens kept for undelivered entries: past
// it (Logging down for long under load), entries are written with
// Notification's own token, as after a restart.
const maxHeld = 10_000

// The exchange is made while the caller waits, so Identity's trouble is
// bounded: an exchange waits at most exchangeTimeout, and after one that
// found Identity unavailable none is tried for exchangeBackoff (entries
// are then Notification's own), so a hung Identity slows no request by
// more than a second, and only one per backoff.
const (
	exchangeTimeout = time.Second
	exchangeBackoff = 2 * time.Second
)

// onBehalf exchanges the caller's token for a Logging token for its audit
// entry, so that the entry reads "the caller, via Notification". It is
// nil when Identity refused or did not answer (or did not lately), or
// maxHeld tokens are held: the entry is then delivered with
// Notification's own token.
func (o *outbox) onBehalf(ctx context.Context, subjectToken string) *tokenclient.Token {
	o.mu.Lock()
	skip := len(o.held) >= maxHeld || o.now().Before(o.exchangeAfter)
	o.mu.Unlock()
	if skip {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	defer cancel()
	tok, err := o.audit.OnBehalf(ctx, subjectToken, "")
	if err != nil {
		var refused *tokenclient.Error
		if errors.As(err, &refused) && refused.Status < 500 {
			// Identity's verdict on this token (a replayed request's is
			// "already exchanged"); the request may still be refused.
			o.logger.Info("token exchange refused; an audit entry would be Notification's own", "err", err)
			return nil
		}
		o.mu.Lock()
		o.exchangeAfter = o.now().Add(exchangeBackoff)
		o.mu.Unlock()
		o.logger.Warn("no delegated token for the audit entry: Identity unavailable; it will be Notification's own", "err", err)
		return nil
	}
	return tok
}

// Why an entry was written with Notification's own token: its
// "delegation" attribute, so that it reads as Notification's statement,
// never as the caller's.
const (
	delegationExpired     = "expired"     // the exchanged token expired before delivery
	delegationRefused     = "refused"     // Logging refused the exchanged token
	delegationUnavailable = "unavailable" // none held: exchange failed, another replica, or a restart
)

// heldToken is entry id's exchanged token if it is still good for a
// delivery, or why not.
func (o *outbox) heldToken(id int64) (*tokenclient.Token, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	tok, ok := o.held[id]
	switch {
	case !ok:
		return nil, delegationUnavailable
	case !o.now().Add(deliveryTimeout).Before(tok.ExpiresAt): // it must outlive the attempt
		return nil, delegationExpired
	}
	return tok, ""
}

func (o *outbox) release(id int64) {
	o.mu.Lock()
	delete(o.held, id)
	o.mu.Unlock()
}

// heldPast is how long an expired token is kept, so that its entry,
// delivered later, says why it is Notification's own (delegationExpired).
const heldPast = 10 * time.Minute

// purgeHeld drops exchanged tokens long expired: their entries were
// delivered by another replica, or will be with Notification's token.
func (o *outbox) purgeHeld() {
	o.mu.Lock()
	defer o.mu.Unlock()
	limit := o.now().Add(-heldPast)
	for id, tok := range o.held {
		if tok.ExpiresAt.Before(limit) {
			delete(o.held, id)
		}
	}
}

// Polling for deliveries made elsewhere: every replica on one database
// delivers from the same outbox, so the one that accepted a notification
// may not be the one that delivers its entry and closes no channel here.
const (
	firstDeliveryPoll = 20 * time.Millisecond
	maxDeliveryPoll   = 200 * time.Millisecond
)

// wait returns whether entry id was delivered within d: by this process's
// deliverer (delivered closes), or by any other, which its row leaving the
// outbox shows. The row is looked for at growing intervals, so a wait costs
// at most a dozen reads, and notices another's delivery within
// maxDeliveryPoll.
func (o *outbox) wait(ctx context.Context, id int64, delivered <-chan struct{}, d time.Duration) bool {
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	poll := firstDeliveryPoll
	next := time.NewTimer(poll)
	defer next.Stop()
	for {
		select {
		case <-delivered:
			return true
		case <-timeout.C:
			o.forget(id, false)
			return false
		case <-next.C:
			if gone, err := o.gone(ctx, id); err == nil && gone {
				o.forget(id, false)
				return true
			}
			poll = min(2*poll, maxDeliveryPoll)
			next.Reset(poll)
		}
	}
}

// gone reports whether entry id has left the outbox: it was delivered.
func (o *outbox) gone(ctx context.Context, id int64) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, maxDeliveryPoll)
	defer cancel()
	var n int
	err := o.db.QueryRowContext(ctx, `SELECT count(*) FROM audit_outbox WHERE notification_id = $1`, id).Scan(&n)
	return n == 0, err
}

// kick makes the deliverer look now.
func (o *outbox) kick() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// run delivers due entries until ctx ends.
func (o *outbox) run(ctx context.Context) {
	if o.alone {
		o.releaseClaims(ctx)
	}
	ticker := time.NewTicker(outboxPoll)
	defer ticker.Stop()
	for {
		o.deliverDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-ticker.C:
		}
	}
}

type outboxEntry struct {
	id                   int64
	requestedBy, channel string
	attempts             int
}

// deliverDue sends due entries in order, batch by batch, and stops at the
// first failure: if Logging is down, the rest would fail too.
func (o *outbox) deliverDue(ctx context.Context) {
	o.purgeHeld()
	for ctx.Err() == nil { // no new claims once stopping
		entries, err := o.due(ctx)
		if err != nil {
			o.logger.Error("audit outbox unreadable", "err", err)
			return
		}
		for i, e := range entries {
			if !o.deliver(ctx, e, entries[i+1:]) {
				return
			}
		}
		if len(entries) < outboxBatch {
			return
		}
	}
}

// deliver sends e and deletes it. On failure it retries e, and the
// claimed entries after it, with backoff.
func (o *outbox) deliver(ctx context.Context, e outboxEntry, rest []outboxEntry) bool {
	sendCtx, cancel := context.WithTimeout(ctx, deliveryTimeout)
	err := o.send(sendCtx, e)
	cancel()
	if err != nil {
		// Hand e and the rest of the batch back, also when stopping: a claim
		// left behind would hold them for claimLease.
		back, cancel := dbContext(ctx)
		defer cancel()
		retry, attempt := o.now(), 0
		if ctx.Err() == nil {
			backoff := min(time.Second<<min(e.attempts, 6), maxBackoff)
			o.logger.Warn("audit entry not delivered; will retry", "notification_id", e.id, "attempts", e.attempts+1, "retry_in", backoff, "err", err)
			retry, attempt = retry.Add(backoff), 1
		}
		_, _ = o.db.ExecContext(back, `UPDATE audit_outbox SET attempts = attempts + $1, next_attempt = $2 WHERE notification_id = $3`,
			attempt, retry.UnixNano(), e.id)
		for _, r := range rest {
			_, _ = o.db.ExecContext(back, `UPDATE audit_outbox SET next_attempt = $1 WHERE notification_id = $2`, retry.UnixNano(), r.id)
		}
		return false
	}
	done, cancel := dbContext(ctx)
	defer cancel()
	if _, err := o.db.ExecContext(done, `DELETE FROM audit_outbox WHERE notification_id = $1`, e.id); err != nil {
		o.logger.Error("audit outbox delete failed", "notification_id", e.id, "err", err)
		return false
	}
	o.mu.Lock()
	if ch, ok := o.waiters[e.id]; ok {
		close(ch)
		delete(o.waiters, e.id)
	}
	delete(o.held, e.id)
	o.mu.Unlock()
	return true
}

// send writes e's entry: with the token exchanged for its caller when one
// is held (source the caller, via Notification), else, or when Logging
// refuses that token, with Notification's own, saying why.
func (o *outbox) send(ctx context.Context, e outboxEntry) error {
	const message = "notification accepted"
	attrs := map[string]string{"notification_id": strconv.FormatInt(e.id, 10), "requested_by": e.requestedBy, "channel": e.channel}
	tok, why := o.heldToken(e.id)
	if tok != nil {
		err := o.audit.LogWith(ctx, tok, message, attrs)
		var refused *logclient.Refused
		if !errors.As(err, &refused) {
			return err
		}
		o.logger.Warn("Logging refused the delegated token; the audit entry is Notification's own", "notification_id", e.id, "err", err)
		o.release(e.id)
		why = delegationRefused
	}
	attrs["delegation"] = why
	return o.audit.Log(ctx, message, attrs)
}

// due claims the oldest due entries by moving their next attempt past the
// lease. The outer next_attempt test matters on PostgreSQL: a replica
// whose UPDATE waited for another's claim re-checks it against the claimed
// row, finds it no longer due, and leaves it.
func (o *outbox) due(ctx context.Context) ([]outboxEntry, error) {
	ctx, cancel := dbContext(ctx) // the claims come back whole, or are not made
	defer cancel()
	now := o.now()
	rows, err := o.db.QueryContext(ctx, `UPDATE audit_outbox SET next_attempt = $1
		WHERE next_attempt <= $2 AND notification_id IN (
			SELECT notification_id FROM audit_outbox WHERE next_attempt <= $2 ORDER BY notification_id LIMIT $3)
		RETURNING notification_id, requested_by, channel, attempts`,
		now.Add(claimLease).UnixNano(), now.UnixNano(), outboxBatch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []outboxEntry
	for rows.Next() {
		var e outboxEntry
		if err := rows.Scan(&e.id, &e.requestedBy, &e.channel, &e.attempts); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b outboxEntry) int { return cmp.Compare(a.id, b.id) }) // RETURNING has no order
	return out, rows.Err()
}

// releaseClaims makes every entry due now: what a process killed in the
// middle of a delivery left claimed would otherwise wait out claimLease.
// Only for an outbox no other process shares.
func (o *outbox) releaseClaims(ctx context.Context) {
	ctx, cancel := dbContext(ctx)
	defer cancel()
	now := o.now().UnixNano()
	if _, err := o.db.ExecContext(ctx, `UPDATE audit_outbox SET next_attempt = $1 WHERE next_attempt > $1`, now); err != nil {
		o.logger.Error("audit outbox: claims not released", "err", err)
	}
}

// dbContext bounds an outbox statement without letting a shutdown cut it
// in half: a claim made but not read back, or an entry delivered but not
// deleted, would wait out claimLease.
func dbContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), deliveryTimeout)
}
