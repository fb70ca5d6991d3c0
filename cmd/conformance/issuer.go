package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
	"github.com/s2sjwt/s2sjwt/internal/httpx"
	"github.com/s2sjwt/s2sjwt/internal/runner"
)

const issuerUsage = `Usage:
  conformance issuer -target FILE [-keys DIR]
      Serve the target's test issuer (test_issuer.url; https serves TLS) until
      interrupted, from keys kept in DIR. Configure your servers once to trust it;
      every run of the suite then finds it and uses it.
  conformance issuer -listen ADDR -documents FILE
      Serve public key sets written by the suite (how ` + "`conformance docker`" + ` runs it
      inside a container).

Flags:
`

// runIssuer serves the test issuer: long-lived from a target and its keys
// directory, or from documents inside a container.
func runIssuer(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return httpx.Healthcheck(ctx, "http://127.0.0.1:8080/healthz")
	}
	fs := newFlagSet("conformance issuer", stdout, issuerUsage)
	tgt := fs.String("target", "", "target file whose test_issuer to serve")
	keys := fs.String("keys", "", "directory of the issuer's keys and CA (default "+defaultKeysDir()+")")
	listen := fs.String("listen", ":8080", "with -documents: listen address")
	docs := fs.String("documents", "", "serve these public key sets instead of a target's")
	if err := parse(fs, args); err != nil {
		return err
	}
	logger, _ := runner.NewLogger(stdout, "info", "conformance-issuer")
	switch {
	case *tgt != "" && *docs == "":
		t, err := target.Load(*tgt)
		if err != nil {
			return err
		}
		suite, err := conformance.New(t, conformance.Options{KeysDir: *keys})
		if err != nil {
			return err
		}
		return suite.ServeIssuer(ctx, logger)
	case *docs != "" && *tgt == "":
		return serveDocuments(ctx, *listen, *docs, logger)
	}
	return fmt.Errorf("%w: conformance issuer needs -target FILE, or -documents FILE (-h for help)", conformance.ErrConfig)
}

func serveDocuments(ctx context.Context, listen, path string, logger *slog.Logger) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: %w", conformance.ErrConfig, err)
	}
	var docs testissuer.Documents
	if err := json.Unmarshal(data, &docs); err != nil {
		return fmt.Errorf("%w: %s: %w", conformance.ErrConfig, path, err)
	}
	srv, err := testissuer.NewServer(docs)
	if err != nil {
		return fmt.Errorf("%w: %w", conformance.ErrConfig, err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	logger.Info("listening", "addr", ln.Addr().String())
	return httpx.Serve(ctx, ln, srv, logger)
}

func defaultKeysDir() string { return testissuer.DefaultKeysDir() }
