package identity

import (
	"errors"
	"net/http"

	"github.com/s2sjwt/s2sjwt/internal/httpx"
)

// adminClientID is the limiter's name for admin credentials: a client id
// no registry entry can have (it holds a NUL).
const adminClientID = "\x00admin"

// handleRotateKeys rotates the signing key on demand. It exists only when an
// admin secret is configured, and needs it on every call. Failures count in
// the same limiter as client secrets, and are logged (bounded like them).
func (s *server) handleRotateKeys(w http.ResponseWriter, r *http.Request) {
	if s.cfg.AdminSecretSHA256 == "" {
		http.NotFound(w, r)
		return
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
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="identity-admin"`)
		httpx.Error(w, http.StatusUnauthorized, "unauthorized", "admin credentials required")
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
