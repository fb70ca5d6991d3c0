package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/conformance/containers"
)

// runDocker starts the target's images with testcontainers and tests them.
func runDocker(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if getenv("TESTCONTAINERS_RYUK_DISABLED") != "true" {
		// Ryuk's image cannot be pulled here; cleanup is ours (see package containers).
		return fmt.Errorf("%w: set TESTCONTAINERS_RYUK_DISABLED=true (make conformance-docker does)", conformance.ErrConfig)
	}
	fs := flag.NewFlagSet("conformance docker", flag.ContinueOnError)
	fs.SetOutput(stdout)
	target := fs.String("target", "conformance/targets/docker.json", "target file with a containers section")
	issuerImage := fs.String("issuer-image", "s2sjwt/conformance:dev", "image that runs `conformance issuer`")
	alg := fs.String("alg", "", "test issuer signing algorithm (EdDSA, ES256, RS256)")
	images := map[string]string{}
	fs.Func("image", "override a container's image: NAME=IMAGE (repeatable)", func(v string) error {
		name, img, ok := strings.Cut(v, "=")
		if !ok {
			return fmt.Errorf("want NAME=IMAGE, got %q", v)
		}
		images[name] = img
		return nil
	})
	var out reportFlags
	out.register(fs)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", conformance.ErrConfig, err)
	}
	t, err := conformance.LoadTarget(*target)
	if err != nil {
		return err
	}
	if *alg != "" && t.TestIssuer != nil {
		t.TestIssuer.Algorithm = *alg
	}
	report, err := containers.Run(ctx, t, containers.Options{
		TargetDir: filepath.Dir(*target), IssuerImage: *issuerImage, Images: images,
		Suite: conformance.Options{Only: out.only()},
		Logf:  func(format string, a ...any) { fmt.Fprintf(stdout, "docker: "+format+"\n", a...) },
	})
	if err != nil {
		return err
	}
	return out.write(report, stdout)
}
