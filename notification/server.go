package notification

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/groupcommit"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/replay"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

// Audience is this service's identifier in tokens' "aud".
const Audience = "notification-service"

// ScopeSend is needed to send a notification.
const ScopeSend = "notifications:send"

// AuditLogger sends audit entries to the logging service (logclient.Client).
type AuditLogger interface {
	// Log writes an entry with Notification's own token.
	Log(ctx context.Context, message string, attributes map[string]string) error
	// OnBehalf exchanges a caller's token for a Logging token naming that
	// caller as sub and Notification as its actor (RFC 8693), with scope
	// (logs:write when empty).
	OnBehalf(ctx context.Context, subjectToken, scope string) (*tokenclient.Token, error)
	// LogWith writes an entry with tok; a *logclient.Refused error says
	// Logging refused the token.
	LogWith(ctx context.Context, tok *tokenclient.Token, message string, attributes map[string]string) error
}

// Deps are the notification service's collaborators.
type Deps struct {
	Verifier *authn.Verifier
	DB       *database.DB
	// Replay makes every token single-use; required. A token is used in
	// the same transaction that stores its notification.
	Replay *replay.Store
	// Audit is optional: without it notifications are not forwarded to
	// logging. With it, each notification's audit entry is queued in a
	// durable outbox and delivered by DeliverAudit.
	Audit AuditLogger
	// DPoP, if set, accepts DPoP-bound tokens with their proofs.
	DPoP *authn.DPoPConfig
	// WIMSE, if set, accepts WIMSE workload credentials (WIT and WPT).
	WIMSE *authn.WIMSEConfig
	// ExchangeProbes serves POST /v1/exchange-probes (with Audit), and puts
	// the exchanged audit token's header and claims in each 202: for the
	// demo only, off by default.
	ExchangeProbes bool
	// PublicKey is Notification's client key, published for private_key_jwt.
	PublicKey *jwk.Key
	Logger    *slog.Logger
	Now       func() time.Time
	// Metrics, if set, gets the group-commit and outbox metrics.
	Metrics prometheus.Registerer
}

// Server is the notification service.
type Server struct {
	deps          Deps
	outbox        *outbox // nil without Audit
	notifications *store
	handler       http.Handler
}

// NewServer returns the notification service. Run DeliverAudit beside it
// when deps.Audit is set.
func NewServer(deps Deps) (*Server, error) {
	if deps.Verifier == nil || deps.DB == nil || deps.Replay == nil {
		return nil, errors.New("notification: verifier, database and replay store are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &Server{deps: deps}
	if deps.Audit != nil {
		s.outbox = newOutbox(deps.DB, deps.Audit, deps.Logger, deps.Now)
	}
	s.notifications = &store{commits: groupcommit.NewTx(deps.DB), replay: deps.Replay, outbox: s.outbox,
		now: deps.Now, leeway: deps.Verifier.Leeway()}
	if deps.Metrics != nil {
		commits := groupcommit.NewMetrics(deps.Metrics)
		s.notifications.commits.Measure(commits, "notifications")
		deps.Replay.Measure(commits, "dpop_proofs")
		deps.Metrics.MustRegister(newOutboxCollector(deps.DB, deps.Now))
	}
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Start implements runner.Starter: it delivers audit entries until ctx ends.
func (s *Server) Start(ctx context.Context, _ io.Writer) { s.DeliverAudit(ctx) }

// DeliverAudit delivers queued audit entries to Logging until ctx ends,
// retrying with backoff while Identity or Logging is unavailable; entries
// left by an earlier process are delivered first.
func (s *Server) DeliverAudit(ctx context.Context) {
	if s.outbox != nil {
		s.outbox.run(ctx)
	}
}
