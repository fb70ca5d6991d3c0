package identity

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAuthLimiter_FullTableEvictsTheOldestOnly: a flood of new entries
// pushes out the least recently used, and lockouts made since survive,
// where clearing the table would have wiped them all.
func TestAuthLimiter_FullTableEvictsTheOldestOnly(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	l := newAuthLimiter(func() time.Time { return now })
	for i := range maxTracked + 10 {
		l.fail(fmt.Sprintf("203.0.113.%d", i%200), fmt.Sprintf("client-%d", i))
	}
	require.Equal(t, maxTracked, l.pairs.len())
	for range MaxAuthFailures {
		l.fail("192.0.2.1", "victim")
	}
	require.Positive(t, l.fail("192.0.2.1", "victim").wait)
	for i := range maxTracked - 1 {
		l.fail("203.0.113.250", fmt.Sprintf("flood-%d", i))
	}
	require.Equal(t, maxTracked, l.pairs.len())
	require.Positive(t, l.fail("192.0.2.1", "victim").wait, "the newest lockout survives a full table")
	_, oldest := l.pairs.get(pairKey("203.0.113.0", "client-0"))
	require.False(t, oldest, "the least recently used entry went first")
}
