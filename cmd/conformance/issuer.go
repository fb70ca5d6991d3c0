package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/internal/httpx"
	"github.com/s2sjwt/s2sjwt/internal/runner"
)

// runIssuer serves the test issuer's public keys and records fetches of its
// attacker URLs. The suite runs it in a container when the servers under
// test live on a container network it cannot otherwise reach.
func runIssuer(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("conformance issuer", flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "listen address")
	docs := fs.String("documents", "/issuer.json", "key sets written by the suite")
	if len(args) > 0 && args[0] == "healthcheck" {
		return httpx.Healthcheck(ctx, "http://127.0.0.1:8080/healthz")
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", conformance.ErrConfig, err)
	}
	data, err := os.ReadFile(*docs)
	if err != nil {
		return fmt.Errorf("%w: %w", conformance.ErrConfig, err)
	}
	srv, err := conformance.NewIssuerServer(data)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	logger, _ := runner.NewLogger(stdout, "info", "conformance-issuer")
	logger.Info("listening", "addr", ln.Addr().String())
	return httpx.Serve(ctx, ln, srv, logger)
}
