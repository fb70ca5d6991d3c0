// Command conformance fires attack tokens at resource servers and checks an
// identity service, then reports case by case what was accepted that should
// have been refused. See docs/conformance.md.
//
//	conformance -target FILE [-alg EdDSA|ES256|RS256] [-json F] [-junit F] [-markdown F] [-only IDS]
//	conformance docker [flags]      start implementation images with testcontainers and test them
//	conformance issuer -listen ADDR -documents FILE   serve the test issuer's keys (inside a container)
//	conformance list [-markdown]    print the catalogue
//
// Exit status: 0 every applicable case passed, 1 a case failed, 2 configuration error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/internal/runner"
)

// exitError carries an exit status through run.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func main() {
	runner.Main(func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
		err := run(ctx, args, getenv, stdout)
		var code exitError
		switch {
		case errors.As(err, &code):
			os.Exit(int(code))
		case errors.Is(err, conformance.ErrConfig), errors.Is(err, flag.ErrHelp):
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		return err
	})
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 1 {
		switch args[1] {
		case "issuer":
			return runIssuer(ctx, args[2:], stdout)
		case "docker":
			return runDocker(ctx, args[2:], getenv, stdout)
		case "list":
			if len(args) > 2 && args[2] == "-markdown" {
				return conformance.WriteCatalogue(stdout)
			}
			return list(stdout)
		}
	}
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	fs.SetOutput(stdout)
	target := fs.String("target", "", "target file (JSON) naming the implementation under test")
	alg := fs.String("alg", "", "test issuer signing algorithm (EdDSA, ES256, RS256); overrides the target file")
	var out reportFlags
	out.register(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %w", conformance.ErrConfig, err)
	}
	if *target == "" {
		return fmt.Errorf("%w: -target is required", conformance.ErrConfig)
	}
	t, err := conformance.LoadTarget(*target)
	if err != nil {
		return err
	}
	if *alg != "" && t.TestIssuer != nil {
		t.TestIssuer.Algorithm = *alg
	}
	suite, err := conformance.New(t, conformance.Options{Only: out.only()})
	if err != nil {
		return err
	}
	report, err := suite.Run(ctx)
	if err != nil {
		return err
	}
	return out.write(report, stdout)
}

// reportFlags are the output options every mode shares.
type reportFlags struct{ json, junit, markdown, onlyIDs string }

func (f *reportFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.json, "json", "", "also write the report as JSON to this file")
	fs.StringVar(&f.junit, "junit", "", "also write JUnit XML to this file")
	fs.StringVar(&f.markdown, "markdown", "", "also write Markdown to this file")
	fs.StringVar(&f.onlyIDs, "only", "", "comma-separated case ids to run (controls always run)")
}

func (f *reportFlags) only() []string {
	if f.onlyIDs == "" {
		return nil
	}
	return strings.Split(f.onlyIDs, ",")
}

func (f *reportFlags) write(report *conformance.Report, stdout io.Writer) error {
	if err := report.WriteText(stdout); err != nil {
		return err
	}
	for _, o := range []struct {
		path  string
		write func(io.Writer) error
	}{{f.json, report.WriteJSON}, {f.junit, report.WriteJUnit}, {f.markdown, report.WriteMarkdown}} {
		if o.path == "" {
			continue
		}
		file, err := os.Create(o.path)
		if err != nil {
			return fmt.Errorf("%w: %w", conformance.ErrConfig, err)
		}
		err = o.write(file)
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if report.Failed() {
		return exitError(1)
	}
	return nil
}

func list(w io.Writer) error {
	for _, c := range conformance.Catalogue() {
		fmt.Fprintf(w, "%-8s %-16s %-9s %s\n", c.ID, c.Category, c.Severity, c.Title)
	}
	return nil
}
