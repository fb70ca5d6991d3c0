package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// nonceWindow is how long a DPoP nonce is handed out; one stays valid for
// one more window, so a client that just got one never sees it refused.
const nonceWindow = time.Minute

// nonces are stateless DPoP nonces (RFC 9449 §8): an HMAC of the current
// time window under a key replicas share (derived from the key secret).
// Nothing is stored per client, and a nonce from one replica works at
// every other: a client's retry may reach another one.
type nonces struct {
	key []byte
	now func() time.Time
}

// newNonces uses key, or a random one if it is empty.
func newNonces(key []byte, now func() time.Time) *nonces {
	if len(key) == 0 {
		key = randomBytes(32)
	}
	return &nonces{key: key, now: now}
}

func (n *nonces) forWindow(w int64) string {
	mac := hmac.New(sha256.New, n.key)
	_ = binary.Write(mac, binary.BigEndian, w)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (n *nonces) window() int64 { return n.now().Unix() / int64(nonceWindow/time.Second) }

// current is the nonce to hand out now.
func (n *nonces) current() string { return n.forWindow(n.window()) }

// valid accepts the current or the previous window's nonce.
func (n *nonces) valid(nonce string) bool {
	w := n.window()
	return nonce != "" && (hmac.Equal([]byte(nonce), []byte(n.forWindow(w))) || hmac.Equal([]byte(nonce), []byte(n.forWindow(w-1))))
}
