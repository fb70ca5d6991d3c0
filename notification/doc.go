// Package notification is a resource server whose every token is
// single-use: a token's jti is spent in the same transaction that stores
// its notification, so a replayed request is refused and a refused one
// stores nothing. Each notification's audit entry goes to Logging from a
// durable outbox, with Notification's own token (sub notification-backend),
// at least once, across restarts and outages.
//
// The HTTP contract is in docs/contract.md; the binary is cmd/notification.
package notification
