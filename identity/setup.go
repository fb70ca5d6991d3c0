package identity

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/replay"
	"github.com/s2sjwt/s2sjwt/internal/runner"
	"github.com/s2sjwt/s2sjwt/internal/sqlitedb"
)

// Setup is the identity binary's configuration (flags and environment).
type Setup struct {
	Issuer            string
	RegistryPath      string
	Registry          *Registry // used instead of RegistryPath when set
	DataDir           string
	Algorithm         string
	RotationInterval  time.Duration
	PublishLead       time.Duration
	Leeway            time.Duration
	AdminSecretSHA256 string
	DPoPNonce         bool
	Now               func() time.Time
}

// Flags implements runner.Service.
func (s *Setup) Flags(fs *flag.FlagSet, env runner.Env) {
	runner.StringFlag(fs, env, &s.Issuer, "issuer", "IDENTITY_ISSUER", "http://127.0.0.1:9001", "issuer identifier and base URL")
	runner.StringFlag(fs, env, &s.RegistryPath, "registry", "IDENTITY_REGISTRY", "deploy/registry.json", "client registry file (docs/registry.md)")
	runner.StringFlag(fs, env, &s.DataDir, "data", "DATA_DIR", "data/identity", "directory for signing keys and used assertion ids")
	runner.StringFlag(fs, env, &s.Algorithm, "alg", "IDENTITY_ALG", "EdDSA", "signing algorithm for new keys: EdDSA, ES256 or RS256")
	runner.DurationFlag(fs, env, &s.RotationInterval, "rotation-interval", "IDENTITY_ROTATION_INTERVAL", 24*time.Hour, "signing key lifetime")
	runner.DurationFlag(fs, env, &s.PublishLead, "publish-lead", "IDENTITY_PUBLISH_LEAD", 2*authn.DefaultMinRefreshInterval, "how long a new key is published before it signs")
	runner.DurationFlag(fs, env, &s.Leeway, "leeway", "LEEWAY", authn.DefaultLeeway, "clock-skew leeway for client assertions")
	runner.StringFlag(fs, env, &s.AdminSecretSHA256, "admin-secret-sha256", "IDENTITY_ADMIN_SECRET_SHA256", "", "enables POST /admin/rotate-keys for this secret's hash")
	fs.BoolVar(&s.DPoPNonce, "dpop-nonce", env("IDENTITY_DPOP_NONCE", "") == "true", "require server-provided nonces in DPoP proofs (env IDENTITY_DPOP_NONCE=true)")
}

// Open implements runner.Service.
func (s *Setup) Open(_ context.Context, logger *slog.Logger) (http.Handler, io.Closer, error) {
	reg := s.Registry
	if reg == nil {
		var err error
		if reg, err = LoadRegistry(s.RegistryPath); err != nil {
			return nil, nil, err
		}
	}
	keys, err := OpenKeyStore(KeyStoreConfig{
		Path: filepath.Join(s.DataDir, "signing-keys.json"), Algorithm: s.Algorithm,
		RotationInterval: s.RotationInterval, PublishLead: s.PublishLead,
		Retain: reg.MaxTTL() + s.Leeway + time.Minute, Now: s.Now,
	})
	if err != nil {
		return nil, nil, err
	}
	db, err := sqlitedb.Open(filepath.Join(s.DataDir, "identity.db"), replay.Schema)
	if err != nil {
		return nil, nil, err
	}
	h, err := NewServer(Config{Issuer: s.Issuer, Registry: reg, Leeway: s.Leeway, AdminSecretSHA256: s.AdminSecretSHA256, DPoPNonce: s.DPoPNonce},
		Deps{Keys: keys, Replay: replay.New(db, s.Now), Logger: logger, Now: s.Now})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return h, db, nil
}
