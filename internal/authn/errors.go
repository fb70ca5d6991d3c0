package authn

import "errors"

// Sentinel errors returned (wrapped) by Verifier.Verify and the middleware.
// Branch on them with errors.Is; their text is for logs, never for clients.
var (
	ErrNoToken           = errors.New("authn: no bearer token")
	ErrTokenTooLarge     = errors.New("authn: token too large")
	ErrMalformed         = errors.New("authn: malformed token")
	ErrDuplicateMember   = errors.New("authn: duplicate JSON member")
	ErrAlgorithm         = errors.New("authn: algorithm not allowed")
	ErrAlgorithmMismatch = errors.New("authn: algorithm does not match key")
	ErrType              = errors.New("authn: wrong token type")
	ErrCritical          = errors.New("authn: unsupported critical header")
	ErrEmbeddedKey       = errors.New("authn: embedded or remote key reference in header")
	ErrNoKeyID           = errors.New("authn: no key id")
	ErrUnknownKey        = errors.New("authn: unknown key id")
	ErrSignature         = errors.New("authn: invalid signature")
	ErrIssuer            = errors.New("authn: untrusted issuer")
	ErrAudience          = errors.New("authn: wrong audience")
	ErrExpired           = errors.New("authn: token expired")
	ErrNoExpiry          = errors.New("authn: no expiry")
	ErrNotYetValid       = errors.New("authn: token not valid yet")
	ErrIssuedInFuture    = errors.New("authn: token issued in the future")
	ErrNoSubject         = errors.New("authn: no subject")
	ErrNoTokenID         = errors.New("authn: no token id")
	ErrReplayed          = errors.New("authn: token already used")
	ErrInsufficientScope = errors.New("authn: insufficient scope")
	ErrKeySetUnavailable = errors.New("authn: key set unavailable")

	// DPoP (RFC 9449).
	ErrDPoPProof    = errors.New("authn: invalid DPoP proof")
	ErrDPoPBinding  = errors.New("authn: DPoP proof key is not the key the token is bound to")
	ErrDPoPReplayed = errors.New("authn: DPoP proof already used")
	ErrDPoPRequired = errors.New("authn: DPoP-bound token presented without a DPoP proof")
	ErrDPoPOnly     = errors.New("authn: this service accepts DPoP-bound tokens only")
	ErrDPoPNonce    = errors.New("authn: DPoP proof lacks the server's current nonce")
)
