package notification

import (
	"context"
	"database/sql"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s2sjwt/s2sjwt/internal/database"
)

// outboxCollector reports the audit outbox at each scrape: how many entries
// wait for Logging, and how old the oldest is. One bounded query a scrape.
type outboxCollector struct {
	db     *database.DB
	now    func() time.Time
	depth  *prometheus.Desc
	oldest *prometheus.Desc
}

func newOutboxCollector(db *database.DB, now func() time.Time) *outboxCollector {
	return &outboxCollector{db: db, now: now,
		depth: prometheus.NewDesc("notification_outbox_entries", "Audit entries waiting to be delivered to Logging.", nil, nil),
		oldest: prometheus.NewDesc("notification_outbox_oldest_age_seconds",
			"Age of the oldest audit entry waiting for Logging; 0 when none waits. Alert when it grows: Logging refuses or is down.", nil, nil)}
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.depth; ch <- c.oldest }

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := c.db.Bound(context.Background())
	defer cancel()
	var n int64
	var oldest sql.NullInt64
	err := c.db.QueryRowContext(ctx, `SELECT COUNT(*),
		(SELECT time FROM notifications WHERE id = (SELECT MIN(notification_id) FROM audit_outbox)) FROM audit_outbox`).Scan(&n, &oldest)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.depth, err)
		return
	}
	age := 0.0
	if oldest.Valid {
		age = max(0, c.now().Sub(time.Unix(0, oldest.Int64)).Seconds()) // notifications.time is in nanoseconds
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
}
