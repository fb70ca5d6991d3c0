package testissuer

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// Paths the issuer serves, relative to its URL.
const (
	JWKSPath = "/jwks.json"
	// BundlePath serves the trusted keys as a SPIFFE bundle (use:
	// jwt-svid), as a SPIFFE bundle endpoint does, for JWT-SVID verifiers.
	BundlePath = "/spiffe/bundle"
	// KubernetesJWKSPath is where a Kubernetes API server serves its
	// service-account keys; the same set as JWKSPath.
	KubernetesJWKSPath = "/openid/v1/jwks"
	OtherPath          = "/other" // another issuer, with a key set of its own
	AttackerPath       = "/attacker/"
	HitsPath           = "/hits"
	AboutPath          = "/.well-known/conformance-issuer"
	PublishPath        = "/control/publish"
	oauthMetadata      = "/.well-known/oauth-authorization-server"
	oidcMetadata       = "/.well-known/openid-configuration"
)

// Bounds on what the fetch log keeps: anyone who reaches the issuer can
// write to it.
const (
	maxAttackerHits = 1000
	maxHitPathBytes = 256
	// maxPublished bounds keys published while the issuer runs; the
	// oldest goes first.
	maxPublished    = 16
	maxPublishBytes = 64 << 10
)

// Documents are the public documents the issuer serves; they are all its
// HTTP side needs, so it can run where the private keys are not (a
// container started by the suite).
type Documents struct {
	Issuer   string          `json:"issuer"`
	Trusted  json.RawMessage `json:"trusted"`
	Other    json.RawMessage `json:"other"`
	Attacker json.RawMessage `json:"attacker"`
	// ControlToken is the key of PublishPath's MACs (SignControl); empty,
	// nothing can be published over HTTP.
	ControlToken string `json:"control_token"`
}

// Documents returns what an issuer at issuerURL serves for these keys.
func (k *Keys) Documents(issuerURL string) Documents {
	set := func(keys ...RoleKey) json.RawMessage {
		b, _ := json.Marshal(map[string][]RoleKey{"keys": keys})
		return b
	}
	var other, attacker []RoleKey
	for _, alg := range Algorithms {
		other = append(other, RoleKey{Role: Primary, Key: k.byRole[Other][alg].Public()})
		attacker = append(attacker, RoleKey{Role: Primary, Key: k.byRole[Attacker][alg].Public()})
	}
	return Documents{Issuer: issuerURL, Trusted: set(k.Trusted()...), Other: set(other...), Attacker: set(attacker...),
		ControlToken: k.ControlToken}
}

// Hits counts what servers under test fetched. Fetching an attacker URL
// at all is a finding, so each such fetch is recorded by path.
type Hits struct {
	JWKS     int      `json:"jwks"`
	Attacker []string `json:"attacker"`
}

// About identifies a running issuer: a suite compares the kids with its own
// keys before it relies on the issuer.
type About struct {
	Issuer string   `json:"issuer"`
	Kids   []string `json:"kids"`
}

// Server is the issuer's HTTP side.
type Server struct {
	docs  Documents
	about []byte
	mux   *http.ServeMux

	trusted []json.RawMessage // the trusted keys the issuer started with

	mu        sync.Mutex
	hits      Hits
	published []json.RawMessage // keys added while running
	nonces    controlNonces
	lists     map[string]string // status list tokens by name
	listOrder []string          // their names, oldest first
}

// NewServer serves docs.
func NewServer(docs Documents) (*Server, error) {
	// Read kids generically: jwk.Set would skip the PS256 keys this project's
	// own verifier does not use.
	var trusted struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(docs.Trusted, &trusted); err != nil {
		return nil, fmt.Errorf("testissuer: trusted key set: %w", err)
	}
	about := About{Issuer: docs.Issuer}
	for _, raw := range trusted.Keys {
		var k struct {
			Kid string `json:"kid"`
		}
		_ = json.Unmarshal(raw, &k)
		about.Kids = append(about.Kids, k.Kid)
	}
	s := &Server{docs: docs, mux: http.NewServeMux(), trusted: trusted.Keys}
	s.about, _ = json.Marshal(about)
	other := docs.Issuer + OtherPath
	s.mux.HandleFunc("GET /healthz", s.static([]byte(`"ok"`)))
	s.mux.HandleFunc("GET "+AboutPath, s.static(s.about))
	s.mux.HandleFunc("GET "+JWKSPath, s.handleJWKS)
	s.mux.HandleFunc("GET "+KubernetesJWKSPath, s.handleJWKS)
	s.mux.HandleFunc("GET "+BundlePath, s.handleBundle)
	s.mux.HandleFunc("GET "+oauthMetadata, s.static(metadata(docs.Issuer)))
	s.mux.HandleFunc("GET "+oidcMetadata, s.static(metadata(docs.Issuer)))
	s.mux.HandleFunc("GET "+OtherPath+JWKSPath, s.static(docs.Other))
	// RFC 8414 §3 puts the well-known segment before an issuer's path;
	// OpenID Connect Discovery appends it.
	s.mux.HandleFunc("GET "+oauthMetadata+OtherPath, s.static(metadata(other)))
	s.mux.HandleFunc("GET "+OtherPath+oidcMetadata, s.static(metadata(other)))
	s.mux.HandleFunc("GET "+AttackerPath, s.handleAttacker)
	s.mux.HandleFunc("GET "+HitsPath, s.handleHits)
	s.mux.HandleFunc("POST "+PublishPath, s.handlePublish)
	s.mux.HandleFunc("GET "+StatusListsPath, s.handleStatusList)
	s.mux.HandleFunc("POST "+StatusControlPath, s.handleSetStatusList)
	return s, nil
}

