package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

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
		"issue-logging-service":             "",
		"logging-accepts":                   "",
		"stolen-token-refused":              "token is not for this service (wrong audience)",
		"stolen-token-at-logging-refused":   "DPoP proof is not signed by the token's key",
		"bearer-downgrade-refused":          "DPoP-bound token presented as a bearer token",
		"issue-notification-service":        "",
		"notification-accepts":              "",
		"notification-gets-its-token":       "",
		"notification-audit-logged":         "",
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
	for _, line := range strings.Split(demoOutput(t), "\n") {
		require.NotRegexp(t, `ey[A-Za-z0-9_-]{10,}\.ey[A-Za-z0-9_-]{10,}\.`, line, "no token may be printed")
	}
}
