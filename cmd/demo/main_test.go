package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type syncBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.sb.String() }

// TestRun_ScenarioEndToEnd runs the real demo (four services, one process,
// loopback) and checks every step of the story through CareerGPT's JSON.
func TestRun_ScenarioEndToEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	args := []string{"demo", "-data", t.TempDir(), "-careergpt-addr", "127.0.0.1:0", "-identity-addr", "127.0.0.1:0",
		"-logging-addr", "127.0.0.1:0", "-notification-addr", "127.0.0.1:0"}
	go func() { done <- run(ctx, args, func(string) string { return "" }, out) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	require.Eventually(t, func() bool { return strings.Contains(out.String(), "=== every step ended as it should") },
		30*time.Second, 100*time.Millisecond, out.String())
	careergptURL := regexp.MustCompile(`careergpt\s+(http://\S+)`).FindStringSubmatch(out.String())[1]

	resp, err := http.Get(careergptURL + "/v1/scenario")
	require.NoError(t, err)
	defer resp.Body.Close()
	var outcome struct {
		Passed bool `json:"passed"`
		Steps  []struct {
			ID, Expect, Result, Reason string
			Passed                     bool
		} `json:"steps"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&outcome))
	require.True(t, outcome.Passed)

	want := map[string]string{
		"issue-logging-service":             "",
		"logging-accepts":                   "",
		"stolen-token-refused":              "token is not for this service (wrong audience)",
		"issue-notification-service":        "",
		"notification-accepts":              "",
		"replay-refused":                    "token already used",
		"unknown-issuer-refused":            "untrusted issuer",
		"issue-logging-service-short-lived": "",
		"expired-refused":                   "token expired",
	}
	require.Len(t, outcome.Steps, len(want))
	for _, st := range outcome.Steps {
		reason, ok := want[st.ID]
		require.True(t, ok, st.ID)
		require.True(t, st.Passed, st.ID)
		require.Equal(t, reason, st.Reason, st.ID)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		require.NotRegexp(t, `ey[A-Za-z0-9_-]{10,}\.ey[A-Za-z0-9_-]{10,}\.`, line, "no token may be printed")
	}
}
