package attack

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/target"
)

// IdentityClient talks to the implementation's token endpoint as the
// client registered for the suite.
type IdentityClient struct {
	Config *target.Identity
	Client *http.Client
	// tokenURL comes from the RFC 8414 metadata, or /oauth2/token.
	TokenURL string
	JWKSURL  string
	Metadata map[string]any
}

func NewIdentityClient(ctx context.Context, cfg *target.Identity, client *http.Client) *IdentityClient {
	c := &IdentityClient{Config: cfg, Client: client, TokenURL: cfg.URL + "/oauth2/token", JWKSURL: cfg.URL + "/.well-known/jwks.json"}
	if status, body, err := c.Do(ctx, http.MethodGet, cfg.URL+"/.well-known/oauth-authorization-server", "", ""); err == nil && status == 200 {
		if json.Unmarshal(body, &c.Metadata) == nil {
			// Endpoints are named by issuer URL; reach them through cfg.URL,
			// which may differ (a container's mapped port, say).
			for key, dst := range map[string]*string{"token_endpoint": &c.TokenURL, "jwks_uri": &c.JWKSURL} {
				if s, ok := c.Metadata[key].(string); ok && strings.HasPrefix(s, cfg.Issuer) {
					*dst = cfg.URL + strings.TrimPrefix(s, cfg.Issuer)
				}
			}
		}
	}
	return c
}

// TokenResponse is a token endpoint's answer (RFC 6749 §5.1, §5.2).
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// Token gets a real access token for audience.
func (c *IdentityClient) Token(ctx context.Context, audience, scope string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "audience": {audience}}
	if scope != "" {
		form.Set("scope", scope)
	}
	status, body, err := c.Do(ctx, http.MethodPost, c.TokenURL, "application/x-www-form-urlencoded", form.Encode(),
		[2]string{c.Config.ClientID, c.Config.ClientSecret})
	if err != nil {
		return "", err
	}
	var tr TokenResponse
	_ = json.Unmarshal(body, &tr)
	if status != http.StatusOK || tr.AccessToken == "" {
		return "", fmt.Errorf("token endpoint answered %d %s %s", status, tr.Error, tr.Description)
	}
	return tr.AccessToken, nil
}

func (c *IdentityClient) Do(ctx context.Context, method, target, contentType, body string, basic ...[2]string) (int, []byte, error) {
	return c.DoWith(ctx, c.Client, method, target, contentType, body, basic...)
}

// DoWith is do through client.
func (c *IdentityClient) DoWith(ctx context.Context, client *http.Client, method, target, contentType, body string, basic ...[2]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if len(basic) == 1 {
		req.SetBasicAuth(url.QueryEscape(basic[0][0]), url.QueryEscape(basic[0][1]))
	}
	return send(client, req)
}

// send makes req and reads at most 64 KiB of the answer.
func (c *IdentityClient) send(req *http.Request) (int, []byte, error) { return send(c.Client, req) }

func send(client *http.Client, req *http.Request) (int, []byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, data, err
}

func (c *IdentityClient) Basic() [2]string {
	return [2]string{c.Config.ClientID, c.Config.ClientSecret}
}

// TokenWithProof asks for a token as the suite's client with a DPoP proof.
func (c *IdentityClient) TokenWithProof(ctx context.Context, audience, proof string) (int, []byte, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "audience": {audience}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", proof)
	req.SetBasicAuth(url.QueryEscape(c.Config.ClientID), url.QueryEscape(c.Config.ClientSecret))
	return c.send(req)
}

// FreshSourceClient returns a client like base whose connections leave from
// a random loopback address (127.x.y.z) that the server at target has never
// seen, and that address; or base itself and false when target is not on
// IPv4 loopback (or base's transport cannot be cloned).
func FreshSourceClient(base *http.Client, target string) (*http.Client, string, bool) {
	u, err := url.Parse(target)
	if err != nil {
		return base, "", false
	}
	host := u.Hostname()
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return base, "", false
	}
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	t, ok := rt.(*http.Transport)
	if !ok {
		return base, "", false
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	source := net.IPv4(127, 1+b[0]%254, 1+b[1]%254, 1+b[2]%254)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: source}, Timeout: 5 * time.Second}
	t = t.Clone()
	t.DialContext = func(ctx context.Context, _, addr string) (net.Conn, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		return dialer.DialContext(ctx, "tcp4", net.JoinHostPort(host, port))
	}
	client := *base
	client.Transport = t
	return &client, source.String(), true
}
