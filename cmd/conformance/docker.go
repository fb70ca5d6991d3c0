package main

import (
	"context"
	"fmt"
	"io"

	"github.com/s2sjwt/s2sjwt/conformance"
)

func runDocker(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return fmt.Errorf("%w: docker mode not built yet", conformance.ErrConfig)
}
