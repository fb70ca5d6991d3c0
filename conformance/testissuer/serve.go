package testissuer

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/url"

	"github.com/s2sjwt/s2sjwt/internal/httpx"
)

// Config says where an issuer serves.
type Config struct {
	// URL is the issuer's identifier (iss) and where servers reach it; an
	// https URL makes it serve TLS with a certificate from KeysDir's CA.
	URL string
	// Listen is the address to bind; the URL's host and port if empty.
	Listen string
	// KeysDir holds the keys and the CA.
	KeysDir string
	// Listener, if set, is used instead of binding Listen (tests bind ":0").
	Listener net.Listener
	Logger   *slog.Logger
}

// ListenAddr is where an issuer at cfg.URL binds when Listen is empty.
func (cfg Config) ListenAddr() (string, error) {
	if cfg.Listen != "" {
		return cfg.Listen, nil
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("testissuer: bad issuer URL %q", cfg.URL)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

// Start binds, then serves docs in the background until stop is called or
// ctx ends. A bind error is returned at once.
func Start(ctx context.Context, cfg Config, docs Documents) (srv *Server, stop func(), err error) {
	if srv, err = NewServer(docs); err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("testissuer: %w", err)
	}
	var tlsConfig *tls.Config
	if u.Scheme == "https" {
		if tlsConfig, err = LoadTLS(cfg.KeysDir, u.Hostname()); err != nil {
			return nil, nil, err
		}
	}
	ln := cfg.Listener
	if ln == nil {
		addr, err := cfg.ListenAddr()
		if err != nil {
			return nil, nil, err
		}
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, nil, fmt.Errorf("testissuer: %w", err)
		}
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := httpx.Serve(ctx, ln, srv, logger); err != nil {
			logger.Error("test issuer stopped", "err", err)
		}
	}()
	return srv, func() { cancel(); <-done }, nil
}
