package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// TestPrometheus_ReadsTheServices runs Debian's prometheus against the
// embedded demo with deploy/prometheus/alerts.yml: the rules load
// (promtool), every service is scraped, the scenario's refusals appear
// under their own reasons, every alert's and every Grafana panel's query
// is valid PromQL, and every metric they name is one the services export.
func TestPrometheus_ReadsTheServices(t *testing.T) {
	prometheus := testutil.RequireCommand(t, "prometheus")
	promtool := testutil.RequireCommand(t, "promtool")
	root := testutil.RepoRoot(t)
	rules := filepath.Join(root, "deploy/prometheus/alerts.yml")
	out, err := exec.Command(promtool, "check", "rules", rules).CombinedOutput()
	require.NoError(t, err, string(out))

	ports := testutil.FreePorts(t, 4)
	metrics := map[string]string{}
	args := []string{}
	for i, job := range []string{"identity", "logging", "notification"} {
		metrics[job] = fmt.Sprintf("127.0.0.1:%d", ports[i])
		args = append(args, "-"+job+"-metrics-addr", metrics[job])
	}
	startDemo(t, args...)

	cfg := fmt.Sprintf("global: { scrape_interval: 1s, evaluation_interval: 1s }\nrule_files: [%q]\nscrape_configs:\n", rules)
	for job, addr := range metrics {
		cfg += fmt.Sprintf("  - { job_name: %s, static_configs: [{ targets: [%q] }] }\n", job, addr)
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600))
	web := fmt.Sprintf("127.0.0.1:%d", ports[3])
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, prometheus, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+web)
	var log testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Log(log.String())
		}
	})

	query := func(q string) (status string, result []map[string]any) {
		resp, err := http.Get("http://" + web + "/api/v1/query?query=" + neturl.QueryEscape(q))
		if err != nil {
			return err.Error(), nil
		}
		defer resp.Body.Close()
		var body struct {
			Status string `json:"status"`
			Data   struct {
				Result []map[string]any `json:"result"`
			} `json:"data"`
			Error string `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return body.Status + body.Error, body.Data.Result
	}
	value := func(series map[string]any) float64 {
		v, _ := series["value"].([]any)
		if len(v) < 2 {
			return 0
		}
		f, _ := strconv.ParseFloat(fmt.Sprint(v[1]), 64)
		return f
	}
	require.Eventually(t, func() bool {
		_, up := query("up == 1")
		return len(up) == 3
	}, 60*time.Second, 250*time.Millisecond, "every service scraped")

	// The scenario's refusals, each under its reason and service.
	for q, want := range map[string]float64{
		`authn_validations_total{job="notification",result="refused",reason="audience"}`:       1,
		`authn_validations_total{job="logging",result="refused",reason="dpop_wrong_key"}`:      1,
		`authn_validations_total{job="notification",result="refused",reason="token_replayed"}`: 1,
		`sum(identity_tokens_issued_total)`:                                                    1,
	} {
		status, res := query(q)
		require.Equal(t, "success", status, q)
		require.Len(t, res, 1, q)
		require.GreaterOrEqual(t, value(res[0]), want, q)
	}

	// Every alert's and panel's query evaluates, and names exported metrics.
	exported := map[string]bool{}
	for _, addr := range metrics {
		for _, m := range regexp.MustCompile(`(?m)^# TYPE ([a-z_]+) `).FindAllStringSubmatch(testutil.Scrape(t, addr), -1) {
			exported[m[1]] = true
		}
	}
	for _, q := range append(ruleExpressions(t, rules), panelExpressions(t, filepath.Join(root, "deploy/grafana/s2sjwt.json"))...) {
		status, _ := query(q)
		require.Equal(t, "success", status, q)
		for _, name := range regexp.MustCompile(`\b(authn|identity|groupcommit|notification)_[a-z_]+`).FindAllString(q, -1) {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
			require.True(t, exported[base], "%s names %s, which no service exports", q, name)
		}
	}
}

func ruleExpressions(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^\s*expr: (.+)$`).FindAllStringSubmatch(string(data), -1) {
		out = append(out, m[1])
	}
	require.NotEmpty(t, out)
	return out
}

func panelExpressions(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(data, &dash))
	var out []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	require.NotEmpty(t, out)
	return out
}
