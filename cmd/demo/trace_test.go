package main

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/s2sjwt/s2sjwt/internal/telemetry"
)

// spans records every span this test binary's services make, in memory.
var spans = tracetest.NewInMemoryExporter()

func TestMain(m *testing.M) {
	telemetry.Install(sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans)))
	os.Exit(m.Run())
}

// TestRun_OneTracePerStep: each scenario step is one trace across the
// services it reached: CareerGPT's step span, and the server spans of
// Identity, Logging or Notification, all under the trace id the step
// reports; the verification span carries the outcome and reason, never
// the token.
func TestRun_OneTracePerStep(t *testing.T) {
	careergptURL := startDemo(t)
	resp, err := http.Get(careergptURL + "/v1/scenario")
	require.NoError(t, err)
	defer resp.Body.Close()
	var outcome struct {
		Steps []struct {
			ID      string `json:"id"`
			TraceID string `json:"trace_id"`
		} `json:"steps"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&outcome))

	byTrace := map[string][]tracetest.SpanStub{}
	for _, s := range spans.GetSpans() {
		byTrace[s.SpanContext.TraceID().String()] = append(byTrace[s.SpanContext.TraceID().String()], s)
	}
	reached := map[string][]string{ // step → the spans its trace must hold: the services' server spans, and at Logging its verification and its durable append
		"issue-logging-service": {"identity POST"},
		"logging-accepts":       {"logging POST", "authn.Authenticate", "groupcommit log_appends"},
		"stolen-token-refused":  {"notification POST"},
		"notification-accepts":  {"notification POST"},
	}
	for _, st := range outcome.Steps {
		services, ok := reached[st.ID]
		if !ok {
			continue
		}
		require.NotEmpty(t, st.TraceID, st.ID)
		var names []string
		for _, s := range byTrace[st.TraceID] {
			names = append(names, s.Name)
			for _, a := range s.Attributes {
				require.NotRegexp(t, `ey[A-Za-z0-9_-]{10,}\.ey`, a.Value.String(), "no token in a span attribute")
			}
		}
		require.Contains(t, names, "step "+st.ID)
		for _, svc := range services {
			require.Contains(t, names, svc, "%s: the trace reaches %s; spans %v", st.ID, svc, names)
		}
		if st.ID == "stolen-token-refused" {
			i := slices.IndexFunc(byTrace[st.TraceID], func(s tracetest.SpanStub) bool { return s.Name == "authn.Authenticate" })
			require.GreaterOrEqual(t, i, 0, "a verification span")
			attrs := map[string]string{}
			for _, a := range byTrace[st.TraceID][i].Attributes {
				attrs[string(a.Key)] = a.Value.String()
			}
			require.Equal(t, map[string]string{"authn.result": "refused", "authn.reason": "audience"}, attrs)
		}
	}
}
