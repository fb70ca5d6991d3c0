package notification

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/httpx"
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
	// Logged reports whether the audit entry reached the logging service.
	Logged bool `json:"logged"`
}

func (s *server) handleSend(w http.ResponseWriter, r *http.Request) {
	claims, _ := authn.ClaimsFromContext(r.Context())
	var req sendRequest
	if err := httpx.Decode(w, r, maxBodyBytes, &req); err != nil {
		httpx.Error(w, httpx.DecodeStatus(err), "invalid_request", err.Error())
		return
	}
	if err := req.validate(); err != nil {
		httpx.Error(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	res, err := s.deps.DB.ExecContext(r.Context(),
		`INSERT INTO notifications (time, source, channel, target, message, jti) VALUES (?, ?, ?, ?, ?, ?)`,
		s.deps.Now().UnixNano(), claims.Subject, req.Channel, req.To, req.Message, claims.ID)
	var id int64
	if err == nil {
		id, err = res.LastInsertId()
	}
	if err != nil {
		s.deps.Logger.Error("notification not stored", "err", err, "jti", claims.ID)
		httpx.Error(w, http.StatusInternalServerError, "server_error", "notification not accepted")
		return
	}
	resp := sendResponse{ID: id, Status: "accepted"}
	if s.deps.Audit != nil {
		// The audit entry is best effort: the notification is already
		// accepted, and the response says whether logging worked.
		err := s.deps.Audit.Log(r.Context(), "notification accepted", map[string]string{
			"notification_id": strconv.FormatInt(id, 10), "requested_by": claims.Subject, "channel": req.Channel,
		})
		if err != nil && !errors.Is(err, r.Context().Err()) {
			s.deps.Logger.Warn("audit log to logging-service failed", "err", err, "jti", claims.ID)
		}
		resp.Logged = err == nil
	}
	s.deps.Logger.Info("notification accepted", "id", id, "source", claims.Subject, "jti", claims.ID, "logged", resp.Logged)
	httpx.Encode(w, http.StatusAccepted, resp)
}
