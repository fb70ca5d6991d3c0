package identity

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/replay"
	"github.com/s2sjwt/s2sjwt/internal/runner"
)

// Setup is the identity binary's configuration (flags and environment):
// the service's Config, and where its registry, keys and state live.
type Setup struct {
	// Config is the service's; its Registry is read from RegistryPath
	// unless set, and its DPoPNonceKey derived from KeySecret.
	Config
	RegistryPath string
	Database     runner.Database
	DataDir      string
	// KeySecret seals the signing keys in the database (env
	// IDENTITY_KEY_SECRET, never a flag). Required with PostgreSQL; with
	// SQLite a random one is kept in DataDir if empty.
	KeySecret        string
	Algorithm        string
	RotationInterval time.Duration
	PublishLead      time.Duration
	// StatusList gives every token a status list entry (IDENTITY_STATUS_LIST=true).
	StatusList bool
	Now        func() time.Time
}

// Flags implements runner.Service.
func (s *Setup) Flags(fs *flag.FlagSet, env runner.Env) {
	runner.StringFlag(fs, env, &s.Issuer, "issuer", "IDENTITY_ISSUER", "http://127.0.0.1:9001", "issuer identifier and base URL")
	runner.StringFlag(fs, env, &s.RegistryPath, "registry", "IDENTITY_REGISTRY", "deploy/registry.json", "client registry file (docs/registry.md)")
	s.Database.Flags(fs, env)
	runner.StringFlag(fs, env, &s.DataDir, "data", "DATA_DIR", "data/identity", "directory for the database without DATABASE_URL")
	s.KeySecret = env("IDENTITY_KEY_SECRET", "")
	runner.StringFlag(fs, env, &s.Algorithm, "alg", "IDENTITY_ALG", "EdDSA", "signing algorithm for new keys: EdDSA, ES256 or RS256")
	runner.DurationFlag(fs, env, &s.RotationInterval, "rotation-interval", "IDENTITY_ROTATION_INTERVAL", 24*time.Hour, "signing key lifetime")
	runner.DurationFlag(fs, env, &s.PublishLead, "publish-lead", "IDENTITY_PUBLISH_LEAD", 2*authn.DefaultMinRefreshInterval, "how long a new key is published before it signs")
	runner.DurationFlag(fs, env, &s.Leeway, "leeway", "LEEWAY", authn.DefaultLeeway, "clock-skew leeway for client assertions")
	runner.StringFlag(fs, env, &s.TrustDomain, "trust-domain", "IDENTITY_TRUST_DOMAIN", "", "issue WIMSE workload identity tokens (WITs) naming clients in this trust domain; empty: none")
	runner.StringFlag(fs, env, &s.AdminSecretSHA256, "admin-secret-sha256", "IDENTITY_ADMIN_SECRET_SHA256", "", "enables POST /admin/rotate-keys (and, with the status list, /admin/revoke, /admin/suspend, /admin/reinstate) for this secret's hash")
	fs.BoolVar(&s.DPoPNonce, "dpop-nonce", env("IDENTITY_DPOP_NONCE", "") == "true", "require server-provided nonces in DPoP proofs (env IDENTITY_DPOP_NONCE=true)")
	fs.BoolVar(&s.StatusList, "status-list", env("IDENTITY_STATUS_LIST", "") == "true",
		"give every token a status list entry (draft-ietf-oauth-status-list), served at /statuslists/1, revocable through the admin API (env IDENTITY_STATUS_LIST=true)")
}

// Open implements runner.Service.
func (s *Setup) Open(ctx context.Context, in runner.Instance) (http.Handler, io.Closer, error) {
	logger := in.Logger
	reg := s.Registry
	if reg == nil {
		var err error
		if reg, err = LoadRegistry(s.RegistryPath); err != nil {
			return nil, nil, err
		}
	}
	if reg.HasJWTSVIDClients() && s.Algorithm == jwk.EdDSA {
		return nil, nil, errors.New("clients with a spiffe_id get JWT-SVIDs, which cannot be EdDSA (JWT-SVID §2.1): set IDENTITY_ALG to ES256 or RS256")
	}
	if s.Database.URL != "" && s.KeySecret == "" {
		return nil, nil, errors.New("IDENTITY_KEY_SECRET is required with DATABASE_URL: every replica seals and unseals the signing keys with it")
	}
	db, err := s.Database.Open(ctx, filepath.Join(s.DataDir, "identity.db"), "identity", KeysSchema, replay.Schema, StatusSchema)
	if err != nil {
		return nil, nil, err
	}
	h, err := s.open(ctx, db, reg, logger, in)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return h, db, nil
}

func (s *Setup) open(ctx context.Context, db *database.DB, reg *Registry, logger *slog.Logger, in runner.Instance) (http.Handler, error) {
	secret := []byte(s.KeySecret)
	if len(secret) == 0 { // SQLite: checked in Open
		var err error
		if secret, err = loadOrCreateSecret(filepath.Join(s.DataDir, "key-secret")); err != nil {
			return nil, err
		}
	}
	keys, err := OpenKeyStore(ctx, KeyStoreConfig{
		DB: db, Secret: secret, LegacyPath: filepath.Join(s.DataDir, "signing-keys.json"), Algorithm: s.Algorithm,
		RotationInterval: s.RotationInterval, PublishLead: s.PublishLead,
		Retain: reg.MaxTTL() + s.Leeway + time.Minute, Now: s.Now,
	})
	if err != nil {
		return nil, err
	}
	nonceKey, err := deriveKey(secret, "s2sjwt identity dpop nonces v1") // shared by replicas
	if err != nil {
		return nil, err
	}
	cfg := s.Config
	cfg.Registry, cfg.DPoPNonceKey = reg, nonceKey
	used, err := replay.New(ctx, db, s.Now)
	if err != nil {
		return nil, err
	}
	deps := Deps{Keys: keys, Replay: used, Logger: logger, Now: s.Now, Metrics: in.Registerer()}
	if s.StatusList {
		deps.Status = NewStatusList(db, DefaultStatusListSize, s.Now)
	}
	return NewServer(cfg, deps)
}
