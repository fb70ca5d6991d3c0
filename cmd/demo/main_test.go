package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
	"github.com/stretchr/testify/require"
)

// TestRun_ScenarioEndToEnd runs the real demo (four services, one process,
// loopback) and checks every step of the story through CareerGPT's JSON.
func TestRun_ScenarioEndToEnd(t *testing.T) {
	careergptURL := startDemo(t)

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
		"issue-workload-identity":                "",
		"issue-logging-service":                  "",
		"logging-accepts":                        "",
		"stolen-token-refused":                   "token is not for this service (wrong audience)",
		"stolen-token-at-logging-refused":        "DPoP proof is not signed by the token's key",
		"bearer-downgrade-refused":               "DPoP-bound token presented as a bearer token",
		"issue-notification-service":             "",
		"notification-accepts":                   "",
		"notification-exchanges-token":           "",
		"notification-audit-logged":              "",
		"replay-refused":                         "token already used",
		"wimse-wit-alone-refused":                "a workload identity token needs its Workload-Proof-Token",
		"wimse-wit-as-bearer-refused":            "a workload identity token is not a bearer token",
		"wimse-wpt-at-logging-refused":           "workload proof token is for another target (aud)",
		"wimse-wpt-replayed-refused":             "workload proof token already used",
		"issue-notification-service-for-probes":  "",
		"exchange-probes":                        "",
		"exchange-foreign-token-refused":         "subject_token was not issued for this client's service",
		"exchange-wider-scope-refused":           "scope not allowed: logs:read",
		"revoke-token":                           "",
		"revoked-token-refused":                  "token revoked",
		"issue-logging-service-after-revocation": "",
		"fresh-token-accepted":                   "",
		"suspend-caller":                         "",
		"suspended-caller-refused":               "client is suspended or revoked",
		"reinstate-caller":                       "",
		"unknown-issuer-refused":                 "untrusted issuer",
		"issue-logging-service-short-lived":      "",
		"expired-refused":                        "token expired",
	}
	require.Len(t, outcome.Steps, len(want))
	for _, st := range outcome.Steps {
		reason, ok := want[st.ID]
		require.True(t, ok, st.ID)
		require.True(t, st.Passed, st.ID)
		require.Equal(t, reason, st.Reason, st.ID)
	}
	for _, line := range strings.Split(demoOutput(t), "\n") {
		require.NotRegexp(t, `ey[A-Za-z0-9_-]{10,}\.ey[A-Za-z0-9_-]{10,}\.`, line, "no token may be printed")
	}
}

// TestRun_ReplicasOnPostgres: with DATABASE_URL the demo keeps every
// service's state in PostgreSQL and runs a second Notification replica;
// the scenario gains the cross-replica replay step, refused, and every
// step still ends as it should.
func TestRun_ReplicasOnPostgres(t *testing.T) {
	env := map[string]string{"DATABASE_URL": dbtest.Postgres(t), "IDENTITY_KEY_SECRET": "demo-key-secret-for-this-test-only-0123456789"}
	args := []string{"demo", "-once", "-data", t.TempDir(), "-careergpt-addr", "127.0.0.1:0", "-identity-addr", "127.0.0.1:0",
		"-logging-addr", "127.0.0.1:0", "-notification-addr", "127.0.0.1:0", "-notification-2-addr", "127.0.0.1:0"}
	out := &testutil.SyncBuffer{}
	err := run(context.Background(), args, func(k string) string { return env[k] }, out)
	require.NoError(t, err, out.String())
	require.Contains(t, out.String(), "The same token at another Notification replica")
	require.Contains(t, out.String(), "second replica; every service on DATABASE_URL")
}
