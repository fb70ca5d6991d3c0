package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// TestRun_MetricsCountEachDecisionByReason: with METRICS_ADDR set, /metrics
// there counts each refusal under its own reason and each acceptance, and
// the JWKS fetch; a thousand tokens of random garbage, random kids and
// random claims add no series (every label comes from a closed set).
func TestRun_MetricsCountEachDecisionByReason(t *testing.T) {
	iss := testutil.NewIssuer(t)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePorts(t, 1)[0])
	p := testutil.Start(t, run, "logging", map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(),
		"DATA_DIR": t.TempDir(), "METRICS_ADDR": metricsAddr})
	post := func(token string) int {
		status, _ := testutil.Do(t, http.MethodPost, p.URL+"/v1/logs", token, `{"message":"m"}`)
		return status
	}
	require.Equal(t, http.StatusCreated, post(iss.Token(t, "careergpt-backend", "logging-service", "logs:write")))
	require.Equal(t, http.StatusCreated, post(iss.Token(t, "careergpt-backend", "logging-service", "logs:write")))
	require.Equal(t, http.StatusUnauthorized, post(iss.Token(t, "careergpt-backend", "notification-service", "logs:write")))
	require.Equal(t, http.StatusUnauthorized, post(iss.Token(t, "careergpt-backend", "logging-service", "logs:write", "exp", time.Now().Add(-time.Hour).Unix())))
	require.Equal(t, http.StatusUnauthorized, post("garbage"))
	require.Equal(t, http.StatusUnauthorized, post(""))

	before := testutil.Scrape(t, metricsAddr)
	for name, want := range map[string]string{
		`authn_validations_total{reason="accepted",result="accepted"}`: "2",
		`authn_validations_total{reason="audience",result="refused"}`:  "1",
		`authn_validations_total{reason="expired",result="refused"}`:   "1",
		`authn_validations_total{reason="malformed",result="refused"}`: "1",
		`authn_validations_total{reason="no_token",result="refused"}`:  "1",
		`authn_jwks_fetches_total{result="ok"}`:                        "1",
		`authn_validation_duration_seconds_count`:                      "6",
		`groupcommit_batch_size_count{writer="log_appends"}`:           "2",
		`groupcommit_batch_failures_total{writer="log_appends"}`:       "0",
	} {
		require.Equal(t, want, value(before, name), "%s in\n%s", name, before)
	}

	for range 1000 {
		var junk [48]byte
		_, _ = rand.Read(junk[:])
		kid := base64.RawURLEncoding.EncodeToString(junk[:12])
		header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + kid + `","kid":"` + kid + `","typ":"at+jwt"}`))
		post(header + "." + base64.RawURLEncoding.EncodeToString(junk[12:]) + "." + kid)
	}
	after := testutil.Scrape(t, metricsAddr)
	require.Equal(t, series(before), series(after), "no label value comes from a token")
	require.NotContains(t, after, "careergpt-backend", "no sub in a label")
}

// value is the sample of the series named exactly name.
func value(text, name string) string {
	for line := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// series are the series names with labels, samples left out.
func series(text string) []string {
	var out []string
	sample := regexp.MustCompile(`^([a-z_]+(\{[^}]*\})?) `)
	for line := range strings.Lines(text) {
		if m := sample.FindStringSubmatch(line); m != nil && strings.HasPrefix(m[1], "authn_") {
			out = append(out, m[1])
		}
	}
	return out
}
