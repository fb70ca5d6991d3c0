package testissuer

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// Status lists (draft-ietf-oauth-status-list): the suite signs each list
// token itself, with the issuer's keys, and hands it to the issuer to
// serve under StatusListsPath; the issuer only stores and serves them.
const (
	StatusListsPath   = "/statuslists/"
	StatusControlPath = "/control/status-list"
	// maxStatusLists and maxStatusListBytes bound what the issuer keeps.
	maxStatusLists     = 256
	maxStatusListBytes = 256 << 10
)

// SetStatusList serves token at StatusListsPath + name from now on; past
// maxStatusLists names, the oldest is dropped.
func (s *Server) SetStatusList(name, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lists == nil {
		s.lists = map[string]string{}
	}
	if _, ok := s.lists[name]; !ok {
		if len(s.listOrder) >= maxStatusLists {
			delete(s.lists, s.listOrder[0])
			s.listOrder = s.listOrder[1:]
		}
		s.listOrder = append(s.listOrder, name)
	}
	s.lists[name] = token
}

func (s *Server) handleStatusList(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, StatusListsPath)
	s.mu.Lock()
	token, ok := s.lists[name]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/statuslist+jwt")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, token)
}

// handleSetStatusList is SetStatusList over HTTP, for a suite whose issuer
// runs in another process (a MAC under the control token, as publishing).
func (s *Server) handleSetStatusList(w http.ResponseWriter, r *http.Request) {
	body, ok := s.controlBody(w, r, maxStatusListBytes+4<<10)
	if !ok {
		return
	}
	var req struct {
		Name  string `json:"name"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Name == "" || len(req.Name) > 128 || strings.Contains(req.Name, "/") || req.Token == "" {
		http.Error(w, `want {"name": "…", "token": "…"}`, http.StatusBadRequest)
		return
	}
	s.SetStatusList(req.Name, req.Token)
	w.WriteHeader(http.StatusNoContent)
}