// metadata is the smallest document both RFC 8414 and OpenID Connect
// Discovery parsers accept: the issuer and where its keys are.
func metadata(issuer string) []byte {
	b, _ := json.Marshal(map[string]any{
		"issuer":                                issuer,
		"jwks_uri":                              issuer + JWKSPath,
		"subject_types_supported":               []string{"public"},
		"response_types_supported":              []string{"code"},
		"id_token_signing_alg_values_supported": Algorithms,
		"token_endpoint_auth_methods_supported": []string{"none"},
	})
	return b
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) static(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, body) }
}

func (s *Server) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	body, _ := json.Marshal(map[string][]json.RawMessage{"keys": s.fetchKeys()})
	writeJSON(w, body)
}

// fetchKeys counts a fetch and returns the trusted and published keys.
func (s *Server) fetchKeys() []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hits.JWKS++
	return append(slices.Clone(s.trusted), s.published...)
}

// bundleRefreshHint is the SPIFFE bundle's refresh hint in seconds: short,
// so a verifier that follows it sees a published key (KEY-11) well within
// the suite's default wait.
const bundleRefreshHint = 5

// handleBundle serves the key set as a SPIFFE bundle (SPIFFE Trust Domain
// and Bundle §4): every key a JWT authority (use jwt-svid) but those
// marked use enc, which SPIFFE consumers skip as they skip any other use.
// The sequence number grows with each published key.
func (s *Server) handleBundle(w http.ResponseWriter, _ *http.Request) {
	raw := s.fetchKeys()
	keys := make([]map[string]any, 0, len(raw))
	for _, r := range raw {
		var k map[string]any
		if json.Unmarshal(r, &k) != nil {
			continue
		}
		if k["use"] != "enc" {
			k["use"] = "jwt-svid"
		}
		keys = append(keys, k)
	}
	body, _ := json.Marshal(map[string]any{"keys": keys, "spiffe_refresh_hint": bundleRefreshHint, "spiffe_sequence": len(raw)})
	writeJSON(w, body)
}

// Publish adds public keys to the trusted JWKS, as an issuer rotating its
// keys does; the oldest published key goes when more than 16 are.
func (s *Server) Publish(keys ...jwk.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		raw, err := json.Marshal(k) // public members only, whatever came in
		if err != nil {
			continue
		}
		if len(s.published) >= maxPublished {
			s.published = s.published[1:]
		}
		s.published = append(s.published, raw)
	}
}

// handlePublish is Publish over HTTP for a suite whose issuer runs in
// another process; it needs a MAC under the keys directory's control
// token (SignControl).
func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	body, ok := s.controlBody(w, r, maxPublishBytes)
	if !ok {
		return
	}
	var set jwk.Set
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) == 0 {
		http.Error(w, "want a JWKS of public keys", http.StatusBadRequest)
		return
	}
	s.Publish(set.Keys...)
	w.WriteHeader(http.StatusNoContent)
}

// controlBody reads a control request's body of at most limit bytes and
// checks its MAC, answering the request itself when it fails.
func (s *Server) controlBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	if err := s.verifyControl(r, body, time.Now()); err != nil {
		http.Error(w, "control request not authorised (a MAC under the keys directory's control token)", http.StatusUnauthorized)
		return nil, false
	}
	return body, true
}

func (s *Server) handleAttacker(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if len(path) > maxHitPathBytes {
		path = path[:maxHitPathBytes]
	}
	s.mu.Lock()
	if len(s.hits.Attacker) >= maxAttackerHits {
		s.hits.Attacker = s.hits.Attacker[1:]
	}
	s.hits.Attacker = append(s.hits.Attacker, path)
	s.mu.Unlock()
	writeJSON(w, s.docs.Attacker)
}

func (s *Server) handleHits(w http.ResponseWriter, _ *http.Request) {
	body, _ := json.Marshal(s.Hits())
	writeJSON(w, body)
}

// Hits returns a copy of the fetch log.
func (s *Server) Hits() Hits {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Hits{JWKS: s.hits.JWKS, Attacker: slices.Clone(s.hits.Attacker)}
}

func writeJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store") // keys may change between runs; never serve stale ones
	_, _ = w.Write(body)
}

// HasPath reports whether the fetch log holds path.
func (h Hits) HasPath(path string) bool {
	for _, p := range h.Attacker {
		if p == path || strings.HasPrefix(path, p) && len(p) == maxHitPathBytes {
			return true
		}
	}
	return false
}
