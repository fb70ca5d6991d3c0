// Package logclient writes entries to the logging service with the caller's
// own access token, as every service here that logs does.
package logclient

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/s2sjwt/s2sjwt/internal/httpx"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

// Audience and scope of the logging service.
const (
	Audience = "logging-service"
	Scope    = "logs:write"
)

// Client posts entries to LoggingURL/v1/logs.
type Client struct {
	LoggingURL string
	Tokens     *tokenclient.Cache
	HTTP       *http.Client
	// DPoPKey, if set, binds the tokens to it (the Tokens' client holds the
	// same key) and signs a DPoP proof for every entry.
	DPoPKey crypto.Signer
	// WorkloadKey, if set, adds WIMSE credentials to every entry: the
	// client's WIT for that key (from Tokens, renewed before it expires)
	// and a WPT signed by it for the request.
	WorkloadKey crypto.Signer
}

// Log stores one info entry; its source is whoever our token names.
func (c *Client) Log(ctx context.Context, message string, attributes map[string]string) error {
	tok, err := c.Tokens.Token(ctx, c.request())
	if err != nil {
		return fmt.Errorf("logclient: %w", err)
	}
	return c.LogWith(ctx, tok, message, attributes)
}

func (c *Client) request() tokenclient.Request {
	return tokenclient.Request{Audience: Audience, Scope: Scope, DPoP: c.DPoPKey != nil}
}

// OnBehalf exchanges subjectToken, a caller's token presented to this
// service, for a Logging token whose sub is that caller and whose act is
// this service (RFC 8693): entries written with it are the caller's, via
// this service. Its scope is logs:write unless scope says otherwise.
func (c *Client) OnBehalf(ctx context.Context, subjectToken, scope string) (*tokenclient.Token, error) {
	r := c.request()
	if scope != "" {
		r.Scope = scope
	}
	tok, err := c.Tokens.Client.Exchange(ctx, subjectToken, r)
	if err != nil {
		return nil, fmt.Errorf("logclient: exchange: %w", err)
	}
	return tok, nil
}

// Refused is Logging's refusal of an entry's token (401): with another
// token the entry may be stored.
type Refused struct{ err error }

func (e *Refused) Error() string { return e.err.Error() }

// LogWith stores one info entry with tok, which names its source.
func (c *Client) LogWith(ctx context.Context, tok *tokenclient.Token, message string, attributes map[string]string) error {
	body, _ := json.Marshal(map[string]any{"level": "info", "message": message, "attributes": attributes})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.LoggingURL+"/v1/logs", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("logclient: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := tokenclient.Authorize(req, tok, c.DPoPKey); err != nil {
		return fmt.Errorf("logclient: %w", err)
	}
	if c.WorkloadKey != nil {
		wit, err := c.Tokens.Token(ctx, tokenclient.Request{WIT: true})
		if err != nil {
			return fmt.Errorf("logclient: workload identity token: %w", err)
		}
		if err := tokenclient.AddWorkloadProof(req, wit, c.WorkloadKey, tok.AccessToken); err != nil {
			return fmt.Errorf("logclient: %w", err)
		}
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("logclient: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusCreated {
		// Its RFC 6750 error says why (a DPoP setting, a public URL), so
		// the retries' log lines do too.
		var refusal struct {
			Code        string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(answer, &refusal)
		err := fmt.Errorf("logclient: logging-service answered %s: %s", resp.Status,
			httpx.LogBounded(strings.TrimSpace(refusal.Code+" "+refusal.Description)))
		if resp.StatusCode == http.StatusUnauthorized {
			return &Refused{err}
		}
		return err
	}
	return nil
}
