package conformance

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Placeholders a target's process env and commands may use.
const (
	varIssuerURL  = "TEST_ISSUER_URL"
	varIssuerJWKS = "TEST_ISSUER_JWKS_URL"
	varWorkDir    = "WORKDIR"
)

// processStartTimeout bounds how long a started process may take to be healthy.
const processStartTimeout = 20 * time.Second

// startProcesses runs the target's processes and waits until each answers
// its health URL. Their output goes to WORKDIR/NAME.log.
func startProcesses(ctx context.Context, t *Target) (stop func(), err error) {
	if len(t.Processes) == 0 {
		return func() {}, nil
	}
	work, err := os.MkdirTemp("", "conformance-")
	if err != nil {
		return nil, err
	}
	vars := map[string]string{varWorkDir: work}
	if ti := t.TestIssuer; ti != nil {
		vars[varIssuerURL], vars[varIssuerJWKS] = ti.URL, ti.JWKSURL()
	}
	expand := func(s string) string {
		return os.Expand(s, func(k string) string {
			if v, ok := vars[k]; ok {
				return v
			}
			return os.Getenv(k)
		})
	}
	var cmds []*exec.Cmd
	stop = func() {
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = c.Process.Kill()
			}
		}
		os.RemoveAll(work)
	}
	for _, p := range t.Processes {
		if len(p.Command) == 0 {
			stop()
			return nil, fmt.Errorf("%w: process %q has no command", ErrConfig, p.Name)
		}
		args := make([]string, len(p.Command))
		for i, a := range p.Command {
			args[i] = expand(a)
		}
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = os.Environ()
		for k, v := range p.Env {
			cmd.Env = append(cmd.Env, k+"="+expand(v))
		}
		logFile, err := os.Create(filepath.Join(work, p.Name+".log"))
		if err != nil {
			stop()
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("%w: start %s: %w", ErrConfig, p.Name, err)
		}
		cmds = append(cmds, cmd)
		if err := waitHealthy(ctx, expand(p.Health)); err != nil {
			log, _ := os.ReadFile(logFile.Name())
			stop()
			return nil, fmt.Errorf("%w: %s not healthy: %w\n%s", ErrConfig, p.Name, err, log)
		}
	}
	return stop, nil
}

func waitHealthy(ctx context.Context, url string) error {
	deadline := time.Now().Add(processStartTimeout)
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no 200 from %s within %s (last error: %v)", url, processStartTimeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
