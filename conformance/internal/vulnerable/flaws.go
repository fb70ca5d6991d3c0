package vulnerable

// Flaw is one check left out.
type Flaw string

// The flaws, each named after what the server wrongly does.
const (
	Correct                  Flaw = ""
	AcceptsAlgNone           Flaw = "accepts alg none"
	AcceptsNoneAnyCase       Flaw = "accepts alg none in any letter case"
	SkipsSignature           Flaw = "decodes without verifying the signature"
	HMACWithPublicKey        Flaw = "verifies HS256 with the public key (key confusion)"
	ECDSAZeroAccepted        Flaw = "accepts ECDSA r=s=0"
	KidAsFilePath            Flaw = "reads the HMAC key from the file kid names"
	TrustsEmbeddedJWK        Flaw = "trusts the jwk header"
	FetchesJKU               Flaw = "fetches jku"
	FetchesX5U               Flaw = "fetches x5u"
	TrustsX5C                Flaw = "trusts the x5c header"
	TriesAllKeysWithoutKid   Flaw = "tries every key when kid is missing"
	RefetchesJWKSAlways      Flaw = "refetches the JWKS on every unknown kid"
	SkipsAudience            Flaw = "does not check aud"
	AudiencePrefix           Flaw = "matches aud by prefix"
	AudienceContains         Flaw = "matches aud by substring"
	AudienceCaseInsensitive  Flaw = "compares aud ignoring case"
	AudienceTrimmed          Flaw = "trims aud before comparing"
	AudienceStringified      Flaw = "stringifies aud members"
	SkipsIssuer              Flaw = "does not check iss"
	IssuerCaseInsensitive    Flaw = "compares iss ignoring case"
	IssuerTrailingSlash      Flaw = "ignores a trailing slash in iss"
	SkipsExpiry              Flaw = "does not check exp"
	ExpiryOptional           Flaw = "accepts tokens without exp"
	HugeLeeway               Flaw = "allows an hour of clock skew"
	SkipsNotBefore           Flaw = "does not check nbf"
	SkipsIssuedAt            Flaw = "does not check iat"
	LenientNumbers           Flaw = "reads numeric strings as NumericDate"
	SkipsType                Flaw = "accepts any typ"
	TypeOptional             Flaw = "accepts a missing typ"
	IgnoresCrit              Flaw = "ignores crit"
	SkipsSubject             Flaw = "accepts tokens without sub"
	FirstDuplicateWins       Flaw = "takes the first of duplicate members"
	NoReplayCheck            Flaw = "does not remember jti"
	RacyReplay               Flaw = "checks and stores jti in two steps"
	NoChallenge              Flaw = "answers 401 without WWW-Authenticate"
	ServerErrorOnGarbage     Flaw = "answers 500 to tokens it cannot split"
	AcceptsJSONSerialization Flaw = "accepts JWS JSON serialization"
	TokenInQuery             Flaw = "reads access_token from the query"
	NoSizeLimit              Flaw = "has no token size limit"
	LaxBase64                Flaw = "accepts padded base64"
	DiscoversKeysFromIss     Flaw = "trusts any iss and fetches its JWKS"
	AudienceIsPrefixOfOwn    Flaw = "accepts an aud its own name starts with"
	TreatsBadExpAsAbsent     Flaw = "ignores an exp it cannot parse"
	HS256DevSecret           Flaw = "also accepts HS256 with a default secret"
	UnwrapsNestedJWT         Flaw = "unwraps cty JWT and trusts the inner token"
	InflatesZip              Flaw = "inflates a zip payload"
	AlgorithmFromKey         Flaw = "verifies with the key's algorithm, whatever alg says"
	PolyglotReadsUnsigned    Flaw = "verifies a JSON JWS but reads claims from a compact-shaped member"
	NoTokenIs400             Flaw = "answers a missing token with 400"
	ChallengeWithoutCode     Flaw = "sends a Bearer challenge without an error code for bad tokens"
	IgnoresKeyUse            Flaw = "verifies with keys marked use: enc"
	IgnoresKeyOps            Flaw = "verifies with keys whose key_ops lack verify"
	RequiresUse              Flaw = "refuses keys published without use"
	NotBeforeFiveMinutes     Flaw = "allows nbf five minutes ahead"
	ZeroExpMeansNoExp        Flaw = "reads an exp of 0 or less as no expiry"
	RefetchesEveryFiveMin    Flaw = "refetches the JWKS at most every five minutes, unknown kid or not"
	ReplicaMemoryNotShared   Flaw = "runs replicas that each remember only their own used jtis"
	ForgetsOnRestart         Flaw = "keeps used jtis in memory only"
	DPoPProofOptional        Flaw = "accepts the DPoP scheme without a proof"
	DPoPBearerAllowed        Flaw = "accepts a DPoP-bound token as a bearer token"
	DPoPIgnoresBinding       Flaw = "does not compare the proof key with cnf.jkt"
	DPoPIgnoresHTM           Flaw = "does not check a proof's htm"
	DPoPIgnoresHTU           Flaw = "does not check a proof's htu"
	DPoPNoMaxAge             Flaw = "accepts proofs of any age"
	DPoPAcceptsFutureIAT     Flaw = "accepts proofs issued in the future"
	DPoPNoProofReplayCheck   Flaw = "does not remember proof jtis"
	DPoPATHOptional          Flaw = "accepts proofs without ath"
	DPoPIgnoresATH           Flaw = "does not compare ath with the token"
	DPoPAcceptsNone          Flaw = "accepts unsigned proofs"
	DPoPAcceptsHS256         Flaw = "accepts HS256 proofs unchecked"
	DPoPAcceptsPrivateJWK    Flaw = "accepts a proof jwk with private members"
	DPoPIgnoresTyp           Flaw = "accepts proofs of any typ"

	NoLifetimeBound             Flaw = "accepts an exp any distance ahead"
	IssuerTrimmed               Flaw = "trims iss before comparing"
	IssuerInArray               Flaw = "accepts an iss array that holds the issuer"
	IssuerSubstring             Flaw = "accepts an iss the expected issuer contains"
	IssuerPrefix                Flaw = "matches iss by prefix"
	SkipsNonAlphabet            Flaw = "skips characters outside base64url in the signature"
	IgnoresScope                Flaw = "checks no scope"
	ScopePrefix                 Flaw = "matches scopes by prefix"
	ScopeSubstring              Flaw = "looks for the scope anywhere in the scope string"
	ScopeExactString            Flaw = "wants the scope string to be the needed scope alone"
	ReadsSCP                    Flaw = "reads scp where scope is absent"
	SkipsBadNotBefore           Flaw = "skips an nbf that is not a number"
	SkipsBadIssuedAt            Flaw = "skips an iat that is not a number"
	TruncatesLongSignature      Flaw = "verifies the first bytes of a signature longer than its algorithm's"
	FirstAuthorizationWins      Flaw = "reads the first of several Authorization headers"
	RecursesIntoClaims          Flaw = "parses claims by recursion, and crashes a thousand levels deep"
	DPoPClaimsOptional          Flaw = "checks a proof's jti, htm, htu and iat only when present"
	DPoPSkipsProofSignature     Flaw = "does not verify a proof's signature"
	DPoPFirstHeaderWins         Flaw = "reads the first of several DPoP headers"
	DPoPHTUExact                Flaw = "compares htu with the request URL as strings"
	DPoPNonceAnyValue           Flaw = "demands a DPoP nonce but takes any value"
	SPIFFEIDLax                 Flaw = "parses SPIFFE IDs with net/url and case folding"
	SVIDAnyTrustDomain          Flaw = "accepts a SPIFFE ID of any trust domain its bundle signs"
	SVIDManyAudiences           Flaw = "accepts JWT-SVIDs for several audiences"
	SVIDExtraHeader             Flaw = "accepts JWT-SVIDs with header parameters beyond alg, kid, typ"
	SVIDAnyAlgorithm            Flaw = "accepts EdDSA JWT-SVIDs"
	ComparesAccountNameOnly     Flaw = "compares the service account's name, not its namespace"
	ComparesNamespaceOnly       Flaw = "compares the service account's namespace only"
	AcceptsLegacyServiceAccount Flaw = "accepts legacy secret-based service-account tokens"

	RefusesDelegation    Flaw = "refuses every delegated token"
	ChecksEveryActor     Flaw = "requires every actor of the chain to be accepted"
	ActorPrefix          Flaw = "matches the actor by prefix"
	AcceptsAnyActor      Flaw = "accepts any actor"
	ActStringAsActor     Flaw = "reads a string act as the actor"
	IgnoresActWithoutSub Flaw = "treats an act without a string sub as no act"
	ChecksAnyActor       Flaw = "accepts a chain when any of its actors is accepted"
	ReadsMayAct          Flaw = "takes the actor from may_act when present"
	NoChainBound         Flaw = "accepts act nested to any depth"

	StatusRefusesAll         Flaw = "refuses every token with a status entry"
	StatusNeverRefetched     Flaw = "caches a status list for ever"
	StatusIgnoresSuspended   Flaw = "refuses only revoked entries, not suspended ones"
	StatusFetchesAnyURI      Flaw = "fetches the status list wherever a token says"
	StatusSkipsListSignature Flaw = "does not verify a status list's signature"
	StatusSkipsListSub       Flaw = "does not compare a status list's sub with its URI"
	StatusSkipsListExp       Flaw = "accepts expired status lists"
	StatusOutOfRangeValid    Flaw = "reads an index past the list as valid"
)

