package careergpt

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/httpx"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/runner"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

// Setup is the careergpt binary's configuration (flags and environment).
type Setup struct {
	Config
	DataDir string
	// WIMSECalls "on" calls Notification with a WIT and a WPT per request.
	WIMSECalls string
}

// Flags implements runner.Service.
func (s *Setup) Flags(fs *flag.FlagSet, env runner.Env) {
	runner.StringFlag(fs, env, &s.IdentityURL, "identity-url", "IDENTITY_URL", "http://127.0.0.1:9001", "identity service (the trusted issuer)")
	runner.StringFlag(fs, env, &s.LoggingURL, "logging-url", "LOGGING_URL", "http://127.0.0.1:9002", "logging service")
	runner.StringFlag(fs, env, &s.NotificationURL, "notification-url", "NOTIFICATION_URL", "http://127.0.0.1:9003", "notification service")
	runner.StringFlag(fs, env, &s.DataDir, "data", "DATA_DIR", "data/careergpt", "directory for CareerGPT's client key")
	runner.StringFlag(fs, env, &s.WIMSECalls, "wimse-calls", "WIMSE_CALLS", "off", "on: call Notification with a WIMSE workload identity token and a proof per request (Identity needs IDENTITY_TRUST_DOMAIN)")
	runner.DurationFlag(fs, env, &s.PeerLeeway, "peer-leeway", "LEEWAY", 0, "the resource servers' clock-skew leeway (0: their default)")
	runner.DurationFlag(fs, env, &s.PeersTimeout, "peers-timeout", "PEERS_TIMEOUT", time.Minute, "how long to wait for the other services on start")
	fs.Func("allowed-hosts", "comma-separated host names besides loopback this API answers to (env CAREERGPT_ALLOWED_HOSTS)", func(v string) error {
		s.AllowedHosts = strings.Split(v, ",")
		return nil
	})
	if v := env("CAREERGPT_ALLOWED_HOSTS", ""); v != "" {
		s.AllowedHosts = strings.Split(v, ",")
	}
	fs.Func("notification-replicas", "comma-separated URLs of Notification replicas, for the cross-replica replay step (env NOTIFICATION_REPLICA_URLS)", func(v string) error {
		s.NotificationReplicas = strings.Split(v, ",")
		return nil
	})
	if v := env("NOTIFICATION_REPLICA_URLS", ""); v != "" {
		s.NotificationReplicas = strings.Split(v, ",")
	}
	// A secret: from the environment only, never a flag (ps shows flags).
	s.AdminSecret = env("IDENTITY_ADMIN_SECRET", "")
	play := env("PLAY_ON_START", "true") == "true"
	fs.BoolVar(&s.PlayOnStart, "play", play, "play the scenario once the other services are healthy (env PLAY_ON_START)")
}

// Open implements runner.Service.
func (s *Setup) Open(_ context.Context, in runner.Instance) (http.Handler, io.Closer, error) {
	logger := in.Logger
	key, signer, err := tokenclient.LoadOrCreateKey(filepath.Join(s.DataDir, "client-key.pem"), jwk.EdDSA)
	if err != nil {
		return nil, nil, err
	}
	// A second key, for DPoP: proving possession of a token is not
	// proving who the client is, and the two keys never mix.
	_, dpopKey, err := tokenclient.LoadOrCreateKey(filepath.Join(s.DataDir, "dpop-key.pem"), jwk.EdDSA)
	if err != nil {
		return nil, nil, err
	}
	deps := Deps{Key: key, Signer: signer, DPoPKey: dpopKey, Logger: logger}
	switch s.WIMSECalls {
	case "on":
		// A third: the key its WIT names, which signs a proof per request.
		if _, deps.WorkloadKey, err = tokenclient.LoadOrCreateKey(filepath.Join(s.DataDir, "wimse-key.pem"), jwk.EdDSA); err != nil {
			return nil, nil, err
		}
	case "off", "":
	default:
		return nil, nil, fmt.Errorf("WIMSE_CALLS=%q: want on or off", s.WIMSECalls)
	}
	srv, err := NewServer(s.Config, deps)
	if err != nil {
		return nil, nil, err
	}
	return srv, io.NopCloser(nil), nil
}

// PlayAt plays action (the scenario, or one step) at the CareerGPT whose
// API is at baseURL, and returns what happened, as the page does.
func PlayAt(ctx context.Context, baseURL, action string) (*Outcome, error) {
	path := "/v1/scenario"
	if action != "scenario" {
		path = "/v1/steps/" + url.PathEscape(action)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+path, nil)
	if err != nil {
		return nil, fmt.Errorf("careergpt: %w", err)
	}
	// The scenario waits out a token's expiry: minutes, not seconds.
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("careergpt: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("careergpt: playing %s: %s", action, resp.Status)
	}
	var out Outcome
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("careergpt: %w", err)
	}
	return &out, nil
}

// WaitHealthy polls each base URL's /healthz until all answer or timeout.
func WaitHealthy(ctx context.Context, timeout time.Duration, baseURLs ...string) error {
	deadline := time.Now().Add(timeout)
	for _, u := range baseURLs {
		for {
			err := httpx.Healthcheck(ctx, u+"/healthz")
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("careergpt: %s not healthy after %s: %w", u, timeout, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}
