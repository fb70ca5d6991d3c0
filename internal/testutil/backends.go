package testutil

import (
	"testing"

	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
)

// Backend is a database a load benchmark runs a service on: its
// environment, given a fresh PostgreSQL URL maker.
type Backend struct {
	Name string
	Env  func(tb testing.TB) []string
}

// Backends are SQLite (the data directory) and PostgreSQL (a fresh
// database; skipped without a server, as dbtest.Postgres says).
func Backends() []Backend {
	return []Backend{
		{"SQLite", func(tb testing.TB) []string { return []string{"DATA_DIR=" + tb.TempDir()} }},
		{"Postgres", func(tb testing.TB) []string {
			return []string{"DATA_DIR=" + tb.TempDir(), "DATABASE_URL=" + dbtest.Postgres(tb)}
		}},
	}
}