// Catches maps each flaw to the suite cases that must fail because of it.
var Catches = map[Flaw][]string{
	AcceptsAlgNone:           {"SIG-01"},
	AcceptsNoneAnyCase:       {"SIG-01", "SIG-02", "SIG-03", "SIG-04"},
	SkipsSignature:           {"SIG-05", "SIG-06", "SIG-07", "SIG-10"},
	HMACWithPublicKey:        {"SIG-08"},
	ECDSAZeroAccepted:        {"SIG-09"},
	KidAsFilePath:            {"KEY-07"},
	TrustsEmbeddedJWK:        {"KEY-01", "KEY-02"},
	FetchesJKU:               {"KEY-03"},
	FetchesX5U:               {"KEY-04"},
	TrustsX5C:                {"KEY-05"},
	TriesAllKeysWithoutKid:   {"KEY-06"},
	RefetchesJWKSAlways:      {"KEY-08"},
	SkipsAudience:            {"M-01", "M-03", "AUD-01", "AUD-02", "AUD-03", "AUD-04"},
	AudiencePrefix:           {"AUD-06"},
	AudienceContains:         {"AUD-06", "AUD-07"},
	AudienceCaseInsensitive:  {"AUD-05"},
	AudienceTrimmed:          {"AUD-11"},
	AudienceStringified:      {"AUD-10"},
	SkipsIssuer:              {"M-04", "ISS-01", "ISS-02", "ISS-03"},
	IssuerCaseInsensitive:    {"ISS-02"},
	IssuerTrailingSlash:      {"ISS-03"},
	SkipsExpiry:              {"M-02", "TIME-02"},
	ExpiryOptional:           {"TIME-01"},
	HugeLeeway:               {"M-02", "TIME-02"},
	SkipsNotBefore:           {"TIME-05"},
	SkipsIssuedAt:            {"TIME-06"},
	LenientNumbers:           {"TIME-04"},
	SkipsType:                {"HDR-01"},
	TypeOptional:             {"HDR-02"},
	IgnoresCrit:              {"HDR-03"},
	SkipsSubject:             {"SUB-01", "SUB-02"},
	FirstDuplicateWins:       {"FMT-05"},
	NoReplayCheck:            {"RPL-01", "RPL-02"},
	RacyReplay:               {"RPL-02"},
	NoChallenge:              {"FMT-14"},
	ServerErrorOnGarbage:     {"FMT-10"},
	AcceptsJSONSerialization: {"FMT-06"},
	TokenInQuery:             {"FMT-13"},
	NoSizeLimit:              {"FMT-02"},
	LaxBase64:                {"FMT-04"},
	DiscoversKeysFromIss:     {"ISS-05"},
	AudienceIsPrefixOfOwn:    {"AUD-08"},
	TreatsBadExpAsAbsent:     {"TIME-03", "TIME-07"},
	HS256DevSecret:           {"SIG-12"},
	UnwrapsNestedJWT:         {"HDR-05"},
	InflatesZip:              {"HDR-06"},
	AlgorithmFromKey:         {"SIG-13"},
	PolyglotReadsUnsigned:    {"FMT-07"},
	NoTokenIs400:             {"FMT-08"},
	ChallengeWithoutCode:     {"FMT-14"},
	IgnoresKeyUse:            {"KEY-09"},
	IgnoresKeyOps:            {"KEY-10"},
	RequiresUse:              {"CTRL-09"},
	NotBeforeFiveMinutes:     {"TIME-08"},
	ZeroExpMeansNoExp:        {"TIME-09"},
	RefetchesEveryFiveMin:    {"KEY-11"},
	ReplicaMemoryNotShared:   {"RPL-03"},
	ForgetsOnRestart:         {"RPL-04"},
	DPoPProofOptional:        {"DPOP-02"},
	DPoPBearerAllowed:        {"DPOP-03"},
	DPoPIgnoresBinding:       {"DPOP-04"},
	DPoPIgnoresHTM:           {"DPOP-05"},
	DPoPIgnoresHTU:           {"DPOP-06"},
	DPoPNoMaxAge:             {"DPOP-07"},
	DPoPAcceptsFutureIAT:     {"DPOP-08"},
	DPoPNoProofReplayCheck:   {"DPOP-09"},
	DPoPATHOptional:          {"DPOP-10"},
	DPoPIgnoresATH:           {"DPOP-11"},
	DPoPAcceptsNone:          {"DPOP-12"},
	DPoPAcceptsHS256:         {"DPOP-13"},
	DPoPAcceptsPrivateJWK:    {"DPOP-14"},
	DPoPIgnoresTyp:           {"DPOP-15"},
	NoLifetimeBound:          {"TIME-10"},
	IssuerTrimmed:            {"ISS-06"},
	IssuerInArray:            {"ISS-07"},
	IssuerSubstring:          {"ISS-08"},
	IssuerPrefix:             {"ISS-09"},
	SkipsNonAlphabet:         {"FMT-15"},
	IgnoresScope:             {"SCOPE-02", "SCOPE-03", "SCOPE-04", "SCOPE-05", "SCOPE-06"},
	ScopePrefix:              {"SCOPE-04"},
	ScopeSubstring:           {"SCOPE-04", "SCOPE-05"},
	ScopeExactString:         {"SCOPE-01"},
	ReadsSCP:                 {"SCOPE-06"},
	SkipsBadNotBefore:        {"TIME-11"},
	SkipsBadIssuedAt:         {"TIME-12"},
	TruncatesLongSignature:   {"SIG-14"},
	FirstAuthorizationWins:   {"FMT-16"},
	RecursesIntoClaims:       {"FMT-17"},
	DPoPClaimsOptional:       {"DPOP-16"},
	DPoPSkipsProofSignature:  {"DPOP-17"},
	DPoPFirstHeaderWins:      {"DPOP-18"},
	DPoPHTUExact:             {"DPOP-19"},
	DPoPNonceAnyValue:        {"DPOP-20"},
	RefusesDelegation:        {"ACT-01", "ACT-02"},
	ChecksEveryActor:         {"ACT-02"},
	ActorPrefix:              {"ACT-03"},
	AcceptsAnyActor:          {"ACT-03", "ACT-06", "ACT-07"},
	ActStringAsActor:         {"ACT-04"},
	IgnoresActWithoutSub:     {"ACT-05"},
	ChecksAnyActor:           {"ACT-06"},
	ReadsMayAct:              {"ACT-07"},
	NoChainBound:             {"ACT-08"},
	StatusRefusesAll:         {"STL-01", "STL-02"},
	StatusNeverRefetched:     {"STL-02"},
	StatusIgnoresSuspended:   {"STL-03"},
	StatusFetchesAnyURI:      {"STL-04"},
	StatusSkipsListSignature: {"STL-05"},
	StatusSkipsListSub:       {"STL-06"},
	StatusSkipsListExp:       {"STL-07"},
	StatusOutOfRangeValid:    {"STL-08"},
}

// ProfileCatches are the flaws of a profile's verifier: each runs against
// a server of that profile (ProfileOf).
var ProfileCatches = map[Flaw][]string{
	SPIFFEIDLax:                 {"SVID-01", "SVID-03", "SVID-04", "SVID-05", "SVID-06", "SVID-07", "SVID-08", "SVID-09", "SVID-10", "SVID-11"},
	SVIDAnyTrustDomain:          {"SVID-02"},
	SVIDManyAudiences:           {"SVID-12"},
	SVIDExtraHeader:             {"SVID-13"},
	SVIDAnyAlgorithm:            {"SVID-14"},
	ComparesAccountNameOnly:     {"K8S-01"},
	ComparesNamespaceOnly:       {"K8S-02"},
	AcceptsLegacyServiceAccount: {"K8S-03"},
}

// ProfileOf is the profile a profile flaw's server verifies.
func ProfileOf(f Flaw) string {
	switch f {
	case ComparesAccountNameOnly, ComparesNamespaceOnly, AcceptsLegacyServiceAccount:
		return ProfileKubernetes
	}
	return ProfileJWTSVID
}
