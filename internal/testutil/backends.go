package testutil

import "testing"

// Backend is a database a load benchmark runs a service on: its
// environment, given a fresh PostgreSQL URL maker.
type Backend struct {
	Name string
	Env  func(tb testing.TB) []string
}

// Backends are SQLite (the data directory) and PostgreSQL (postgres
// returns a fresh database URL, skipping without a server).
func Backends(postgres func(testing.TB) string) []Backend {
	return []Backend{
		{"SQLite", func(tb testing.TB) []string { return []string{"DATA_DIR=" + tb.TempDir()} }},
		{"Postgres", func(tb testing.TB) []string {
			return []string{"DATA_DIR=" + tb.TempDir(), "DATABASE_URL=" + postgres(tb)}
		}},
	}
}
