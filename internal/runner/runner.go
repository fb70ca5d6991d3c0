// Package runner is the process side of every service binary: flags with
// environment defaults, logging, listen-then-serve, graceful shutdown, and
// the `healthcheck` subcommand for images without a shell.
package runner

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/httpx"
)

// Service is what a binary runs.
type Service interface {
	// Flags registers the service's flags; env returns the environment
	// value for a key, or fallback.
	Flags(fs *flag.FlagSet, env Env)
	// Open builds the handler. The closer releases what Open acquired.
	Open(ctx context.Context, in Instance) (http.Handler, io.Closer, error)
}

// Instance is one running copy of a service, as Open sees it: how it logs
// and where it listens.
type Instance struct {
	Logger *slog.Logger
	// URL is the loopback URL of its listener ("http://127.0.0.1:9002"):
	// what a service that must know its own address (for DPoP's htu) uses
	// unless it is told its public URL.
	URL string
}

// InstanceAt is the Instance of a service listening on ln.
func InstanceAt(ln net.Listener, logger *slog.Logger) Instance {
	return Instance{Logger: logger, URL: "http://" + loopback(ln.Addr().String())}
}

// Starter is a Service with work to do once it is listening.
type Starter interface {
	Start(ctx context.Context, stdout io.Writer)
}

// Env reads configuration from the environment with a fallback.
type Env func(key, fallback string) string

// EnvFrom adapts getenv.
func EnvFrom(getenv func(string) string) Env {
	return func(key, fallback string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return fallback
	}
}

// DurationFlag registers a duration flag whose default comes from env. A
// malformed environment value is a start-up error (see CheckFlags) unless
// the flag overrides it: a typo must not silently become the default.
func DurationFlag(fs *flag.FlagSet, env Env, p *time.Duration, name, key string, fallback time.Duration, usage string) {
	*p = fallback
	v := &durationValue{p: p}
	if raw := env(key, ""); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil {
			v.err = fmt.Errorf("%s=%q: %w", key, raw, err)
		} else {
			*p = d
		}
	}
	fs.Var(v, name, usage+" (env "+key+")")
}

// durationValue is a flag.Value that remembers a bad environment value.
type durationValue struct {
	p   *time.Duration
	err error
}

func (d *durationValue) String() string {
	if d.p == nil {
		return ""
	}
	return d.p.String()
}

func (d *durationValue) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d.p, d.err = v, nil
	return nil
}

// CheckFlags reports configuration the environment got wrong, after Parse.
func CheckFlags(fs *flag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if d, ok := f.Value.(*durationValue); ok && d.err != nil {
			errs = append(errs, d.err)
		}
	})
	return errors.Join(errs...)
}

// StringFlag registers a string flag whose default comes from env.
func StringFlag(fs *flag.FlagSet, env Env, p *string, name, key, fallback, usage string) {
	fs.StringVar(p, name, env(key, fallback), usage+" (env "+key+")")
}

// Run is a service binary's main: `NAME [flags]` serves, `NAME healthcheck`
// probes a running instance. Defaults come first, then the environment
// (prefix_ADDR etc.), then flags.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, name, defaultAddr string, svc Service) error {
	env := EnvFrom(getenv)
	prefix := strings.ToUpper(name)
	if len(args) > 1 && args[1] == "healthcheck" {
		fs := flag.NewFlagSet(name+" healthcheck", flag.ContinueOnError)
		url := fs.String("url", "http://"+loopback(env(prefix+"_ADDR", defaultAddr))+"/healthz", "URL to probe")
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		return httpx.Healthcheck(ctx, *url)
	}

	spareProcessor()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	var addr, level string
	StringFlag(fs, env, &addr, "addr", prefix+"_ADDR", defaultAddr, "listen address")
	StringFlag(fs, env, &level, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	svc.Flags(fs, env)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := CheckFlags(fs); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	logger, err := NewLogger(stdout, level, name)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	handler, closer, err := svc.Open(ctx, InstanceAt(ln, logger))
	if err != nil {
		ln.Close()
		return fmt.Errorf("%s: %w", name, err)
	}
	defer closer.Close()
	logger.Info("listening", "addr", ln.Addr().String())
	// Background work ends before what it uses is closed: an audit
	// delivery cut off by a closed database would leave its claim behind.
	ctx, stop := context.WithCancel(ctx)
	started := make(chan struct{})
	if s, ok := svc.(Starter); ok {
		go func() {
			defer close(started)
			s.Start(ctx, stdout)
		}()
	} else {
		close(started)
	}
	err = httpx.Serve(ctx, ln, handler, logger)
	stop()
	<-started
	return err
}

