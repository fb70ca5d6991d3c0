package vulnerable

import (
	"bytes"
	"compress/zlib"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The identity's status list (IdentityConfig.StatusList): 1,024 2-bit
// entries, one per token in issue order, at /statuslists/1; POST
// /admin/revoke {"jti"} with Basic admin:AdminSecret revokes one.
const (
	identityListSize = 1024
	identityListPath = "/statuslists/1"
	// AdminSecret is the vulnerable identity's admin password.
	AdminSecret = "vulnerable-admin-secret"
)

// statusFor gives the token jti its entry, and returns its status claim.
func (id *identity) statusFor(jti string) map[string]any {
	id.mu.Lock()
	idx := id.nextIndex % identityListSize
	if !id.has(StatusListSharedIndex) {
		id.nextIndex++
	}
	id.indexOf[jti] = idx
	id.mu.Unlock()
	return map[string]any{"status_list": map[string]any{"idx": idx, "uri": id.cfg.Issuer + identityListPath}}
}

func (id *identity) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if user, pass, ok := r.BasicAuth(); !ok || user != "admin" || pass != AdminSecret {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var req struct {
		JTI string `json:"jti"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	id.mu.Lock()
	idx, ok := id.indexOf[req.JTI]
	if ok && !id.has(StatusRevokeNotPublished) {
		id.revoked[idx] = true
	}
	id.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	writeJSONBody(w, http.StatusOK, map[string]string{"status": "revoked"})
}

func (id *identity) handleStatusList(w http.ResponseWriter, _ *http.Request) {
	packed := make([]byte, identityListSize*2/8)
	id.mu.Lock()
	for idx := range id.revoked {
		packed[idx/4] |= 1 << (idx % 4 * 2)
	}
	id.mu.Unlock()
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, _ = zw.Write(packed)
	_ = zw.Close()
	now := time.Now()
	uri := id.cfg.Issuer + identityListPath
	if id.has(StatusListWrongSub) {
		uri += "/other"
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": uri, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "ttl": 2,
		"status_list": map[string]any{"bits": 2, "lst": base64.RawURLEncoding.EncodeToString(buf.Bytes())}})
	t.Header["typ"], t.Header["kid"] = "statuslist+jwt", id.kid
	key := id.key
	if id.has(StatusListUnpublishedKey) {
		_, key, _ = ed25519.GenerateKey(rand.Reader)
	}
	raw, _ := t.SignedString(key)
	w.Header().Set("Content-Type", "application/statuslist+jwt")
	_, _ = w.Write([]byte(raw))
}
