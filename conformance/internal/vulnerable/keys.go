package vulnerable

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// chooseKey returns the key to verify with, or an error.
func (s *server) chooseKey(ctx context.Context, h map[string]any, alg, kid, iss string) (any, error) {
	if alg == "HS256" {
		switch {
		case s.has(KidAsFilePath) && strings.Contains(kid, "/"):
			return os.ReadFile(kid) // /dev/null: an empty key the attacker also knows
		case s.has(HS256DevSecret):
			return []byte("secret"), nil
		case s.has(HMACWithPublicKey):
			k, ok := s.key(ctx, kid)
			if !ok {
				return nil, errRefused
			}
			der, _ := x509.MarshalPKIXPublicKey(k.Public)
			return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
		}
		return nil, errRefused
	}
	if !slices.Contains(s.cfg.Algorithms, alg) {
		return nil, errRefused
	}
	if raw, ok := h["jwk"]; ok {
		if !s.has(TrustsEmbeddedJWK) {
			return nil, errRefused
		}
		data, _ := json.Marshal(raw)
		var k jwk.Key
		if json.Unmarshal(data, &k) != nil {
			return nil, errRefused
		}
		return k.Public, nil
	}
	for _, param := range []string{"jku", "x5u"} {
		u, ok := h[param].(string)
		if !ok {
			continue
		}
		if param == "jku" && s.has(FetchesJKU) || param == "x5u" && s.has(FetchesX5U) {
			if resp, err := s.client.Get(u); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		return nil, errRefused
	}
	if chain, ok := h["x5c"].([]any); ok {
		if !s.has(TrustsX5C) || len(chain) == 0 {
			return nil, errRefused
		}
		der, _ := base64.StdEncoding.DecodeString(fmt.Sprint(chain[0]))
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, errRefused
		}
		return cert.PublicKey, nil
	}
	if kid == "" {
		if s.has(TriesAllKeysWithoutKid) {
			return nil, nil
		}
		return nil, errRefused
	}
	k, ok := s.key(ctx, kid)
	if s.has(DiscoversKeysFromIss) {
		k, ok = s.fetchSet(ctx, iss+"/jwks.json")[kid]
	}
	if !ok {
		return nil, errRefused
	}
	if s.has(AlgorithmFromKey) {
		return keyWithAlg{k}, nil
	}
	if k.Algorithm != alg {
		return nil, errRefused
	}
	if _, isEC := k.Public.(*ecdsa.PublicKey); isEC != (alg == "ES256") {
		return nil, errRefused
	}
	return k.Public, nil
}

// keyWithAlg marks a key whose own algorithm verifies, whatever the header says.
type keyWithAlg struct{ jwk.Key }

func (s *server) key(ctx context.Context, kid string) (jwk.Key, bool) {
	s.mu.Lock()
	k, ok := s.keys[kid]
	stale := time.Since(s.fetchedAt) > s.cfg.RefreshInterval
	s.mu.Unlock()
	if ok {
		return k, true
	}
	if stale || s.has(RefetchesJWKSAlways) {
		s.fetch(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok = s.keys[kid]
	return k, ok
}

func (s *server) allKeys(ctx context.Context) []jwk.Key {
	s.key(ctx, "")
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []jwk.Key
	for _, k := range s.keys {
		out = append(out, k)
	}
	return out
}

func (s *server) fetch(ctx context.Context) {
	keys := s.fetchSet(ctx, s.cfg.JWKSURL)
	if keys == nil {
		return
	}
	s.mu.Lock()
	s.keys, s.fetchedAt = keys, time.Now()
	s.mu.Unlock()
}

func (s *server) fetchSet(ctx context.Context, url string) map[string]jwk.Key {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if json.NewDecoder(resp.Body).Decode(&raw) != nil {
		return nil
	}
	// How this server reads a key's stated purpose, flaws included.
	kept := raw.Keys[:0]
	for _, k := range raw.Keys {
		if s.cfg.Profile == ProfileJWTSVID && k["use"] == "jwt-svid" {
			k["use"] = "sig" // a SPIFFE bundle's JWT authority
		}
		_, hasUse := k["use"]
		switch {
		case s.has(RequiresUse) && !hasUse:
			continue
		case s.has(IgnoresKeyUse):
			delete(k, "use")
		case s.has(IgnoresKeyOps):
			delete(k, "key_ops")
		}
		kept = append(kept, k)
	}
	data, _ := json.Marshal(map[string]any{"keys": kept})
	var set jwk.Set
	if json.Unmarshal(data, &set) != nil {
		return nil
	}
	keys := map[string]jwk.Key{}
	for _, k := range set.Keys {
		keys[k.ID] = k
	}
	return keys
}
