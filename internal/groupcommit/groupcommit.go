// Package groupcommit lets concurrent writers share one transaction and so
// one fsync: while a batch commits, the next gathers, and one of its
// writers commits it. A lone writer commits alone and waits no longer than
// it would have; every Do returns only once its work is durable.
//
//	c := groupcommit.NewTx(db)
//	err := c.Do(ctx, func(tx *sql.Tx) error {
//		_, err := tx.ExecContext(ctx, `INSERT …`)
//		return err
//	})
package groupcommit

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// Batcher hands the items of concurrent Do calls to write in batches, one
// batch at a time. write returns one error per item.
type Batcher[T any] struct {
	write func(ctx context.Context, items []T) []error

	mu       sync.Mutex
	pending  *batch[T] // gathering while another batch is written
	flushing bool
}

type batch[T any] struct {
	items []T
	errs  []error
	done  chan struct{} // closed once written
	lead  chan struct{} // one token: the caller that takes it writes the batch
}

// New returns a Batcher that writes batches with write.
func New[T any](write func(ctx context.Context, items []T) []error) *Batcher[T] {
	return &Batcher[T]{write: write}
}

// Do adds item to the next batch and returns once that batch is written,
// with item's error.
func (c *Batcher[T]) Do(ctx context.Context, item T) error {
	c.mu.Lock()
	b := c.pending
	if b == nil {
		b = &batch[T]{done: make(chan struct{}), lead: make(chan struct{}, 1)}
		c.pending = b
	}
	i := len(b.items)
	b.items = append(b.items, item)
	if !c.flushing {
		c.flushing, c.pending = true, nil
		c.mu.Unlock()
		c.flush(ctx, b)
	} else {
		c.mu.Unlock()
		// Not ctx: the batch is written whether or not this caller waits,
		// and a lead token nobody takes would stall every writer.
		select {
		case <-b.done:
		case <-b.lead:
			c.flush(ctx, b)
		}
	}
	return b.errs[i]
}

// flush writes b, then hands the batch that gathered meanwhile, if any, to
// one of its callers.
func (c *Batcher[T]) flush(ctx context.Context, b *batch[T]) {
	b.errs = c.write(context.WithoutCancel(ctx), b.items) // the batch is every caller's
	close(b.done)
	c.mu.Lock()
	next := c.pending
	if next == nil {
		c.flushing = false
	} else {
		c.pending = nil
		next.lead <- struct{}{}
	}
	c.mu.Unlock()
}

// Work is one writer's part of a shared transaction.
type Work = func(tx *sql.Tx) error

// NewTx returns a Batcher that runs each Work in one transaction per batch,
// under a savepoint of its own (one failing Work undoes only its own
// effects), and commits once.
func NewTx(db *sql.DB) *Batcher[Work] {
	return New(func(ctx context.Context, work []Work) []error {
		return InTx(ctx, db, len(work), func(tx *sql.Tx, i int) error {
			if len(work) == 1 {
				return work[0](tx) // alone: no savepoint needed
			}
			if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
				return err
			}
			err := work[i](tx)
			if err != nil {
				if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO w"); rerr != nil {
					return rerr
				}
			}
			if _, rerr := tx.ExecContext(ctx, "RELEASE w"); rerr != nil {
				return rerr
			}
			return err
		})
	})
}

// InTx runs step for items 0..n-1 in one transaction and commits it. A
// step's error is that item's; with n == 1 it also rolls the transaction
// back. A failed commit is every item's error.
func InTx(ctx context.Context, db *sql.DB, n int, step func(tx *sql.Tx, i int) error) []error {
	errs := make([]error, n)
	fail := func(err error) []error {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("groupcommit: %w", err)
			}
		}
		return errs
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op once committed
	for i := range n {
		errs[i] = step(tx, i)
	}
	if n == 1 && errs[0] != nil {
		return errs
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return errs
}
