package main

import (
	"context"
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
	fs := newFlagSet("conformance docker", stdout, "Usage: conformance docker [flags]\n\nStarts the target's containers and the test issuer with testcontainers, then runs the suite.\n\nFlags:\n")
	tgt := fs.String("target", "conformance/targets/docker.json", "target file with a containers section")
	issuerImage := fs.String("issuer-image", "s2sjwt/conformance:dev", "image that runs `conformance issuer`")
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
	if err := parse(fs, args); err != nil {
		return err
	}
	t, files, err := out.load(*tgt)
	if err != nil {
		return err
	}
	defer files.close()
	report, err := containers.Run(ctx, t, containers.Options{
		TargetDir: filepath.Dir(*tgt), IssuerImage: *issuerImage, Images: images,
		Suite: out.options(),
		Logf:  func(format string, a ...any) { fmt.Fprintf(stdout, "docker: "+format+"\n", a...) },
	})
	if err != nil {
		return err
	}
	return files.write(report, stdout)
}
