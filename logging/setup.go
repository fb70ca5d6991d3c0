package logging

import (
	"context"
	"flag"
	"io"
	"net/http"
	"path/filepath"

	"github.com/s2sjwt/s2sjwt/internal/groupcommit"
	"github.com/s2sjwt/s2sjwt/internal/replay"
	"github.com/s2sjwt/s2sjwt/internal/runner"
)

// Setup is the logging binary's configuration (flags and environment).
type Setup struct {
	runner.ResourceServer
	Database runner.Database
	DataDir  string
}

// Flags implements runner.Service.
func (s *Setup) Flags(fs *flag.FlagSet, env runner.Env) {
	s.ResourceServer.Flags(fs, env)
	s.Database.Flags(fs, env)
	runner.StringFlag(fs, env, &s.DataDir, "data", "DATA_DIR", "data/logging", "directory for the log database without DATABASE_URL")
}

// Open implements runner.Service.
func (s *Setup) Open(ctx context.Context, in runner.Instance) (http.Handler, io.Closer, error) {
	logger := in.Logger
	v, err := s.Verifier(Audience, in)
	if err != nil {
		return nil, nil, err
	}
	db, err := s.Database.Open(ctx, filepath.Join(s.DataDir, "logging.db"), "logging", Schema, replay.Schema)
	if err != nil {
		return nil, nil, err
	}
	store, err := NewStore(ctx, db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	store.Measure(groupcommit.NewMetrics(in.Registerer()))
	dpop, err := s.DPoPConfig(store.Proofs, in)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	wimse, err := s.WIMSEConfig(store.Proofs, in)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	h, err := NewServer(Deps{Verifier: v, Store: store, DPoP: dpop, WIMSE: wimse, Logger: logger})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return h, store, nil
}
