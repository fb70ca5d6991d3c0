// Package identity is the trust anchor: the service that proves who a
// caller is and issues it signed access tokens (RFC 9068) whose sub is the
// caller and whose aud is the one service the token is for.
//
// Callers authenticate with the client credentials grant (RFC 6749 §4.4),
// by private_key_jwt (RFC 7523) or client_secret_basic; the Registry says
// which audiences and scopes each may get, so adding a service is a
// registry entry, not a code change. Tokens may be bound to the caller's
// key (DPoP, RFC 9449). Signing keys rotate, are published at
// /.well-known/jwks.json before they sign, and are kept, sealed, in the
// database, so replicas share them.
//
//	reg, err := identity.LoadRegistry("deploy/registry.json")
//	used, err := replay.New(ctx, db, nil)
//	h, err := identity.NewServer(identity.Config{Issuer: "http://identity:8080", Registry: reg},
//		identity.Deps{Keys: keys, Replay: used})
//
// The HTTP contract is in docs/contract.md; the binary is cmd/identity.
package identity
