package logging

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/httpx"
)

// Limits on what one request may store or read.
const (
	maxBodyBytes     = 16 << 10
	maxMessageBytes  = 4 << 10
	maxAttributes    = 32
	defaultListLimit = 100
	maxListLimit     = 1000
)

var levels = []string{"debug", "info", "warn", "error"}

// appendRequest is the body of POST /v1/logs. It has no source field: the
// source is the caller's verified sub, and a body naming one is refused.
type appendRequest struct {
	Level      string            `json:"level"`
	Message    string            `json:"message"`
	Attributes map[string]string `json:"attributes"`
}

func (req *appendRequest) validate() error {
	switch {
	case req.Message == "":
		return errors.New("message is required")
	case len(req.Message) > maxMessageBytes:
		return fmt.Errorf("message longer than %d bytes", maxMessageBytes)
	case len(req.Attributes) > maxAttributes:
		return fmt.Errorf("more than %d attributes", maxAttributes)
	case req.Level != "" && !slices.Contains(levels, req.Level):
		return fmt.Errorf("level must be one of %v", levels)
	}
	return nil
}

func (s *server) handleAppend(w http.ResponseWriter, r *http.Request) {
	claims, _ := authn.ClaimsFromContext(r.Context())
	var req appendRequest
	if err := httpx.Decode(w, r, maxBodyBytes, &req); err != nil {
		httpx.Error(w, httpx.DecodeStatus(err), "invalid_request", httpx.DecodeDescription(err))
		return
	}
	if err := req.validate(); err != nil {
		httpx.Error(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	entry, err := s.deps.Store.Append(r.Context(), Entry{
		Time:       s.deps.Now().UTC(),
		Source:     claims.Subject,
		Level:      cmp.Or(req.Level, "info"),
		Message:    req.Message,
		Attributes: req.Attributes,
		Actors:     claims.Actors(),
		TokenID:    claims.ID,
		ClientID:   claims.ClientID,
	})
	if err != nil {
		s.deps.Logger.Error("append failed", "err", err, "jti", claims.ID)
		storeError(w, err, "entry not stored")
		return
	}
	s.deps.Logger.Info("entry stored", "id", entry.ID, "source", entry.Source, "actors", entry.Actors, "jti", claims.ID)
	httpx.Encode(w, http.StatusCreated, entry)
}

// listResponse is a page of GET /v1/logs. next_cursor, when there may be
// more, is passed back as ?cursor= with the same filters for the next page.
type listResponse struct {
	Entries    []Entry `json:"entries"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

func (s *server) handleList(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	page, err := s.deps.Store.List(r.Context(), f)
	if err != nil {
		s.deps.Logger.Error("list failed", "err", err)
		storeError(w, err, "cannot list entries")
		return
	}
	httpx.Encode(w, http.StatusOK, listResponse{Entries: page.Entries, NextCursor: page.Next.String()})
}

// parseFilter reads GET /v1/logs's query: source, level, since (RFC 3339),
// limit (1..maxListLimit), order (oldest, the default, or newest) and
// cursor.
func parseFilter(q url.Values) (Filter, error) {
	f := Filter{Source: q.Get("source"), Level: q.Get("level"), Limit: defaultListLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			return f, fmt.Errorf("limit must be 1..%d", maxListLimit)
		}
		f.Limit = n
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return f, errors.New("since must be an RFC 3339 time")
		}
		f.Since = t
	}
	switch q.Get("order") {
	case "", "oldest":
	case "newest":
		f.Newest = true
	default:
		return f, errors.New("order must be oldest or newest")
	}
	if v := q.Get("cursor"); v != "" {
		c, err := ParseCursor(v)
		if err != nil {
			return f, fmt.Errorf("cursor: %w", err)
		}
		f.After = c
	}
	return f, nil
}

// storeError answers a failed store: 503 with Retry-After when the
// database did not answer in time (try again), 500 otherwise.
func storeError(w http.ResponseWriter, err error, description string) {
	if database.Unavailable(err) {
		httpx.Unavailable(w, description)
		return
	}
	httpx.Error(w, http.StatusInternalServerError, "server_error", description)
}
