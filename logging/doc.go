// Package logging is the service every other one writes its audit trail
// to. It accepts only tokens for its own audience (logging-service) from
// its one trusted issuer, and records the caller's verified sub as the
// source of every entry: a body cannot name a source.
//
// Entries are durable before the answer (SQLite or PostgreSQL, with group
// commit), and, with DPoP on, a copied token is useless without its
// holder's key. The HTTP contract is in docs/contract.md; the binary is
// cmd/logging.
package logging
