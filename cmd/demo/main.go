// Command demo runs all four services in one process on loopback, plays the
// scenario, tells it step by step, and keeps serving. It needs only Go: no
// Docker, no network beyond 127.0.0.1. With DATABASE_URL (PostgreSQL) every
// service keeps its state there, and a second Notification replica joins,
// so that the scenario shows a token refused at the replica it was not
// used at.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"time"

	"github.com/s2sjwt/s2sjwt/careergpt"
	"github.com/s2sjwt/s2sjwt/identity"
	"github.com/s2sjwt/s2sjwt/internal/runner"
	"github.com/s2sjwt/s2sjwt/internal/telemetry"
	"github.com/s2sjwt/s2sjwt/logging"
	"github.com/s2sjwt/s2sjwt/notification"
)

func main() { runner.Main(run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	env := runner.EnvFrom(getenv)
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addrs := make([]string, 5)
	var dataDir, level string
	var db runner.Database
	runner.StringFlag(fs, env, &addrs[0], "careergpt-addr", "CAREERGPT_ADDR", "127.0.0.1:9000", "CareerGPT (and the page)")
	runner.StringFlag(fs, env, &addrs[1], "identity-addr", "IDENTITY_ADDR", "127.0.0.1:9001", "Identity")
	runner.StringFlag(fs, env, &addrs[2], "logging-addr", "LOGGING_ADDR", "127.0.0.1:9002", "Logging")
	runner.StringFlag(fs, env, &addrs[3], "notification-addr", "NOTIFICATION_ADDR", "127.0.0.1:9003", "Notification")
	runner.StringFlag(fs, env, &addrs[4], "notification-2-addr", "NOTIFICATION_2_ADDR", "127.0.0.1:9004", "Notification's second replica (with DATABASE_URL)")
	metricsAddrs := make([]string, 4) // careergpt has none
	runner.StringFlag(fs, env, &metricsAddrs[1], "identity-metrics-addr", "IDENTITY_METRICS_ADDR", "", "Identity's /metrics (none if empty)")
	runner.StringFlag(fs, env, &metricsAddrs[2], "logging-metrics-addr", "LOGGING_METRICS_ADDR", "", "Logging's /metrics (none if empty)")
	runner.StringFlag(fs, env, &metricsAddrs[3], "notification-metrics-addr", "NOTIFICATION_METRICS_ADDR", "", "Notification's /metrics (none if empty)")
	db.Flags(fs, env)
	runner.StringFlag(fs, env, &dataDir, "data", "DATA_DIR", "data/demo", "data directory (one folder per service)")
	runner.StringFlag(fs, env, &level, "log-level", "LOG_LEVEL", "warn", "service log level; the story is printed regardless")
	once := fs.Bool("once", false, "play the scenario, print it, and exit (non-zero if a step did not end as expected)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if db.URL == "" {
		addrs = addrs[:4] // one Notification: replicas need a shared database
	}

	// Listen on all first: a taken port fails at once, and ":0" works.
	lns := make([]net.Listener, len(addrs))
	for i, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			closeAll(lns[:i])
			return fmt.Errorf("demo: %w", err)
		}
		lns[i] = ln
	}
	shutdown, err := telemetry.Setup(ctx, getenv, "s2sjwt-demo")
	if err != nil {
		closeAll(lns)
		return err
	}
	defer func() { _ = shutdown(context.WithoutCancel(ctx)) }()
	units, cg, err := demoUnits(lns, db, dataDir, level, env, stdout)
	if err == nil {
		err = listenForMetrics(units, metricsAddrs)
	}
	if err != nil {
		closeAll(lns)
		return err
	}
	cg.PlayOnStart = !*once
	err = runner.Serve(ctx, stdout, units, func(ctx context.Context) error {
		fmt.Fprintf(stdout, "Four services on loopback:\n  careergpt     %s   ← open this page to watch the flow\n  identity      %s\n  logging       %s\n  notification  %s\n",
			url(lns[0]), url(lns[1]), url(lns[2]), url(lns[3]))
		if len(lns) > 4 {
			fmt.Fprintf(stdout, "  notification  %s   (second replica; every service on DATABASE_URL)\n", url(lns[4]))
		}
		if *once {
			return playOnce(ctx, stdout, cg.Config, url(lns[0]))
		}
		fmt.Fprintln(stdout, "Press Ctrl+C to stop.")
		return nil
	})
	if errors.Is(err, errPlayed) {
		return nil
	}
	return err
}

func url(ln net.Listener) string { return "http://" + ln.Addr().String() }

// errPlayed ends the demo's -once run after the scenario passed.
var errPlayed = errors.New("demo: played")

// playOnce plays the scenario through CareerGPT's API, as a user would,
// tells it, and ends the run.
func playOnce(ctx context.Context, stdout io.Writer, cfg careergpt.Config, careergptURL string) error {
	peers := append([]string{cfg.IdentityURL, cfg.LoggingURL, cfg.NotificationURL}, cfg.NotificationReplicas...)
	if err := careergpt.WaitHealthy(ctx, cfg.PeersTimeout, peers...); err != nil {
		return err
	}
	out, err := careergpt.PlayAt(ctx, careergptURL, "scenario")
	if err != nil {
		return err
	}
	careergpt.Narrate(stdout, out)
	if !out.Passed {
		return errors.New("demo: the scenario did not end as expected")
	}
	return errPlayed
}

