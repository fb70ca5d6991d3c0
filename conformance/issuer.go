package conformance

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// How the suite reaches its test issuer: the one it starts, the long-lived
// one it finds running, or one in a container; and the files it hands to
// the servers under test.

// defaultClient trusts the test issuer's CA when it speaks https.
func (s *Suite) defaultClient() (*http.Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if s.httpsIssuer() {
		pool, err := testissuer.CAPool(s.keysDir)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: transport}, nil
}

func (s *Suite) httpsIssuer() bool {
	ti := s.target.TestIssuer
	return ti != nil && strings.HasPrefix(ti.URL, "https://")
}

// CAFile is the test issuer's CA certificate, for servers to trust; empty
// unless the issuer speaks https.
func (s *Suite) CAFile() string {
	if !s.httpsIssuer() {
		return ""
	}
	return filepath.Join(s.keysDir, testissuer.CAFile)
}

// writeCAFile copies the CA certificate to test_issuer.ca_file.
func (s *Suite) writeCAFile() error {
	ti := s.target.TestIssuer
	if ti == nil || ti.CAFile == "" || !s.httpsIssuer() {
		return nil
	}
	if _, err := testissuer.CAPool(s.keysDir); err != nil { // makes the CA on first use
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	data, err := os.ReadFile(s.CAFile())
	if err == nil {
		err = os.WriteFile(s.resolve(ti.CAFile), data, 0o644)
	}
	if err != nil {
		return fmt.Errorf("%w: test_issuer.ca_file: %w", ErrConfig, err)
	}
	return nil
}

// resolve makes a path from the target file relative to its directory.
func (s *Suite) resolve(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(s.target.Dir(), path)
}

// SetIssuerLocalURL says where the suite reaches an issuer that runs
// elsewhere, once that is known.
func (s *Suite) SetIssuerLocalURL(url string) { s.opts.IssuerLocalURL = url }

// IssuerDocuments returns the public documents the test issuer serves, for
// `conformance issuer` running in a container.
func (s *Suite) IssuerDocuments() []byte {
	if s.target.TestIssuer == nil {
		return nil
	}
	b, _ := json.Marshal(s.keys.Documents(s.target.TestIssuer.URL))
	return b
}

// ensureIssuer uses the test issuer already serving at its URL, or starts
// one for this run from the same keys.
func (s *Suite) ensureIssuer(ctx context.Context, e *attack.Kit) (stop func(), how string, err error) {
	ti := s.target.TestIssuer
	e.IssuerURL = ti.URL
	if ti.External {
		s.reachIssuerAt(e, s.opts.IssuerLocalURL)
		return func() {}, "in a container", nil
	}
	if s.opts.IssuerListener == nil {
		running, err := s.runningIssuer(ctx)
		if err != nil {
			return nil, "", err
		}
		if running {
			s.reachIssuerAt(e, ti.URL)
			return func() {}, "long-lived, already running", nil
		}
	}
	srv, stop, err := testissuer.Start(ctx, testissuer.Config{
		URL: ti.URL, Listen: ti.Listen, KeysDir: s.keysDir, Listener: s.opts.IssuerListener,
	}, s.keys.Documents(ti.URL))
	if err != nil {
		return nil, "", fmt.Errorf("%w: test issuer: %w", ErrConfig, err)
	}
	e.Hits = func(context.Context) (testissuer.Hits, error) { return srv.Hits(), nil }
	e.Publish = func(_ context.Context, k jwk.Key) error { srv.Publish(k); return nil }
	e.SetStatusList = func(_ context.Context, name, token string) error { srv.SetStatusList(name, token); return nil }
	return stop, "started for this run", nil
}

// reachIssuerAt makes e read the fetch log of, and publish keys at, the
// issuer running at base.
func (s *Suite) reachIssuerAt(e *attack.Kit, base string) {
	e.Hits = s.httpHits(base + testissuer.HitsPath)
	e.Publish = func(ctx context.Context, k jwk.Key) error {
		body, _ := json.Marshal(jwk.Set{Keys: []jwk.Key{k}})
		return s.control(ctx, base+testissuer.PublishPath, body, "publishing a key")
	}
	e.SetStatusList = func(ctx context.Context, name, token string) error {
		body, _ := json.Marshal(map[string]string{"name": name, "token": token})
		return s.control(ctx, base+testissuer.StatusControlPath, body, "serving a status list")
	}
}

// control makes a control request of the issuer at url, authorised by a
// MAC under the keys directory's control token.
func (s *Suite) control(ctx context.Context, url string, body []byte, what string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	testissuer.SignControl(req, s.keys.ControlToken, body, time.Now()) // the token itself never leaves
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("%s at the test issuer: %s", what, resp.Status)
	}
	return nil
}

// runningIssuer reports whether the suite's issuer, with this suite's keys,
// already answers at the test issuer's URL.
func (s *Suite) runningIssuer(ctx context.Context) (bool, error) {
	ti := s.target.TestIssuer
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ti.URL+testissuer.AboutPath, nil)
	if err != nil {
		return false, fmt.Errorf("%w: test_issuer.url: %w", ErrConfig, err)
	}
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return false, nil // nothing there: the suite starts its own
	}
	defer resp.Body.Close()
	var about testissuer.About
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&about) != nil {
		return false, fmt.Errorf("%w: something that is not the suite's test issuer answers at %s (%s)", ErrConfig, ti.URL, resp.Status)
	}
	var want []string
	for _, k := range s.keys.Trusted() {
		want = append(want, k.ID)
	}
	slices.Sort(want)
	slices.Sort(about.Kids)
	if about.Issuer != ti.URL || !slices.Equal(want, about.Kids) {
		return false, fmt.Errorf("%w: the test issuer running at %s serves other keys than those in %s (or another issuer URL, %q): start it with the same -keys directory and target, or stop it",
			ErrConfig, ti.URL, s.keysDir, about.Issuer)
	}
	return true, nil
}

func (s *Suite) httpHits(url string) func(context.Context) (testissuer.Hits, error) {
	return func(ctx context.Context) (testissuer.Hits, error) {
		var h testissuer.Hits
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return h, err
		}
		resp, err := s.opts.Client.Do(req)
		if err != nil {
			return h, err
		}
		defer resp.Body.Close()
		return h, json.NewDecoder(resp.Body).Decode(&h)
	}
}

// ServeIssuer serves the target's test issuer until ctx ends: the
// long-lived issuer of `conformance issuer`, which runs find and use.
func (s *Suite) ServeIssuer(ctx context.Context, logger *slog.Logger) error {
	ti := s.target.TestIssuer
	if ti == nil {
		return fmt.Errorf("%w: the target has no test_issuer", ErrConfig)
	}
	_, stop, err := testissuer.Start(ctx, testissuer.Config{URL: ti.URL, Listen: ti.Listen, KeysDir: s.keysDir, Logger: logger},
		s.keys.Documents(ti.URL))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	attrs := []any{"issuer", ti.URL, "jwks", ti.JWKSURL(), "keys", s.keysDir}
	if ca := s.CAFile(); ca != "" {
		attrs = append(attrs, "ca_file", ca)
	}
	logger.Info("test issuer serving", attrs...)
	for _, alg := range testissuer.Algorithms {
		p, _ := s.keys.Get(testissuer.Primary, alg)
		r, _ := s.keys.Get(testissuer.Rotated, alg)
		logger.Info("trusted keys", "alg", alg, "kid", p.ID, "rotated_kid", r.ID)
	}
	<-ctx.Done()
	stop()
	return nil
}
