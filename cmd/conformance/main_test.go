package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/conformance/target"
)

// targetFile writes a target file for one resource server at url.
func targetFile(t *testing.T, url string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "target.json")
	require.NoError(t, os.WriteFile(path, fmt.Appendf(nil, `{"test_issuer": {"url": "http://127.0.0.1:1"},
	  "resource_servers": [{"name": "svc", "url": %q, "method": "GET", "path": "/", "audience": "svc"}]}`, url), 0o644))
	return path
}

// countingServer counts requests: a configuration error must come before any.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestRun_ConfigurationErrorsBeforeAnyRequest(t *testing.T) {
	srv, requests := countingServer(t)
	path := targetFile(t, srv.URL)
	for name, args := range map[string][]string{
		"stray argument":  {"conformance", "-target", path, "extra", "-alg", "RS256"},
		"bad output path": {"conformance", "-target", path, "-json", filepath.Join(t.TempDir(), "missing", "r.json")},
		"bad algorithm":   {"conformance", "-target", path, "-alg", "HS256"},
		"unknown case":    {"conformance", "-target", path, "-only", "AUD-5"},
		"unknown skip":    {"conformance", "-target", path, "-skip", "KEY-111"},
		"no target":       {"conformance"},
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), args, func(string) string { return "" }, &out)
			require.True(t, errors.Is(err, conformance.ErrConfig) || errors.Is(err, target.ErrInvalid), "%v", err)
			require.Zero(t, requests.Load(), "no request may be sent before the configuration is known good")
		})
	}
}

func TestRun_HelpListsSubcommandsAndExitCodes(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"conformance", "-h"}, func(string) string { return "" }, &out)
	require.True(t, errors.Is(err, flag.ErrHelp), "main exits 0 on ErrHelp")
	for _, want := range []string{"conformance issuer", "conformance docker", "conformance list", "Exit status", "-target", "-alg", "-keys", "-logs"} {
		require.Contains(t, out.String(), want)
	}
}
