package identity

import "github.com/prometheus/client_golang/prometheus"

// metrics are the token endpoint's counters. Labels come from closed sets
// only: the registry's client ids and audiences (a token is issued only to
// a registered client, for a registered audience), the binding, and the
// OAuth error codes this service answers with; never what a caller sent.
type metrics struct {
	issued  *prometheus.CounterVec
	refused *prometheus.CounterVec
}

// newMetrics registers the identity metrics with reg; nil records nothing.
func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "identity_tokens_issued_total",
			Help: "Access tokens issued, by client, audience and binding (bearer, dpop).",
		}, []string{"client", "audience", "binding"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "identity_token_requests_refused_total",
			Help: "Token requests refused, by OAuth error code (RFC 6749 §5.2, RFC 9449) and HTTP status (401 a failed client authentication, 429 one over the failure limiter's bounds).",
		}, []string{"error", "status"}),
	}
	reg.MustRegister(m.issued, m.refused)
	// The refusals an alert watches, at 0 from the start (rate() needs a series).
	for _, r := range []struct{ code, status string }{{"invalid_client", "401"}, {"invalid_client", "429"}, {"invalid_request", "400"}, {"invalid_target", "400"}} {
		m.refused.WithLabelValues(r.code, r.status)
	}
	return m
}

func (m *metrics) tokenIssued(client, audience string, dpop bool) {
	if m == nil {
		return
	}
	binding := "bearer"
	if dpop {
		binding = "dpop"
	}
	m.issued.WithLabelValues(client, audience, binding).Inc()
}

func (m *metrics) requestRefused(e *oauthError) {
	if m != nil {
		m.refused.WithLabelValues(e.code, statusText[e.status]).Inc()
	}
}

// statusText bounds the status label to the statuses the endpoint answers.
var statusText = map[int]string{400: "400", 401: "401", 403: "403", 429: "429", 500: "500", 503: "503"}
