// Command logging runs the logging service. `logging healthcheck` probes a
// running instance, for images without a shell. See docs/contract.md.
package main

import (
	"context"
	"io"

	"github.com/s2sjwt/s2sjwt/internal/runner"
	"github.com/s2sjwt/s2sjwt/logging"
)

func main() { runner.Main(run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return runner.Run(ctx, args, getenv, stdout, "logging", "127.0.0.1:9002", &logging.Setup{})
}