// demoUnits are the four services (five with a second Notification
// replica) on lns, with the demo's registry and data directories.
// listenForMetrics gives units[i] a metrics listener on addrs[i], if set.
func listenForMetrics(units []runner.Unit, addrs []string) error {
	for i, a := range addrs {
		if a == "" {
			continue
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return fmt.Errorf("demo: metrics of %s: %w", units[i].Name, err)
		}
		units[i].MetricsListener = ln
	}
	return nil
}

func demoUnits(lns []net.Listener, db runner.Database, dataDir, level string, env runner.Env, stdout io.Writer) ([]runner.Unit, *careergpt.Setup, error) {
	careergptURL, identityURL, loggingURL, notificationURL := url(lns[0]), url(lns[1]), url(lns[2]), url(lns[3])
	// Every token has a status list entry, which the resource servers check.
	trust := runner.ResourceServer{Issuer: identityURL, StatusLists: "on", TrustDomain: trustDomain}
	// Logging takes Notification's audit entries on CareerGPT's behalf, and
	// WIMSE credentials beside its DPoP-bound tokens; Notification takes
	// WIMSE calls only: both styles are shown.
	loggingTrust := withDPoP(trust, runner.DPoPRequired)
	loggingTrust.Actors, loggingTrust.WIMSE = notification.ClientID, runner.WIMSEOptional
	notificationTrust := trust
	notificationTrust.WIMSE = runner.WIMSERequired
	// The operator's admin secret, fresh for each run: CareerGPT plays the
	// operator in the revocation steps.
	adminSecret := rand.Text()
	cg := &careergpt.Setup{
		Config: careergpt.Config{IdentityURL: identityURL, LoggingURL: loggingURL, NotificationURL: notificationURL,
			PeersTimeout: 10 * time.Second, AdminSecret: adminSecret},
		DataDir: filepath.Join(dataDir, "careergpt"), WIMSECalls: "on",
	}
	if len(lns) > 4 {
		cg.NotificationReplicas = []string{notificationURL, url(lns[4])}
	}
	newNotification := func() *notification.Setup {
		// Replicas share the data directory: one client key for the service.
		return &notification.Setup{ResourceServer: notificationTrust, Database: db, DataDir: filepath.Join(dataDir, "notification"),
			IdentityURL: identityURL, LoggingURL: loggingURL, ExchangeProbes: "on", WIMSECalls: "on"}
	}
	services := []runner.Service{
		cg,
		&identity.Setup{
			Config: identity.Config{Issuer: identityURL, Registry: demoRegistry(careergptURL, notificationURL), Leeway: 5 * time.Second,
				AdminSecretSHA256: identity.HashSecret(adminSecret), TrustDomain: trustDomain},
			Database: db, KeySecret: env("IDENTITY_KEY_SECRET", ""), DataDir: filepath.Join(dataDir, "identity"), Algorithm: "EdDSA",
			RotationInterval: 24 * time.Hour, PublishLead: 20 * time.Second, StatusList: true,
		},
		&logging.Setup{ResourceServer: loggingTrust, Database: db, DataDir: filepath.Join(dataDir, "logging")},
		newNotification(),
	}
	if len(lns) > 4 {
		services = append(services, newNotification())
	}
	names := []string{"careergpt", "identity", "logging", "notification", "notification-2"}
	units := make([]runner.Unit, len(services))
	for i, svc := range services {
		logger, err := runner.NewLogger(stdout, level, names[i])
		if err != nil {
			return nil, nil, err
		}
		units[i] = runner.Unit{Name: names[i], Listener: lns[i], Logger: logger, Service: svc}
	}
	return units, cg, nil
}

// trustDomain is the demo's WIMSE trust domain: Identity's WITs name
// wimse://s2sjwt.example/<client>.
const trustDomain = "s2sjwt.example"

// demoRegistry is deploy/registry.json with loopback URLs for the clients' keys.
func demoRegistry(careergptURL, notificationURL string) *identity.Registry {
	return &identity.Registry{
		Audiences: map[string]identity.Audience{
			"logging-service":      {MaxTTL: identity.Duration(5 * time.Minute), Scopes: []string{"logs:write", "logs:read"}, DPoP: identity.DPoPRequired},
			"notification-service": {MaxTTL: identity.Duration(2 * time.Minute), Scopes: []string{"notifications:send"}},
		},
		Clients: []identity.Client{
			{ID: careergpt.ClientID, AuthMethod: identity.PrivateKeyJWT, JWKSURI: careergptURL + "/.well-known/jwks.json",
				Allow: map[string][]string{"logging-service": {"logs:write", "logs:read"}, "notification-service": {"notifications:send"}}},
			{ID: notification.ClientID, AuthMethod: identity.PrivateKeyJWT, JWKSURI: notificationURL + "/.well-known/jwks.json",
				Allow: map[string][]string{"logging-service": {"logs:write"}},
				MayAct: []identity.MayAct{{For: []string{careergpt.ClientID}, Received: "notification-service",
					Allow: map[string][]string{"logging-service": {"logs:write"}}}}},
		},
	}
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		if ln != nil {
			ln.Close()
		}
	}
}

// withDPoP returns rs with its DPoP mode set.
func withDPoP(rs runner.ResourceServer, mode string) runner.ResourceServer {
	rs.DPoP = mode
	return rs
}
