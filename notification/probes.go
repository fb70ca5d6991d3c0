package notification

import (
	"errors"
	"net/http"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/httpx"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

// The exchange probes show, in the demo, what Identity refuses
// Notification however it asks: Notification makes two token exchanges
// that policy must refuse, with its own credentials, and reports
// Identity's answers. Off unless Deps.ExchangeProbes.

type probesRequest struct {
	// ForeignToken is a token the caller got for another service:
	// Notification tries to exchange it as if it had been presented to it,
	// as it could with a token it stole or was sent by mistake.
	ForeignToken string `json:"foreign_token"`
}

// probe is one attempted exchange and Identity's answer to it.
type probe struct {
	ID          string `json:"id"`
	Status      int    `json:"status"` // 200 would be a policy failure
	Error       string `json:"error,omitempty"`
	Description string `json:"error_description,omitempty"`
}

// Probe ids.
const (
	ProbeForeignToken = "exchange-foreign-token"
	ProbeWiderScope   = "exchange-wider-scope"
)

func (s *Server) handleExchangeProbes(w http.ResponseWriter, r *http.Request) {
	claims, _ := authn.ClaimsFromContext(r.Context())
	raw, _ := authn.TokenFromContext(r.Context())
	var req probesRequest
	if err := httpx.Decode(w, r, maxBodyBytes, &req); err != nil {
		httpx.Error(w, httpx.DecodeStatus(err), "invalid_request", httpx.DecodeDescription(err))
		return
	}
	if req.ForeignToken == "" || len(req.ForeignToken) > authn.DefaultMaxTokenSize {
		httpx.Error(w, http.StatusBadRequest, "invalid_request", "foreign_token is required, of at most 8 KiB")
		return
	}
	// Single use, as for notifications.
	first, err := s.deps.Replay.Use(r.Context(), claims.ID, claims.ExpiresAt.Add(s.deps.Verifier.Leeway()))
	switch {
	case err != nil:
		httpx.Unavailable(w, "the replay store did not answer")
		return
	case !first:
		s.deps.Verifier.CountRefusal(authn.ErrReplayed)
		authn.WriteError(w, Audience, authn.ErrReplayed)
		return
	}
	probes := []probe{
		s.tryExchange(r, ProbeForeignToken, req.ForeignToken, ""),
		// The caller's own token, presented here, but for a scope its
		// caller may not have at Logging.
		s.tryExchange(r, ProbeWiderScope, raw, "logs:read"),
	}
	httpx.Encode(w, http.StatusOK, map[string]any{"probes": probes})
}

func (s *Server) tryExchange(r *http.Request, id, subjectToken, scope string) probe {
	_, err := s.deps.Audit.OnBehalf(r.Context(), subjectToken, scope)
	var refused *tokenclient.Error
	switch {
	case err == nil:
		s.deps.Logger.Error("Identity granted an exchange its policy should refuse", "probe", id)
		return probe{ID: id, Status: http.StatusOK}
	case errors.As(err, &refused):
		return probe{ID: id, Status: refused.Status, Error: refused.Code, Description: refused.Description}
	}
	return probe{ID: id, Error: "unreachable", Description: httpx.LogBounded(err.Error())}
}
