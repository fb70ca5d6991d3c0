// Package groupcommit lets concurrent writers share one transaction and so
// one fsync: while batches commit, the next gathers, and one of its
// writers commits it. A lone writer commits alone and waits no longer than
// it would have; every Do returns only once its work is durable.
//
// On SQLite one batch is written at a time (it has one writer anyway). On
// PostgreSQL, where every statement is a round trip, several batches are
// written at once on their own connections, so that round trips overlap.
//
//	c := groupcommit.NewTx(db)
//	err := c.Do(ctx, groupcommit.Work{Run: func(tx *sql.Tx) error {
//		_, err := tx.ExecContext(ctx, `INSERT …`)
//		return err
//	}})
//
// A batch of NewTx is bounded by the database's Timeout.
package groupcommit

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/s2sjwt/s2sjwt/internal/database"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Batcher hands the items of concurrent Do calls to write in batches, at
// most lanes batches at a time. write returns one error per item.
type Batcher[T any] struct {
	write func(ctx context.Context, items []T) []error
	lanes int

	mu      sync.Mutex
	pending *batch[T] // gathering while every lane is busy
	busy    int       // batches being written

	metrics *Metrics // nil: not measured
	writer  string
}

// tracer makes a span per durable commit.
var tracer = otel.Tracer("github.com/s2sjwt/s2sjwt/internal/groupcommit")

// Metrics measure batches by writer: their sizes, how long each took to
// write and commit, and how many failed.
type Metrics struct {
	size     *prometheus.HistogramVec
	seconds  *prometheus.HistogramVec
	failures *prometheus.CounterVec
}

// NewMetrics registers group-commit metrics with reg (once per registry;
// each Batcher names its writer with Measure). nil reg: nil Metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		return nil
	}
	m := &Metrics{
		size: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "groupcommit_batch_size", Help: "Writes committed together in one transaction, by writer.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}, []string{"writer"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "groupcommit_commit_duration_seconds", Help: "Time to write and commit one batch (its fsync included), by writer.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}, []string{"writer"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "groupcommit_batch_failures_total", Help: "Batches in which every write failed (the database, usually), by writer.",
		}, []string{"writer"}),
	}
	reg.MustRegister(m.size, m.seconds, m.failures)
	return m
}

// Measure records c's batches in m under writer (a fixed name: "log_appends").
func (c *Batcher[T]) Measure(m *Metrics, writer string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.metrics, c.writer = m, writer
	if m != nil { // every series at 0 from the start
		m.failures.WithLabelValues(writer)
		m.size.WithLabelValues(writer)
		m.seconds.WithLabelValues(writer)
	}
}

func (m *Metrics) observe(writer string, size int, took time.Duration, failed bool) {
	if m == nil {
		return
	}
	m.size.WithLabelValues(writer).Observe(float64(size))
	m.seconds.WithLabelValues(writer).Observe(took.Seconds())
	if failed {
		m.failures.WithLabelValues(writer).Inc()
	}
}

type batch[T any] struct {
	items []T
	errs  []error
	done  chan struct{} // closed once written
	lead  chan struct{} // one token: the caller that takes it writes the batch
}

// New returns a Batcher that writes up to lanes batches at once with write.
func New[T any](lanes int, write func(ctx context.Context, items []T) []error) *Batcher[T] {
	return &Batcher[T]{write: write, lanes: max(lanes, 1)}
}

// Lanes is how many batches to write at once on db.
func Lanes(db *database.DB) int {
	if db.Dialect == database.Postgres {
		return database.MaxPostgresConns / 2 // the rest for reads and background work
	}
	return 1
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
	if c.busy < c.lanes {
		c.busy++
		c.pending = nil
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

// flush writes b, then hands the lane to the batch that gathered
// meanwhile, if any, through one of its callers.
func (c *Batcher[T]) flush(ctx context.Context, b *batch[T]) {
	c.mu.Lock()
	m, writer := c.metrics, c.writer
	c.mu.Unlock()
	// The span is in the trace of the caller that writes the batch; the
	// others' requests see their wait in their own request spans.
	ctx, span := tracer.Start(ctx, "groupcommit "+cmp.Or(writer, "write"), trace.WithAttributes(attribute.Int("groupcommit.batch_size", len(b.items))))
	start := time.Now()
	b.errs = c.write(context.WithoutCancel(ctx), b.items) // the batch is every caller's
	span.End()
	m.observe(writer, len(b.items), time.Since(start), !slices.Contains(b.errs, nil))
	close(b.done)
	c.mu.Lock()
	next := c.pending
	if next == nil {
		c.busy--
	} else {
		c.pending = nil
		next.lead <- struct{}{}
	}
	c.mu.Unlock()
}

// Work is one writer's part of a shared transaction.
type Work struct {
	// Key, if the work locks a row by it (a token id, say), orders the
	// works of a batch: batches written at once, by this process or by
	// replicas, then take their locks in one order and cannot deadlock.
	Key string
	Run func(tx *sql.Tx) error
}

// NewTx returns a Batcher that runs each Work in one transaction per batch,
// in Key order, under a savepoint of its own (one failing Work undoes only
// its own effects), and commits once.
func NewTx(db *database.DB) *Batcher[Work] {
	return New(Lanes(db), func(ctx context.Context, work []Work) []error {
		ctx, cancel := db.Bound(ctx) // a hung database fails the batch in time
		defer cancel()
		order := make([]int, len(work))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(work[a].Key, work[b].Key) })
		errs := InTx(ctx, db.DB, len(work), func(tx *sql.Tx, i int) error {
			if len(work) == 1 {
				return work[0].Run(tx) // alone: no savepoint needed
			}
			if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
				return err
			}
			err := work[order[i]].Run(tx)
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
		byWork := make([]error, len(work))
		for i, err := range errs {
			byWork[order[i]] = err
		}
		return byWork
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
