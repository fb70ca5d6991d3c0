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
	ErrSubject           = errors.New("authn: subject is not an identity of this format")
	ErrHeaderParameter   = errors.New("authn: header parameter the token's format does not allow")
	ErrLifetime          = errors.New("authn: token lives longer than this service accepts")
	ErrNoTokenID         = errors.New("authn: no token id")
	ErrActor             = errors.New("authn: actor not accepted")
	ErrReplayed          = errors.New("authn: token already used")
	ErrInsufficientScope = errors.New("authn: insufficient scope")
	ErrKeySetUnavailable = errors.New("authn: key set unavailable")

	// DPoP (RFC 9449).
	ErrDPoPProof     = errors.New("authn: invalid DPoP proof")
	ErrDPoPBinding   = errors.New("authn: DPoP proof key is not the key the token is bound to")
	ErrDPoPReplayed  = errors.New("authn: DPoP proof already used")
	ErrBoundAsBearer = errors.New("authn: DPoP-bound token presented as a bearer token")
	ErrDPoPRequired  = errors.New("authn: this service accepts DPoP-bound tokens only")
	ErrDPoPNonce     = errors.New("authn: DPoP proof lacks the server's current nonce")
)

// Reason codes: the "reason" member of a refusal's JSON body, one per
// sentinel, so a client can tell one refusal from another by value, never
// by the English of error_description. The set is closed (a metric label
// may use it) and documented in docs/contract.md.
const (
	ReasonReplayed          = "token_replayed"
	ReasonNoToken           = "no_token"
	ReasonInsufficientScope = "insufficient_scope"
	ReasonInvalid           = "invalid_token" // a fault of the token not listed below
)

// refusals are what a client sees of each rejection: its reason code and
// error_description, the class of the fault, never internal detail. Most
// specific first.
var refusals = []struct {
	err          error
	reason, text string
}{
	{ErrNoToken, ReasonNoToken, "bearer token required"},
	{ErrReplayed, ReasonReplayed, "token already used"},
	{ErrInsufficientScope, ReasonInsufficientScope, "token lacks the scope this request needs"},
	{ErrBoundAsBearer, "dpop_bound_as_bearer", "DPoP-bound token presented as a bearer token"},
	{ErrDPoPRequired, "dpop_required", "this service accepts DPoP-bound tokens only"},
	{ErrDPoPBinding, "dpop_wrong_key", "DPoP proof is not signed by the token's key"},
	{ErrDPoPReplayed, "dpop_replayed", "DPoP proof already used"},
	{ErrDPoPProof, "dpop_invalid", "invalid DPoP proof"},
	{ErrWITAsBearer, "wit_as_bearer", "a workload identity token is not a bearer token"},
	{ErrWIMSERequired, "wimse_required", "this service accepts WIMSE workload credentials only (Workload-Identity-Token and Workload-Proof-Token)"},
	{ErrNoWPT, "wpt_missing", "a workload identity token needs its Workload-Proof-Token"},
	{ErrWPTAudience, "wpt_audience", "workload proof token is for another target (aud)"},
	{ErrWPTReplayed, "wpt_replayed", "workload proof token already used"},
	{ErrWPT, "wpt_invalid", "invalid workload proof token"},
	{ErrWorkload, "wit_token_mismatch", "the access token is not the workload's own"},
	{ErrWIT, "wit_invalid", "invalid workload identity token"},
	{ErrTokenTooLarge, "too_large", "token too large"},
	{ErrDuplicateMember, "malformed", "malformed token"},
	{ErrMalformed, "malformed", "malformed token"},
	{ErrAlgorithm, "algorithm", "algorithm not allowed"},
	{ErrAlgorithmMismatch, "algorithm_mismatch", "algorithm does not match key"},
	{ErrType, "type", "wrong token type (typ)"},
	{ErrCritical, "critical_header", "unsupported critical header"},
	{ErrEmbeddedKey, "embedded_key", "key references in the header are not accepted"},
	{ErrNoKeyID, "no_kid", "no key id"},
	{ErrUnknownKey, "unknown_key", "unknown signing key"},
	{ErrSignature, "signature", "invalid signature"},
	{ErrIssuer, "issuer", "untrusted issuer"},
	{ErrAudience, "audience", "token is not for this service (wrong audience)"},
	{ErrNoExpiry, "no_expiry", "token has no expiry"},
	{ErrExpired, "expired", "token expired"},
	{ErrNotYetValid, "not_yet_valid", "token not valid yet"},
	{ErrIssuedInFuture, "issued_in_future", "token issued in the future"},
	{ErrNoSubject, "no_subject", "token has no subject"},
	{ErrSubject, "subject", "subject is not an identity of this token format"},
	{ErrHeaderParameter, "header_parameter", "header parameter not allowed in this token format"},
	{ErrLifetime, "lifetime", "token lives longer than this service accepts"},
	{ErrNoTokenID, "no_jti", "token has no jti"},
	{ErrActor, "actor", "this service does not accept the token's actor (act)"},
	{ErrRevoked, "revoked", "token revoked"},
	{ErrSuspended, "suspended", "token suspended"},
	{ErrStatus, "status", "token status cannot be checked (status list reference)"},
	{ErrStatusUnavailable, "status_unavailable", "token status list unavailable; try again later"},
}

// Describe returns the client-facing description of a rejection.
func Describe(err error) string {
	for _, r := range refusals {
		if errors.Is(err, r.err) {
			return r.text
		}
	}
	return "invalid token"
}

// Reason returns the reason code of a rejection: one of a closed set.
func Reason(err error) string {
	for _, r := range refusals {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return ReasonInvalid
}
