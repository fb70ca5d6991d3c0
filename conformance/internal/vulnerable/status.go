package vulnerable

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// statusRefresh is how long the server uses a status list before
// fetching it again (StatusNeverRefetched: for ever).
const statusRefresh = time.Second

type cachedStatusList struct {
	bytes     []byte // 2-bit entries, or nil
	fetchedAt time.Time
}

// checkStatus judges a token's status list entry when the server honours
// status lists (Config.StatusLists): the list must be under the issuer's
// URL, signed by one of its keys, for that URI, not expired; the entry
// inside it and valid.
func (s *server) checkStatus(ctx context.Context, c map[string]any) error {
	st, _ := c["status"].(map[string]any)
	ref, _ := st["status_list"].(map[string]any)
	if !s.cfg.StatusLists || ref == nil {
		return nil
	}
	if s.has(StatusRefusesAll) {
		return errRefused
	}
	uri, _ := ref["uri"].(string)
	idxNum, ok := ref["idx"].(json.Number)
	idx, err := idxNum.Int64()
	if !ok || err != nil || idx < 0 || uri == "" {
		return errRefused
	}
	if !strings.HasPrefix(uri, s.cfg.Issuer+"/") && !s.has(StatusFetchesAnyURI) {
		return errRefused
	}
	list, err := s.statusList(ctx, uri)
	if err != nil {
		return err
	}
	if int(idx) >= len(list)*4 {
		if s.has(StatusOutOfRangeValid) {
			return nil
		}
		return errRefused
	}
	switch list[idx/4] >> (idx % 4 * 2) & 3 {
	case 0:
		return nil
	case 2:
		if s.has(StatusIgnoresSuspended) {
			return nil
		}
	}
	return errRefused
}

// statusList returns uri's list, fetched at most once per statusRefresh.
func (s *server) statusList(ctx context.Context, uri string) ([]byte, error) {
	s.mu.Lock()
	cached, ok := s.lists[uri]
	s.mu.Unlock()
	if ok && (time.Since(cached.fetchedAt) < statusRefresh || s.has(StatusNeverRefetched)) {
		return cached.bytes, nil
	}
	list, err := s.fetchStatusList(ctx, uri)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.lists[uri] = cachedStatusList{bytes: list, fetchedAt: time.Now()}
	s.mu.Unlock()
	return list, nil
}

func (s *server) fetchStatusList(ctx context.Context, uri string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, errRefused
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, errRefused
	}
	var claims struct {
		jwt.RegisteredClaims
		List struct {
			Bits int    `json:"bits"`
			Lst  string `json:"lst"`
		} `json:"status_list"`
	}
	raw := strings.TrimSpace(string(body))
	// Claims are validated apart from the signature, so that each flaw
	// leaves out one check only.
	opts := []jwt.ParserOption{jwt.WithoutClaimsValidation()}
	if s.has(StatusSkipsListSignature) {
		_, _, err = jwt.NewParser(opts...).ParseUnverified(raw, &claims)
	} else {
		_, err = jwt.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
			if t.Header["typ"] != "statuslist+jwt" {
				return nil, errRefused
			}
			kid, _ := t.Header["kid"].(string)
			k, ok := s.key(ctx, kid)
			if !ok || k.Algorithm != t.Method.Alg() {
				return nil, errRefused
			}
			return k.Public, nil
		}, append(opts, jwt.WithValidMethods(s.cfg.Algorithms))...)
	}
	if err != nil || claims.List.Bits != 2 {
		return nil, errRefused
	}
	var checks []jwt.ParserOption
	if !s.has(StatusSkipsListSub) {
		checks = append(checks, jwt.WithSubject(uri))
	}
	if !s.has(StatusSkipsListExp) {
		checks = append(checks, jwt.WithExpirationRequired())
	} else {
		claims.ExpiresAt = nil
	}
	if err := jwt.NewValidator(checks...).Validate(&claims); err != nil {
		return nil, errRefused
	}
	compressed, err := base64.RawURLEncoding.DecodeString(claims.List.Lst)
	if err != nil {
		return nil, errRefused
	}
	zr, err := zlib.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, errRefused
	}
	list, err := io.ReadAll(io.LimitReader(zr, 1<<20))
	if err != nil {
		return nil, errRefused
	}
	return list, nil
}
