package attack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/target"
)

// togetherTimeout bounds one simultaneous round: connecting, the held
// requests and their answers.
const togetherTimeout = 5 * time.Second

// SendTogether makes the attempts at once, so that they reach the server
// together however busy the machine sending them is: each request is
// written on a connection of its own but for its last byte, and only when
// every one is waiting are the last bytes sent, one write each
// (last-byte synchronisation, as in PortSwigger's single-packet attack
// for HTTP/1.1). Goroutines started together do not land together on a
// loaded machine; held requests do, because the server has read all but
// one byte of each before any can be handled. urls[i%len(urls)] is where
// attempt i goes.
func (e *Kit) SendTogether(ctx context.Context, rs *target.ResourceServer, urls []string, attempts []Attempt) []Observation {
	ctx, cancel := context.WithTimeout(ctx, togetherTimeout)
	defer cancel()
	held := make([]*heldRequest, len(attempts))
	obs := make([]Observation, len(attempts))
	var wg sync.WaitGroup
	for i, a := range attempts {
		wg.Go(func() {
			h, err := e.hold(ctx, rs, urls[i%len(urls)], a)
			if err != nil {
				obs[i] = Observation{Label: a.Label, Error: "no answer: " + err.Error()}
				return
			}
			held[i] = h
		})
	}
	wg.Wait()
	for _, h := range held { // release: one write each, back to back
		if h != nil {
			h.err = h.release()
		}
	}
	for i, h := range held {
		if h == nil {
			continue
		}
		wg.Go(func() {
			defer h.conn.Close()
			obs[i] = h.answer(attempts[i].Label)
		})
	}
	wg.Wait()
	return obs
}

// heldRequest is a request written but for its last byte.
type heldRequest struct {
	conn net.Conn
	req  *http.Request
	last []byte
	err  error
}

func (e *Kit) hold(ctx context.Context, rs *target.ResourceServer, base string, a Attempt) (*heldRequest, error) {
	req, err := e.request(ctx, rs, base, a)
	if err != nil {
		return nil, err
	}
	req.Close = true // one request per connection
	var wire bytes.Buffer
	if err := req.Write(&wire); err != nil {
		return nil, err
	}
	conn, err := e.dial(ctx, req.URL)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	data := wire.Bytes()
	if _, err := conn.Write(data[:len(data)-1]); err != nil {
		conn.Close()
		return nil, err
	}
	return &heldRequest{conn: conn, req: req, last: data[len(data)-1:]}, nil
}

func (h *heldRequest) release() error {
	_, err := h.conn.Write(h.last)
	return err
}

func (h *heldRequest) answer(label string) Observation {
	obs := Observation{Label: label}
	if h.err != nil {
		obs.Error = "no answer: " + h.err.Error()
		return obs
	}
	resp, err := http.ReadResponse(bufio.NewReader(h.conn), h.req)
	if err != nil {
		obs.Error = "no answer: " + err.Error()
		return obs
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	return observe(obs, resp, data)
}

// dial opens a connection to u's host, with TLS for https as the Kit's
// client would.
func (e *Kit) dial(ctx context.Context, u *url.URL) (net.Conn, error) {
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	var d net.Dialer
	if u.Scheme != "https" {
		return d.DialContext(ctx, "tcp", host)
	}
	cfg := &tls.Config{}
	if t, ok := e.Client.Transport.(*http.Transport); ok && t.TLSClientConfig != nil {
		cfg = t.TLSClientConfig.Clone()
	}
	cfg.ServerName = u.Hostname()
	cfg.NextProtos = []string{"http/1.1"}
	td := tls.Dialer{NetDialer: &d, Config: cfg}
	conn, err := td.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return conn, nil
}
