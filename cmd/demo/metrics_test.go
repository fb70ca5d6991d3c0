package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

// TestRun_MetricsCountTheScenariosRefusals: after the scenario, each
// service's authn_validations_total holds exactly the refusals the
// scenario's steps met there, each under the reason code the step reports.
func TestRun_MetricsCountTheScenariosRefusals(t *testing.T) {
	ports := testutil.FreePorts(t, 2)
	metrics := map[string]string{"logging": fmt.Sprintf("127.0.0.1:%d", ports[0]), "notification": fmt.Sprintf("127.0.0.1:%d", ports[1])}
	careergptURL := startDemo(t, "-logging-metrics-addr", metrics["logging"], "-notification-metrics-addr", metrics["notification"])

	resp, err := http.Get(careergptURL + "/v1/scenario")
	require.NoError(t, err)
	defer resp.Body.Close()
	var outcome struct {
		Steps []struct{ ID, To, Result, Code string }
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&outcome))
	want := map[string]map[string]int{"logging": {}, "notification": {}}
	for _, st := range outcome.Steps {
		if st.Result == "refused" && want[st.To] != nil {
			want[st.To][st.Code]++
		}
	}
	require.NotEmpty(t, want["logging"])
	require.NotEmpty(t, want["notification"])

	refused := regexp.MustCompile(`(?m)^authn_validations_total\{reason="([a-z_]+)",result="refused"\} (\d+)$`)
	for service, addr := range metrics {
		got := map[string]int{}
		for _, m := range refused.FindAllStringSubmatch(testutil.Scrape(t, addr), -1) {
			if n, _ := strconv.Atoi(m[2]); n > 0 {
				got[m[1]] = n
			}
		}
		require.Equal(t, want[service], got, service)
	}
}
