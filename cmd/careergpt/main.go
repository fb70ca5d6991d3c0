// Command careergpt runs the careergpt service. `careergpt healthcheck` probes a
// running instance, for images without a shell. See docs/contract.md.
package main

import (
	"context"
	"io"

	"github.com/s2sjwt/s2sjwt/careergpt"
	"github.com/s2sjwt/s2sjwt/internal/runner"
)

func main() { runner.Main(run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return runner.Run(ctx, args, getenv, stdout, "careergpt", "127.0.0.1:9000", &careergpt.Setup{})
}
