package testissuer

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Control requests (PublishPath) are authorised by a MAC under the control
// token, never by the token itself: whatever answers at the issuer's URL
// (a process that took the port while the issuer was down, or anyone on
// the path of plain http) learns nothing it could publish keys with. The
// MAC covers the method, path, a timestamp, a nonce and the body's hash;
// the issuer takes each nonce once, within ControlWindow of its timestamp.
const (
	// ControlScheme is the Authorization scheme of a control request.
	ControlScheme = "S2S-Control"
	// ControlWindow bounds how far a control request's timestamp may be
	// from the issuer's clock, and how long its nonce is remembered.
	ControlWindow = time.Minute
	// maxControlNonces bounds the nonces remembered; only requests with a
	// valid MAC are, so nobody without the token can fill it.
	maxControlNonces = 4096
)

var errControl = errors.New("testissuer: control request not authorised")

// SignControl authorises req, whose body is body, as a control request
// for the issuer holding token.
func SignControl(req *http.Request, token string, body []byte, now time.Time) {
	var n [16]byte
	_, _ = rand.Read(n[:])
	nonce := base64.RawURLEncoding.EncodeToString(n[:])
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set("Authorization", fmt.Sprintf("%s ts=%s, nonce=%s, mac=%s", ControlScheme, ts, nonce,
		controlMAC(token, req.Method, req.URL.Path, ts, nonce, body)))
}

func controlMAC(token, method, path, ts, nonce string, body []byte) string {
	sum := sha256.Sum256(body)
	mac := hmac.New(sha256.New, []byte(token))
	fmt.Fprintf(mac, "%s\n%s\n%s\n%s\n%x", method, path, ts, nonce, sum)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// controlNonces remembers the nonces of accepted control requests.
type controlNonces struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// verifyControl checks r's control MAC over body, and spends its nonce.
func (s *Server) verifyControl(r *http.Request, body []byte, now time.Time) error {
	params, ok := strings.CutPrefix(r.Header.Get("Authorization"), ControlScheme+" ")
	if !ok || s.docs.ControlToken == "" {
		return errControl
	}
	p := map[string]string{}
	for _, kv := range strings.Split(params, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		p[k] = v
	}
	sec, err := strconv.ParseInt(p["ts"], 10, 64)
	if err != nil || p["nonce"] == "" || len(p["nonce"]) > 64 {
		return errControl
	}
	if at := time.Unix(sec, 0); at.Before(now.Add(-ControlWindow)) || at.After(now.Add(ControlWindow)) {
		return fmt.Errorf("%w: timestamp outside %s of now", errControl, ControlWindow)
	}
	want := controlMAC(s.docs.ControlToken, r.Method, r.URL.Path, p["ts"], p["nonce"], body)
	if !hmac.Equal([]byte(want), []byte(p["mac"])) {
		return errControl
	}
	return s.nonces.spend(p["nonce"], now)
}

func (n *controlNonces) spend(nonce string, now time.Time) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.seen == nil {
		n.seen = map[string]time.Time{}
	}
	if _, used := n.seen[nonce]; used {
		return fmt.Errorf("%w: nonce replayed", errControl)
	}
	for k, at := range n.seen {
		if now.Sub(at) > 2*ControlWindow {
			delete(n.seen, k)
		}
	}
	if len(n.seen) >= maxControlNonces {
		return fmt.Errorf("%w: too many control requests; retry later", errControl)
	}
	n.seen[nonce] = now
	return nil
}
