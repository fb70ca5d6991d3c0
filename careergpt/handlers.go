package careergpt

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/s2sjwt/s2sjwt/internal/httpx"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

//go:embed web
var webFiles embed.FS

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	sub, _ := fs.Sub(webFiles, "web")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'")
	http.FileServerFS(sub).ServeHTTP(w, r)
}

func (s *Server) handleLastScenario(w http.ResponseWriter, _ *http.Request) {
	out, ok := s.LastOutcome()
	if !ok {
		httpx.Error(w, http.StatusNotFound, "not_found", "no scenario has run yet; POST /v1/scenario")
		return
	}
	httpx.Encode(w, http.StatusOK, out)
}

func (s *Server) handleRunScenario(w http.ResponseWriter, r *http.Request) {
	s.playAndAnswer(w, r, "scenario")
}

func (s *Server) handleAction(w http.ResponseWriter, r *http.Request) {
	action := chi.URLParam(r, "action")
	if !slices.Contains(Actions, action) {
		httpx.Error(w, http.StatusNotFound, "not_found", "unknown action")
		return
	}
	s.playAndAnswer(w, r, action)
}

func (s *Server) playAndAnswer(w http.ResponseWriter, r *http.Request, action string) {
	out, err := s.Play(r.Context(), action)
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	httpx.Encode(w, http.StatusOK, out)
}

// advice is canned: the point is the calls around it, not a model.
const advice = "Write down what you want to learn next, then find the team that does it daily."

func (s *Server) handleAdvice(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Question string `json:"question"`
	}
	if err := httpx.Decode(w, r, 4<<10, &req); err != nil {
		httpx.Error(w, httpx.DecodeStatus(err), "invalid_request", httpx.DecodeDescription(err))
		return
	}
	logErr := s.logs.Log(r.Context(), "career advice served", map[string]string{"question_bytes": strconv.Itoa(len(req.Question))})
	notifyErr := s.notify(r.Context())
	if logErr != nil || notifyErr != nil {
		s.deps.Logger.Warn("advice side effects failed", "log_err", logErr, "notify_err", notifyErr)
	}
	httpx.Encode(w, http.StatusOK, map[string]any{"advice": advice, "logged": logErr == nil, "notified": notifyErr == nil})
}

// notify sends one notification with a fresh token: Notification accepts
// each token once, so none is cached.
func (s *Server) notify(ctx context.Context) error {
	tok, err := s.tokens.Token(ctx, tokenclient.Request{Audience: NotificationAudience, Scope: scopeNotify})
	if err != nil {
		return err
	}
	status, _, _, err := s.post(ctx, s.cfg.NotificationURL+"/v1/notifications", notificationBody(), s.own(tok))
	if err == nil && status != http.StatusAccepted {
		err = fmt.Errorf("careergpt: notification-service answered %d", status)
	}
	return err
}

// maxAuditEntries bounds what /v1/audit returns.
const maxAuditEntries = 100

// handleAudit lists what Logging recorded, read with a logs:read token:
// the sources show who wrote each entry, as the tokens said.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	entries, err := s.loggingEntries(r.Context(), url.Values{"limit": {strconv.Itoa(maxAuditEntries)}})
	if err != nil {
		httpx.Error(w, http.StatusBadGateway, "upstream_error", "logging-service: "+err.Error())
		return
	}
	httpx.Encode(w, http.StatusOK, map[string]any{"entries": entries})
}

// loggingEntry is what CareerGPT reads of a Logging entry.
type loggingEntry struct {
	ID         int64             `json:"id"`
	Source     string            `json:"source"`
	Actors     []string          `json:"actors"`
	Message    string            `json:"message"`
	Attributes map[string]string `json:"attributes"`
}

// loggingEntries reads Logging's entries matching query, with CareerGPT's
// own logs:read token (DPoP-bound when it has a DPoP key).
func (s *Server) loggingEntries(ctx context.Context, query url.Values) ([]json.RawMessage, error) {
	tok, err := s.cached.Token(ctx, tokenclient.Request{Audience: LoggingAudience, Scope: scopeLogsRead, DPoP: s.deps.DPoPKey != nil})
	if err != nil {
		return nil, errors.New("no token for logging-service")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.LoggingURL+"/v1/logs?"+query.Encode(), nil)
	if err != nil {
		return nil, err
	}
	if err := tokenclient.Authorize(req, tok, s.deps.DPoPKey); err != nil {
		return nil, err
	}
	resp, err := s.deps.HTTP.Do(req)
	if err != nil {
		return nil, errors.New("unreachable")
	}
	defer resp.Body.Close()
	var body struct {
		Entries []json.RawMessage `json:"entries"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body) != nil {
		return nil, errors.New("answered " + resp.Status)
	}
	return body.Entries, nil
}
