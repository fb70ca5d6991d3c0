package identity

import (
	"errors"
	"net/http"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/httpx"
)

// adminClientID is the limiter's name for admin credentials: a client id
// no registry entry can have (it holds a NUL).
const adminClientID = "\x00admin"

// handleRotateKeys rotates the signing key on demand. It exists only when an
// admin secret is configured, and needs it on every call. Failures count in
// the same limiter as client secrets, and are logged (bounded like them).
func (s *server) handleRotateKeys(w http.ResponseWriter, r *http.Request) {
	if !s.admin(w, r) {
		return
	}
	kid, err := s.deps.Keys.Rotate(r.Context())
	if errors.Is(err, ErrTooManyKeys) {
		httpx.Error(w, http.StatusTooManyRequests, "too_many_keys", err.Error())
		return
	}
	if err != nil {
		s.deps.Logger.Error("key rotation failed", "err", err)
		httpx.Error(w, http.StatusInternalServerError, "server_error", "key rotation failed")
		return
	}
	s.deps.Logger.Info("signing key rotated on demand", "kid", kid)
	httpx.Encode(w, http.StatusOK, map[string]string{"kid": kid})
}

// admin reports whether r carries the admin credentials, and answers it
// when not: 404 without an admin secret configured, 401, or 429 past the
// limiter's bound.
func (s *server) admin(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.AdminSecretSHA256 == "" {
		http.NotFound(w, r)
		return false
	}
	user, secret, ok := r.BasicAuth()
	if !ok || user != "admin" || !secretMatches(secret, s.cfg.AdminSecretSHA256) {
		t := s.limiter.fail(sourceOf(r), adminClientID)
		if !t.quiet {
			s.deps.Logger.Warn("admin authentication failed", "remote", r.RemoteAddr, "throttled", t.wait > 0)
		}
		if t.wait > 0 {
			w.Header().Set("Retry-After", retryAfterSeconds(t.wait))
			httpx.Error(w, http.StatusTooManyRequests, "too_many_requests", lockedOutMessage)
			return false
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="identity-admin"`)
		httpx.Error(w, http.StatusUnauthorized, "unauthorized", "admin credentials required")
		return false
	}
	return true
}

// maxAdminBody bounds an admin request's body.
const maxAdminBody = 4 << 10

// handleRevoke revokes one token ({"jti": …}) or a caller and every token
// it holds ({"client_id": …}), for good.
func (s *server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if !s.admin(w, r) {
		return
	}
	var req struct {
		JTI      string `json:"jti"`
		ClientID string `json:"client_id"`
	}
	if err := httpx.Decode(w, r, maxAdminBody, &req); err != nil || (req.JTI == "") == (req.ClientID == "") {
		httpx.Error(w, http.StatusBadRequest, "invalid_request", "send one of jti and client_id")
		return
	}
	if req.ClientID != "" {
		s.setClientStatus(w, r, req.ClientID, authn.StatusInvalid)
		return
	}
	found, err := s.deps.Status.RevokeToken(r.Context(), req.JTI)
	switch {
	case err != nil:
		s.deps.Logger.Error("token not revoked", "jti", httpx.LogBounded(req.JTI), "err", err)
		httpx.Unavailable(w, "token not revoked; try again")
	case !found:
		httpx.Error(w, http.StatusNotFound, "not_found", "no live token has this jti")
	default:
		s.deps.Logger.Info("token revoked", "jti", req.JTI)
		httpx.Encode(w, http.StatusOK, map[string]string{"jti": req.JTI, "status": "revoked"})
	}
}

// handleClientStatus suspends or reinstates the caller {"client_id": …}.
func (s *server) handleClientStatus(status byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.admin(w, r) {
			return
		}
		var req struct {
			ClientID string `json:"client_id"`
		}
		if err := httpx.Decode(w, r, maxAdminBody, &req); err != nil || req.ClientID == "" {
			httpx.Error(w, http.StatusBadRequest, "invalid_request", "send client_id")
			return
		}
		s.setClientStatus(w, r, req.ClientID, status)
	}
}

var statusNames = map[byte]string{authn.StatusValid: "valid", authn.StatusInvalid: "revoked", authn.StatusSuspended: "suspended"}

func (s *server) setClientStatus(w http.ResponseWriter, r *http.Request, client string, status byte) {
	if _, ok := s.cfg.Registry.client(client); !ok {
		httpx.Error(w, http.StatusNotFound, "not_found", "no registered client has this id")
		return
	}
	if err := s.deps.Status.SetClient(r.Context(), client, status); err != nil {
		s.deps.Logger.Error("client status not changed", "client_id", client, "err", err)
		httpx.Unavailable(w, "client status not changed; try again")
		return
	}
	s.deps.Logger.Info("client status changed", "client_id", client, "status", statusNames[status])
	httpx.Encode(w, http.StatusOK, map[string]string{"client_id": client, "status": statusNames[status]})
}