// spareProcessor gives the Go scheduler a second P on a one-CPU machine
// or container. A durable commit blocks its thread in fsync; with one P,
// and the other goroutines waiting on the network, Go takes that P back
// for them only after up to 10 ms, so every commit would stall the whole
// service. Measured with Notification pinned to one CPU: 1,430 requests/s
// with one P, 4,900 with two (docs/benchmarks.md).
func spareProcessor() {
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
}

// NewLogger returns a text logger tagged with the service name.
func NewLogger(w io.Writer, level, service string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})).With("service", service), nil
}

// loopback turns a listen address into one to dial: ":8080" → "127.0.0.1:8080".
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		return "127.0.0.1:" + port
	}
	return addr
}

// ResourceServer holds the settings every resource server shares: whom it
// trusts, how much clock skew it tolerates, and how it takes DPoP.
type ResourceServer struct {
	Issuer  string
	JWKSURL string
	Leeway  time.Duration
	// JWKSMaxAge and JWKSMinRefresh tune the key cache (authn defaults).
	JWKSMaxAge     time.Duration
	JWKSMinRefresh time.Duration
	// DPoP is DPoPOff, DPoPOptional (the default) or DPoPRequired.
	DPoP string
	// PublicURL is this service as its clients address it (scheme and
	// host): a DPoP proof's htu must name it. Empty: the listener's
	// loopback URL, right for the demo and for a binary run as it is.
	PublicURL string
}

// DPoP modes of a resource server.
const (
	// DPoPOff: bearer tokens only; "Authorization: DPoP" is no credential.
	DPoPOff = "off"
	// DPoPOptional: bearer tokens, and DPoP-bound tokens with their proofs.
	// The default, so that every documented client (Notification binds its
	// audit tokens) works with a resource server left at its defaults.
	DPoPOptional = "optional"
	// DPoPRequired: DPoP-bound tokens with their proofs only.
	DPoPRequired = "required"
)

// DPoPConfig is the middleware's DPoP configuration for rs.DPoP, or nil
// when DPoP is off; proofs are remembered in replay, and must name
// rs.PublicURL, or else the instance's own URL.
func (rs ResourceServer) DPoPConfig(replay authn.ReplayGuard, in Instance) (*authn.DPoPConfig, error) {
	switch rs.DPoP {
	case DPoPOff:
		return nil, nil
	case "", DPoPOptional, DPoPRequired: // "": the zero value, optional
	default:
		return nil, fmt.Errorf("DPOP=%q: want off, optional or required", rs.DPoP)
	}
	public := cmp.Or(rs.PublicURL, in.URL)
	base, err := url.Parse(public)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || strings.Trim(base.Path, "/") != "" || base.RawQuery != "" {
		return nil, fmt.Errorf("PUBLIC_URL=%q: want scheme://host[:port], as clients address this service", public)
	}
	base.Path = ""
	return &authn.DPoPConfig{Replay: replay, Required: rs.DPoP == DPoPRequired, BaseURL: base}, nil
}

