// Command conformance fires attack tokens at resource servers and checks an
// identity service, then reports case by case what was accepted that should
// have been refused. See docs/conformance.md, or run it with -h.
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
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/internal/runner"
)

const usage = `conformance: attack tokens against service-to-service JWT resource servers.

Usage:
  conformance -target FILE [flags]           run the suite against the target
  conformance issuer -target FILE [-keys D]  serve the target's test issuer until interrupted
  conformance docker [flags]                 start the target's images (testcontainers), then run
  conformance list [-markdown]               print the catalogue

Exit status: 0 every applicable case passed; 1 a case failed; 2 a configuration
error (target file, flags, output paths, a process that would not start, or a
server that accepts no valid token under any algorithm).

Flags of a run:
`

// exitError carries an exit status through run.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func main() {
	runner.Main(func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
		err := run(ctx, args, getenv, stdout)
		var code exitError
		switch {
		case errors.Is(err, flag.ErrHelp):
			os.Exit(0)
		case errors.As(err, &code):
			os.Exit(int(code))
		case errors.Is(err, conformance.ErrConfig), errors.Is(err, target.ErrInvalid):
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
			return runList(args[2:], stdout)
		}
	}
	fs := newFlagSet("conformance", stdout, usage)
	tgt := fs.String("target", "", "target file (JSON) naming the implementation under test (required)")
	var out reportFlags
	out.register(fs)
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *tgt == "" {
		return fmt.Errorf("%w: -target is required (-h for help)", conformance.ErrConfig)
	}
	t, files, err := out.load(*tgt)
	if err != nil {
		return err
	}
	defer files.close()
	opts := out.options()
	progress := progressTo(out.quiet)
	if progress != nil {
		opts.Progress = progress
	}
	suite, err := conformance.New(t, opts)
	if err != nil {
		return err
	}
	report, err := suite.Run(ctx)
	if progress != nil {
		progress.Clear()
	}
	if err != nil {
		return err
	}
	return files.write(report, stdout)
}

func runList(args []string, stdout io.Writer) error {
	fs := newFlagSet("conformance list", stdout, "Usage: conformance list [-markdown]\n")
	markdown := fs.Bool("markdown", false, "print the catalogue as the Markdown tables of docs/conformance.md")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *markdown {
		return conformance.WriteCatalogue(stdout)
	}
	for _, c := range conformance.Catalogue() {
		fmt.Fprintf(stdout, "%-8s %-16s %-9s %s\n", c.ID, c.Category, c.Severity, c.Title)
	}
	return nil
}

// newFlagSet returns a flag set whose -h prints head, then the flags.
func newFlagSet(name string, stdout io.Writer, head string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprint(stdout, head)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args and refuses leftovers: Go's flag package stops at the
// first non-flag, so "-target t.json extra -alg RS256" would silently drop
// -alg.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", conformance.ErrConfig, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q: every option is a -flag (-h for help)", conformance.ErrConfig, fs.Arg(0))
	}
	return nil
}

// reportFlags are the options every run mode shares.
type reportFlags struct {
	json, junit, markdown, onlyIDs, skipIDs, alg, keys, logs string
	quiet                                                    bool
}

func (f *reportFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.alg, "alg", "", "test issuer algorithm: auto (default: the first of EdDSA, ES256, RS256, PS256 each server accepts), all (each one it accepts), or one of them; overrides the target file")
	fs.StringVar(&f.keys, "keys", "", "directory of the test issuer's keys and CA, kept across runs (default "+defaultKeysDir()+")")
	fs.StringVar(&f.logs, "logs", "", "keep each started process's output in this directory as NAME.log")
	fs.StringVar(&f.json, "json", "", "also write the report as JSON to this file")
	fs.StringVar(&f.junit, "junit", "", "also write JUnit XML to this file")
	fs.StringVar(&f.markdown, "markdown", "", "also write Markdown to this file")
	fs.StringVar(&f.onlyIDs, "only", "", "comma-separated case ids to run (controls always run)")
	fs.StringVar(&f.skipIDs, "skip", "", "comma-separated case ids not to run, as go test -skip beside -run (controls the others rest on still run)")
	fs.BoolVar(&f.quiet, "q", false, "no progress line on stderr (there is none when stderr is not a terminal)")
}

// load reads the target, applies the flags that override it and opens the
// output files: everything that can be wrong before the first request.
func (f *reportFlags) load(path string) (*target.Target, reportFiles, error) {
	t, err := target.Load(path)
	if err != nil {
		return nil, nil, err
	}
	if err := f.apply(t); err != nil {
		return nil, nil, err
	}
	files, err := f.open()
	return t, files, err
}

// apply puts flags that override the target file into it.
func (f *reportFlags) apply(t *target.Target) error {
	if f.alg != "" && t.TestIssuer != nil {
		t.TestIssuer.Algorithm = f.alg
		return t.Validate()
	}
	return nil
}

func (f *reportFlags) options() conformance.Options {
	return conformance.Options{Only: ids(f.onlyIDs), Skip: ids(f.skipIDs), KeysDir: f.keys, LogsDir: f.logs}
}

// ids splits a comma-separated list of case ids.
func ids(list string) []string {
	if list == "" {
		return nil
	}
	return strings.Split(list, ",")
}

// reportFiles are the output files, opened before the run so that a bad
// path is a configuration error before any request is sent.
type reportFiles []struct {
	file  *os.File
	write func(*conformance.Report, io.Writer) error
}

func (f *reportFlags) open() (reportFiles, error) {
	var files reportFiles
	for _, o := range []struct {
		path  string
		write func(*conformance.Report, io.Writer) error
	}{{f.json, (*conformance.Report).WriteJSON}, {f.junit, (*conformance.Report).WriteJUnit}, {f.markdown, (*conformance.Report).WriteMarkdown}} {
		if o.path == "" {
			continue
		}
		file, err := os.Create(o.path)
		if err != nil {
			files.close()
			return nil, fmt.Errorf("%w: report file: %w", conformance.ErrConfig, err)
		}
		files = append(files, struct {
			file  *os.File
			write func(*conformance.Report, io.Writer) error
		}{file, o.write})
	}
	return files, nil
}

func (files reportFiles) close() {
	for _, f := range files {
		f.file.Close()
	}
}

func (files reportFiles) write(report *conformance.Report, stdout io.Writer) error {
	if err := report.WriteText(stdout); err != nil {
		return err
	}
	for _, f := range files {
		if err := f.write(report, f.file); err != nil {
			return err
		}
		if err := f.file.Close(); err != nil {
			return err
		}
	}
	if report.Failed() {
		return exitError(1)
	}
	return nil
}
