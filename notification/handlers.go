package notification

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/httpx"
	"github.com/s2sjwt/s2sjwt/internal/telemetry"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

// Limits on one notification.
const (
	maxBodyBytes    = 16 << 10
	maxMessageBytes = 4 << 10
	maxTargetBytes  = 256
)

var channels = []string{"email", "sms", "slack", "webhook"}

type sendRequest struct {
	Channel string `json:"channel"`
	To      string `json:"to"`
	Message string `json:"message"`
}

func (req *sendRequest) validate() error {
	switch {
	case !slices.Contains(channels, req.Channel):
		return fmt.Errorf("channel must be one of %v", channels)
	case req.To == "" || len(req.To) > maxTargetBytes:
		return fmt.Errorf("to must be 1..%d bytes", maxTargetBytes)
	case req.Message == "" || len(req.Message) > maxMessageBytes:
		return fmt.Errorf("message must be 1..%d bytes", maxMessageBytes)
	}
	return nil
}

type sendResponse struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
	// Logged reports whether the audit entry has reached the logging
	// service yet; if not, it is queued and delivered later.
	Logged bool `json:"logged"`
	// Audit is "delivered", "queued" or "off".
	Audit string `json:"audit"`
	// AuditToken, with Deps.ExchangeProbes only (the demo), is the header
	// and claims of the token exchanged for the audit entry, never its
	// signature: the page shows its act.
	AuditToken *decodedToken `json:"audit_token,omitempty"`
}

// decodedToken is a JWT's header and claims, without the signature that
// would make it usable.
type decodedToken struct {
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
}

func decode(raw string) *decodedToken {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil
	}
	d := &decodedToken{}
	for i, dst := range []*map[string]any{&d.Header, &d.Claims} {
		data, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(data, dst) != nil {
			return nil
		}
	}
	return d
}

// auditWait bounds how long a 202 waits for its audit entry's delivery.
const auditWait = 2 * time.Second

func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	claims, _ := authn.ClaimsFromContext(r.Context())
	var req sendRequest
	if err := httpx.Decode(w, r, maxBodyBytes, &req); err != nil {
		httpx.Error(w, httpx.DecodeStatus(err), "invalid_request", httpx.DecodeDescription(err))
		return
	}
	if err := req.validate(); err != nil {
		httpx.Error(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	// From here the request is accepted: a caller that disconnects must not
	// cancel half of what follows.
	ctx := context.WithoutCancel(r.Context())
	var onBehalf *tokenclient.Token // the audit entry's token, on the caller's behalf
	if raw, ok := authn.TokenFromContext(r.Context()); ok && s.outbox != nil {
		onBehalf = s.outbox.onBehalf(ctx, raw)
	}
	id, delivered, err := s.notifications.accept(ctx, claims, req, onBehalf)
	switch {
	case errors.Is(err, authn.ErrReplayed):
		s.deps.Logger.Info("token rejected", "reason", "token already used", "jti", claims.ID, telemetry.Attr(r.Context()))
		s.deps.Verifier.CountRefusal(err)
		authn.WriteError(w, Audience, err)
		return
	case database.Unavailable(err):
		s.deps.Logger.Error("notification not stored", "err", err, "jti", claims.ID)
		httpx.Unavailable(w, "notification not accepted; the database did not answer in time")
		return
	case err != nil:
		s.deps.Logger.Error("notification not stored", "err", err, "jti", claims.ID)
		httpx.Error(w, http.StatusInternalServerError, "server_error", "notification not accepted")
		return
	}
	resp := sendResponse{ID: id, Status: "accepted", Audit: "off"}
	if s.deps.ExchangeProbes && onBehalf != nil {
		resp.AuditToken = decode(onBehalf.AccessToken)
	}
	if delivered != nil {
		resp.Audit = "queued"
		s.outbox.kick()
		if s.outbox.wait(ctx, id, delivered, auditWait) {
			resp.Logged, resp.Audit = true, "delivered"
		}
	}
	s.deps.Logger.Info("notification accepted", "id", id, "source", claims.Subject, "jti", claims.ID, "audit", resp.Audit)
	httpx.Encode(w, http.StatusAccepted, resp)
}
