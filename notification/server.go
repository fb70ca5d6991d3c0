package notification

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/replay"
	"github.com/s2sjwt/s2sjwt/internal/sqlitedb"
)

// Audience is this service's identifier in tokens' "aud".
const Audience = "notification-service"

// ScopeSend is needed to send a notification.
const ScopeSend = "notifications:send"

const schema = `
CREATE TABLE IF NOT EXISTS notifications (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	time    INTEGER NOT NULL,
	source  TEXT NOT NULL,
	channel TEXT NOT NULL,
	target  TEXT NOT NULL,
	message TEXT NOT NULL,
	jti     TEXT NOT NULL
);` + replay.Schema

// OpenDB opens the database holding notifications and used token ids.
func OpenDB(path string) (*sql.DB, error) { return sqlitedb.Open(path, schema) }

// AuditLogger sends an audit entry to the logging service with
// notification's own token.
type AuditLogger interface {
	Log(ctx context.Context, message string, attributes map[string]string) error
}

// Deps are the notification service's collaborators.
type Deps struct {
	Verifier *authn.Verifier
	DB       *sql.DB
	// Replay makes every token single-use; required.
	Replay *replay.Store
	// Audit is optional: without it notifications are not forwarded to logging.
	Audit AuditLogger
	// PublicKey is Notification's client key, published for private_key_jwt.
	PublicKey *jwk.Key
	Logger    *slog.Logger
	Now       func() time.Time
}

type server struct{ deps Deps }

// NewServer returns the notification service's HTTP handler.
func NewServer(deps Deps) (http.Handler, error) {
	if deps.Verifier == nil || deps.DB == nil || deps.Replay == nil {
		return nil, errors.New("notification: verifier, database and replay store are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &server{deps: deps}
	return s.routes(), nil
}