// Flags registers TRUSTED_ISSUER, JWKS_URL, LEEWAY, DPOP and PUBLIC_URL.
func (rs *ResourceServer) Flags(fs *flag.FlagSet, env Env) {
	StringFlag(fs, env, &rs.Issuer, "issuer", "TRUSTED_ISSUER", "http://127.0.0.1:9001", "the one issuer whose tokens are accepted")
	StringFlag(fs, env, &rs.JWKSURL, "jwks-url", "JWKS_URL", "", "issuer's JWKS; discovered from its RFC 8414 metadata when empty")
	DurationFlag(fs, env, &rs.Leeway, "leeway", "LEEWAY", authn.DefaultLeeway, "clock-skew leeway for exp, nbf, iat")
	DurationFlag(fs, env, &rs.JWKSMaxAge, "jwks-max-age", "JWKS_MAX_AGE", authn.DefaultMaxKeyAge, "age after which cached keys are refreshed in the background")
	DurationFlag(fs, env, &rs.JWKSMinRefresh, "jwks-min-refresh", "JWKS_MIN_REFRESH", authn.DefaultMinRefreshInterval, "least time between two JWKS fetches")
	StringFlag(fs, env, &rs.DPoP, "dpop", "DPOP", DPoPOptional, "DPoP-bound tokens (RFC 9449): off, optional or required")
	StringFlag(fs, env, &rs.PublicURL, "public-url", "PUBLIC_URL", "", "this service's URL as clients address it, which DPoP proofs must name (default: the listen address on loopback)")
}

// Verifier returns the verifier for audience, with a remote key set.
func (rs ResourceServer) Verifier(audience string, logger *slog.Logger) (*authn.Verifier, error) {
	keys, err := authn.NewRemoteKeySet(authn.RemoteKeySetConfig{JWKSURL: rs.JWKSURL, Issuer: rs.Issuer, Logger: logger,
		MaxKeyAge: rs.JWKSMaxAge, MinRefreshInterval: rs.JWKSMinRefresh})
	if err != nil {
		return nil, err
	}
	return authn.NewVerifier(authn.Config{Issuer: rs.Issuer, Audience: audience, KeySet: keys, Leeway: rs.Leeway})
}

// RunFunc is a testable main: everything the process gives it is a parameter.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error

// Main runs run until SIGINT or SIGTERM and exits non-zero on error.
func Main(run RunFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Database is where a service keeps its state: a SQLite file of its own
// by default, or PostgreSQL, which replicas of the service share.
type Database struct {
	URL string
	// Timeout bounds each operation a request waits for.
	Timeout time.Duration
}

// Flags registers DATABASE_URL and DATABASE_TIMEOUT. The URL is a secret
// (it may hold a password), so -h shows no default.
func (d *Database) Flags(fs *flag.FlagSet, env Env) {
	d.URL = env("DATABASE_URL", "")
	fs.Var(secretValue{&d.URL}, "database-url", "postgres://… shared by replicas; empty: a SQLite file in the data directory (env DATABASE_URL)")
	DurationFlag(fs, env, &d.Timeout, "database-timeout", "DATABASE_TIMEOUT", database.DefaultTimeout,
		"longest a request waits for the database before it is answered 503")
}

// Open opens d.URL, or else the SQLite file sqlitePath, with the schemas
// in namespace.
func (d Database) Open(ctx context.Context, sqlitePath, namespace string, schemas ...database.Schema) (*database.DB, error) {
	url := d.URL
	if url == "" {
		url = sqlitePath
	} else if !database.IsPostgres(url) {
		return nil, errors.New("DATABASE_URL: want postgres://… (or nothing, for SQLite)")
	}
	db, err := database.Open(ctx, url, namespace, schemas...)
	if err == nil {
		db.Timeout = d.Timeout
	}
	return db, err
}

// secretValue is a string flag that never prints its value.
type secretValue struct{ p *string }

func (v secretValue) String() string     { return "" }
func (v secretValue) Set(s string) error { *v.p = s; return nil }
