package notification

import (
	"context"
	"crypto"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/logclient"
	"github.com/s2sjwt/s2sjwt/internal/replay"
	"github.com/s2sjwt/s2sjwt/internal/runner"
	"github.com/s2sjwt/s2sjwt/internal/telemetry"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

// ClientID is Notification's registered client id, the "sub" of its own tokens.
const ClientID = "notification-backend"

// Setup is the notification binary's configuration (flags and environment).
type Setup struct {
	runner.ResourceServer
	Database runner.Database
	DataDir  string
	// IdentityURL and LoggingURL, when both set, make Notification log each
	// notification to Logging with its own token.
	IdentityURL string
	LoggingURL  string
	// ExchangeProbes, "on" or "off": see Deps.ExchangeProbes.
	ExchangeProbes string
	// WIMSECalls "on" sends a WIMSE WIT and a WPT with every audit entry.
	WIMSECalls string
}

// Flags implements runner.Service.
func (s *Setup) Flags(fs *flag.FlagSet, env runner.Env) {
	s.ResourceServer.Flags(fs, env)
	s.Database.Flags(fs, env)
	runner.StringFlag(fs, env, &s.DataDir, "data", "DATA_DIR", "data/notification", "directory for the client keys and, without DATABASE_URL, the database")
	// Off unless both are set: a resource server alone (as under the
	// conformance suite) has no business calling anyone.
	runner.StringFlag(fs, env, &s.IdentityURL, "identity-url", "IDENTITY_URL", "", "where Notification gets its own tokens for audit logging (off if empty)")
	runner.StringFlag(fs, env, &s.LoggingURL, "logging-url", "LOGGING_URL", "", "logging service for audit entries (off if empty)")
	runner.StringFlag(fs, env, &s.WIMSECalls, "wimse-calls", "WIMSE_CALLS", "off", "on: audit entries also carry a WIMSE workload identity token and a proof (Identity needs IDENTITY_TRUST_DOMAIN)")
	runner.StringFlag(fs, env, &s.ExchangeProbes, "exchange-probes", "EXCHANGE_PROBES", "off", "demo only: on serves POST /v1/exchange-probes, two token exchanges Identity must refuse, and shows each audit entry's exchanged token decoded (no signature) in the 202")
}

// Open implements runner.Service.
func (s *Setup) Open(ctx context.Context, in runner.Instance) (http.Handler, io.Closer, error) {
	logger := in.Logger
	for name, v := range map[string]string{"EXCHANGE_PROBES": s.ExchangeProbes, "WIMSE_CALLS": s.WIMSECalls} {
		if v != "on" && v != "off" && v != "" {
			return nil, nil, fmt.Errorf("%s=%q: want on or off", name, v)
		}
	}
	v, err := s.Verifier(Audience, in)
	if err != nil {
		return nil, nil, err
	}
	db, err := s.Database.Open(ctx, filepath.Join(s.DataDir, "notification.db"), "notification", Schema, replay.Schema)
	if err != nil {
		return nil, nil, err
	}
	used, err := replay.New(ctx, db, nil)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	deps := Deps{Verifier: v, DB: db, Replay: used, Logger: logger, Metrics: in.Registerer(), ExchangeProbes: s.ExchangeProbes == "on"}
	if deps.DPoP, err = s.DPoPConfig(deps.Replay, in); err != nil {
		db.Close()
		return nil, nil, err
	}
	if deps.WIMSE, err = s.WIMSEConfig(deps.Replay, in); err != nil {
		db.Close()
		return nil, nil, err
	}
	if err := s.auditClient(&deps); err != nil {
		db.Close()
		return nil, nil, err
	}
	srv, err := NewServer(deps)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return srv, db, nil
}

// auditClient gives deps Notification's own client for audit entries, when
// it has an Identity and a Logging to write them to: its client key, a DPoP
// key its entries' tokens are bound to, and, with WIMSE_CALLS=on, a third
// key its WIT names and its WPTs are signed with.
func (s *Setup) auditClient(deps *Deps) error {
	if s.IdentityURL == "" || s.LoggingURL == "" {
		return nil
	}
	key, signer, err := tokenclient.LoadOrCreateKey(filepath.Join(s.DataDir, "client-key.pem"), jwk.EdDSA)
	if err != nil {
		return err
	}
	_, dpopKey, err := tokenclient.LoadOrCreateKey(filepath.Join(s.DataDir, "dpop-key.pem"), jwk.EdDSA)
	if err != nil {
		return err
	}
	var workloadKey crypto.Signer
	if s.WIMSECalls == "on" {
		if _, workloadKey, err = tokenclient.LoadOrCreateKey(filepath.Join(s.DataDir, "wimse-key.pem"), jwk.EdDSA); err != nil {
			return err
		}
	}
	httpClient := &http.Client{Timeout: 5 * time.Second, Transport: telemetry.Transport(nil)}
	tokens := &tokenclient.Client{TokenURL: s.IdentityURL + "/oauth2/token", ClientID: ClientID, Key: key, Signer: signer, HTTP: httpClient,
		DPoPKey: dpopKey, WorkloadKey: workloadKey}
	deps.Audit = &logclient.Client{LoggingURL: s.LoggingURL, Tokens: &tokenclient.Cache{Client: tokens}, HTTP: httpClient,
		DPoPKey: dpopKey, WorkloadKey: workloadKey}
	deps.PublicKey = &key
	return nil
}
