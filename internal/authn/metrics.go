package authn

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts a resource server's decisions and its key set's fetches
// in Prometheus's conventions (docs/operations.md says which alert each is
// for). Every label value comes from a closed set, the refusal reasons
// (Reason) and fixed results: never a token, a claim or anything else a
// caller chooses. A nil *Metrics records nothing.
type Metrics struct {
	validations *prometheus.CounterVec
	duration    prometheus.Histogram
	fetches     *prometheus.CounterVec
	lastFetch   prometheus.Gauge
	suppressed  prometheus.Counter
	keys        prometheus.Gauge
}

// NewMetrics registers a resource server's metrics with reg; with a nil
// reg it returns nil, which records nothing.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		return nil
	}
	m := &Metrics{
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authn_validations_total",
			Help: "Requests authenticated, by result (accepted, refused, unavailable) and reason (the refusal reason codes of docs/contract.md; accepted for an acceptance).",
		}, []string{"result", "reason"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authn_validation_duration_seconds",
			Help:    "Time to authenticate a request: token, DPoP proof and replay check.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authn_jwks_fetches_total",
			Help: "Fetches of the issuer's JWKS, by result (ok, error).",
		}, []string{"result"}),
		lastFetch: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authn_jwks_last_success_timestamp_seconds",
			Help: "When the JWKS was last fetched successfully (Unix time); 0 if never.",
		}),
		suppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authn_jwks_refetches_suppressed_total",
			Help: "Unknown kids that found the JWKS fetched less than the minimum refresh interval ago, so fetched nothing.",
		}),
		keys: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authn_jwks_keys",
			Help: "Keys in the cached JWKS.",
		}),
	}
	reg.MustRegister(m.validations, m.duration, m.fetches, m.lastFetch, m.suppressed, m.keys)
	// Every reason at zero from the start, so a rate() or an absent()
	// alert works before the first refusal of its kind.
	for _, r := range refusals {
		m.validations.WithLabelValues("refused", r.reason)
	}
	m.validations.WithLabelValues("accepted", "accepted")
	m.validations.WithLabelValues("unavailable", "unavailable")
	m.fetches.WithLabelValues("ok")
	m.fetches.WithLabelValues("error")
	return m
}

// decision records one request's outcome.
func (m *Metrics) decision(err error, took time.Duration) {
	if m == nil {
		return
	}
	m.duration.Observe(took.Seconds())
	switch {
	case err == nil:
		m.validations.WithLabelValues("accepted", "accepted").Inc()
	case unavailable(err):
		m.validations.WithLabelValues("unavailable", "unavailable").Inc()
	default:
		m.validations.WithLabelValues("refused", Reason(err)).Inc()
	}
}

func (m *Metrics) fetched(err error, keys int, at time.Time) {
	if m == nil {
		return
	}
	if err != nil {
		m.fetches.WithLabelValues("error").Inc()
		return
	}
	m.fetches.WithLabelValues("ok").Inc()
	m.lastFetch.Set(float64(at.Unix()))
	m.keys.Set(float64(keys))
}

func (m *Metrics) refetchSuppressed() {
	if m != nil {
		m.suppressed.Inc()
	}
}
