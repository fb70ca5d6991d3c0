package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

func TestRun_EntriesSurviveRestart(t *testing.T) {
	iss := testutil.NewIssuer(t)
	env := map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(), "DATA_DIR": t.TempDir()}
	writer := iss.Token(t, "careergpt-backend", "logging-service", "logs:write")

	p := testutil.Start(t, run, "logging", env)
	for i := range 20 {
		status, body := testutil.Do(t, http.MethodPost, p.URL+"/v1/logs", writer, fmt.Sprintf(`{"message":"entry %d"}`, i))
		require.Equal(t, http.StatusCreated, status, body)
		require.Contains(t, body, `"source":"careergpt-backend"`)
	}
	p.Stop()
	require.NotContains(t, p.Output.String(), writer, "a token must never reach the log")

	p = testutil.Start(t, run, "logging", env)
	reader := iss.Token(t, "careergpt-backend", "logging-service", "logs:read")
	status, body := testutil.Do(t, http.MethodGet, p.URL+"/v1/logs?source=careergpt-backend&limit=1000", reader, "")
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, 20, strings.Count(body, `"source":"careergpt-backend"`), "every accepted entry survives a restart")
}

func TestRun_BadInputStoresNothing(t *testing.T) {
	iss := testutil.NewIssuer(t)
	env := map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(), "DATA_DIR": t.TempDir()}
	p := testutil.Start(t, run, "logging", env)
	writer := iss.Token(t, "careergpt-backend", "logging-service", "logs:write")

	for name, tc := range map[string]struct {
		token, body string
		want        int
	}{
		"SourceInBody":   {writer, `{"message":"x","source":"admin"}`, http.StatusBadRequest},
		"MalformedJSON":  {writer, `{"message":`, http.StatusBadRequest},
		"EmptyMessage":   {writer, `{"message":""}`, http.StatusBadRequest},
		"Oversized":      {writer, `{"message":"` + strings.Repeat("a", 20<<10) + `"}`, http.StatusRequestEntityTooLarge},
		"GarbageToken":   {"garbage", `{"message":"x"}`, http.StatusUnauthorized},
		"NoToken":        {"", `{"message":"x"}`, http.StatusUnauthorized},
		"ReadScopeOnly":  {iss.Token(t, "careergpt-backend", "logging-service", "logs:read"), `{"message":"x"}`, http.StatusForbidden},
		"WrongAudience":  {iss.Token(t, "careergpt-backend", "notification-service", "logs:write"), `{"message":"x"}`, http.StatusUnauthorized},
		"TwoJSONObjects": {writer, `{"message":"x"}{"message":"y"}`, http.StatusBadRequest},
	} {
		t.Run(name, func(t *testing.T) {
			status, body := testutil.Do(t, http.MethodPost, p.URL+"/v1/logs", tc.token, tc.body)
			require.Equal(t, tc.want, status, body)
		})
	}
	reader := iss.Token(t, "careergpt-backend", "logging-service", "logs:read")
	_, body := testutil.Do(t, http.MethodGet, p.URL+"/v1/logs", reader, "")
	require.JSONEq(t, `{"entries":[]}`, body)
}

func TestRun_Healthcheck(t *testing.T) {
	iss := testutil.NewIssuer(t)
	p := testutil.Start(t, run, "logging", map[string]string{"TRUSTED_ISSUER": iss.URL, "DATA_DIR": t.TempDir()})
	require.NoError(t, run(t.Context(), []string{"logging", "healthcheck", "-url", p.URL + "/healthz"}, func(string) string { return "" }, nil))
	require.Error(t, run(t.Context(), []string{"logging", "healthcheck", "-url", "http://127.0.0.1:1/healthz"}, func(string) string { return "" }, nil))
}

// TestRun_HungIssuerDoesNotStallRequests: with keys due for a refresh
// every 200 ms and the issuer frozen, requests with cached keys keep being
// served. The latency is measured and logged (docs/benchmarks.md), not
// asserted: the deterministic check is authn's TestRemoteKeySet_HungIssuer….
func TestRun_HungIssuerDoesNotStallRequests(t *testing.T) {
	iss := testutil.NewIssuer(t)
	env := map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(), "DATA_DIR": t.TempDir(),
		"JWKS_MAX_AGE": "200ms", "JWKS_MIN_REFRESH": "100ms"}
	p := testutil.Start(t, run, "logging", env)
	post := func() (int, time.Duration) {
		tok := iss.Token(t, "careergpt-backend", "logging-service", "logs:write")
		start := time.Now()
		status, _ := testutil.Do(t, http.MethodPost, p.URL+"/v1/logs", tok, `{"message":"x"}`)
		return status, time.Since(start)
	}
	measure := func() []time.Duration {
		var latencies []time.Duration
		for end := time.Now().Add(time.Second); time.Now().Before(end); {
			status, d := post()
			require.Equal(t, http.StatusCreated, status)
			latencies = append(latencies, d)
		}
		slices.Sort(latencies)
		return latencies
	}
	p99 := func(l []time.Duration) time.Duration { return l[len(l)*99/100] }
	healthy := measure() // the baseline: the same refreshes, answered
	iss.Hang()
	frozen := measure()
	t.Logf("p99 with the issuer answering: %s (%d requests); frozen: %s (%d requests, max %s); ratio %.2f",
		p99(healthy), len(healthy), p99(frozen), len(frozen), frozen[len(frozen)-1], float64(p99(frozen))/float64(p99(healthy)))
}
