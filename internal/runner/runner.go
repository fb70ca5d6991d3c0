// Package runner is the process side of every service binary, by concern:
// the lifecycle (Run, Serve: listen, then serve, graceful shutdown, the
// `healthcheck` subcommand for images without a shell) here; flags with
// environment defaults in flags.go; whom a resource server trusts and how
// it takes DPoP in trust.go; where a service keeps its state in
// database.go.
//
//	func main() { runner.Main(run) }
//
//	func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
//		return runner.Run(ctx, args, getenv, stdout, "logging", "127.0.0.1:9002", &logging.Setup{})
//	}
package runner

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/s2sjwt/s2sjwt/internal/httpx"
	"github.com/s2sjwt/s2sjwt/internal/telemetry"
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
	// Metrics is the service's own Prometheus registry, served at
	// /metrics on its metrics listener (METRICS_ADDR) when it has one.
	Metrics *prometheus.Registry
}

// Registerer is the instance's registry, or nil without one (a nil
// *prometheus.Registry in an interface would not be nil).
func (in Instance) Registerer() prometheus.Registerer {
	if in.Metrics == nil {
		return nil
	}
	return in.Metrics
}

// InstanceAt is the Instance of a service listening on ln, with a fresh
// registry holding the Go runtime's and the process's collectors.
func InstanceAt(ln net.Listener, logger *slog.Logger) Instance {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return Instance{Logger: logger, URL: "http://" + loopback(ln.Addr().String()), Metrics: reg}
}

// Starter is a handler with work to do once it is listening (Notification
// delivers its audit entries, CareerGPT plays the scenario).
type Starter interface {
	Start(ctx context.Context, stdout io.Writer)
}

// Run is a service binary's main: `NAME [flags]` serves, `NAME healthcheck`
// probes a running instance. Defaults come first, then the environment
// (prefix_ADDR etc.), then flags.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, name, defaultAddr string, svc Service) error {
	env := EnvFrom(getenv)
	prefix := strings.ToUpper(name)
	if len(args) > 1 && args[1] == "healthcheck" {
		fs := flag.NewFlagSet(name+" healthcheck", flag.ContinueOnError)
		base := "http://" + loopback(env(prefix+"_ADDR", defaultAddr))
		url := fs.String("url", "", "URL to probe (default: /healthz, or /readyz with -ready, on the service's address)")
		ready := fs.Bool("ready", false, "probe readiness (/readyz: keys, database) instead of liveness")
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		if *url == "" {
			*url = base + "/healthz"
			if *ready {
				*url = base + "/readyz"
			}
		}
		return httpx.Healthcheck(ctx, *url)
	}

	spareProcessor()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	var addr, metricsAddr, level string
	StringFlag(fs, env, &addr, "addr", prefix+"_ADDR", defaultAddr, "listen address")
	StringFlag(fs, env, &metricsAddr, "metrics-addr", "METRICS_ADDR", "", "listen address for /metrics (Prometheus); none if empty, and never publish it (docs/operations.md)")
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
	shutdown, err := telemetry.Setup(ctx, getenv, name)
	if err != nil {
		ln.Close()
		return fmt.Errorf("%s: tracing: %w", name, err)
	}
	defer func() { _ = shutdown(context.WithoutCancel(ctx)) }()
	unit := Unit{Name: name, Listener: ln, Logger: logger, Service: svc}
	if metricsAddr != "" {
		if unit.MetricsListener, err = net.Listen("tcp", metricsAddr); err != nil {
			ln.Close()
			return fmt.Errorf("%s: metrics: %w", name, err)
		}
	}
	return Serve(ctx, stdout, []Unit{unit}, nil)
}

// Unit is one service a process serves: its name, the listener it serves
// on (listen first, so that a taken port fails at once and ":0" works), and
// its logger.
type Unit struct {
	Name     string
	Listener net.Listener
	Logger   *slog.Logger
	Service  Service
	// MetricsListener, if set, serves the service's /metrics.
	MetricsListener net.Listener
}

// Serve opens each unit's service and serves it on its listener until ctx
// ends or one of them fails, then shuts them all down gracefully. Handlers
// that are Starters start once every unit serves, and so does ready, if
// set; its error ends Serve too. A single binary and the demo's four
// services run through it alike.
func Serve(ctx context.Context, stdout io.Writer, units []Unit, ready func(context.Context) error) error {
	handlers := make([]http.Handler, len(units))
	registries := make([]*prometheus.Registry, len(units))
	for i, u := range units {
		in := InstanceAt(u.Listener, u.Logger)
		h, closer, err := u.Service.Open(ctx, in)
		if err != nil {
			for _, all := range units {
				all.Listener.Close()
				if all.MetricsListener != nil {
					all.MetricsListener.Close()
				}
			}
			return fmt.Errorf("%s: %w", u.Name, err)
		}
		registries[i] = in.Metrics
		// Closed last, after background work has ended: an audit delivery
		// cut off by a closed database would leave its claim behind.
		defer closer.Close()
		handlers[i] = h
		u.Logger.Info("listening", "addr", u.Listener.Addr().String())
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, 2*len(units)+1) // every server, metrics listeners included, and ready
	var servers, background sync.WaitGroup
	for i, u := range units {
		traced := telemetry.Handler(handlers[i], u.Name) // each request continues its caller's trace
		servers.Go(func() { errc <- httpx.Serve(ctx, u.Listener, traced, u.Logger) })
		if u.MetricsListener != nil {
			mux := http.NewServeMux()
			mux.Handle("GET /metrics", promhttp.HandlerFor(registries[i], promhttp.HandlerOpts{}))
			u.Logger.Info("metrics listening", "addr", u.MetricsListener.Addr().String())
			servers.Go(func() { errc <- httpx.Serve(ctx, u.MetricsListener, mux, u.Logger) })
		}
		if st, ok := handlers[i].(Starter); ok {
			background.Go(func() { st.Start(ctx, stdout) })
		}
	}
	if ready != nil {
		background.Go(func() {
			if err := ready(ctx); err != nil {
				errc <- err
			}
		})
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	stop()
	servers.Wait()
	background.Wait()
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
