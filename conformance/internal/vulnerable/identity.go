package vulnerable

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// IdentityFlaw is one check an identity service leaves out.
type IdentityFlaw string

// The identity flaws, each named after what the service wrongly does.
const (
	CorrectIdentity        IdentityFlaw = ""
	SkipsClientAuth        IdentityFlaw = "issues tokens without client authentication"
	AcceptsAnySecret       IdentityFlaw = "accepts any secret for a known client"
	HonorsRequestedSub     IdentityFlaw = "puts the requested sub in the token"
	HonorsFormSub          IdentityFlaw = "puts a sub form parameter in the token"
	IssuesAnyAudience      IdentityFlaw = "issues tokens for any audience"
	AudienceFoldedAtIssuer IdentityFlaw = "takes an audience that matches an allowed one ignoring case and spaces"
	TypJWT                 IdentityFlaw = "types access tokens JWT"
	RepeatsJTI             IdentityFlaw = "gives every token the same jti"
	ServesPrivateKey       IdentityFlaw = "publishes the private key in its JWKS"
	MetadataForOtherIssuer IdentityFlaw = "serves metadata naming another issuer"
	WrongErrorForGrant     IdentityFlaw = "answers an unsupported grant with invalid_request"
	NoRateLimit            IdentityFlaw = "never slows down failed authentication"
	LocksOutByClaimedID    IdentityFlaw = "locks a client out after anyone's failures under its id"
	ExemptsKnownSources    IdentityFlaw = "lets a client through a lockout only from an address it succeeded from before"
	IgnoresDPoPProof       IdentityFlaw = "advertises DPoP but issues bearer tokens"
	NoDPoPReplayCheck      IdentityFlaw = "accepts a DPoP proof twice"

	ExchangeSubIsActor        IdentityFlaw = "puts the actor in an exchanged token's sub"
	ExchangeNoAct             IdentityFlaw = "issues exchanged tokens without act"
	ExchangeOutlivesSubject   IdentityFlaw = "gives exchanged tokens a lifetime of their own"
	ExchangesAnyAudienceToken IdentityFlaw = "exchanges subject tokens issued for any service"
	ExchangesExpired          IdentityFlaw = "exchanges expired subject tokens"
	ExchangesUnverified       IdentityFlaw = "exchanges subject tokens without verifying them"
	ExchangesTwice            IdentityFlaw = "exchanges a subject token more than once"
	WidensScope               IdentityFlaw = "grants any scope an exchange asks for"
	NoExchangePolicy          IdentityFlaw = "lets any client exchange"
	ExchangesForAnyAudience   IdentityFlaw = "exchanges toward any audience"
	IgnoresActorToken         IdentityFlaw = "ignores actor_token"

	StatusListWrongSub       IdentityFlaw = "signs its status list for another URI"
	StatusListUnpublishedKey IdentityFlaw = "signs its status list with a key it does not publish"
	StatusListSharedIndex    IdentityFlaw = "gives every token the same status entry"
	StatusRevokeNotPublished IdentityFlaw = "acknowledges revocations its list never shows"
)

// IdentityCatches maps each identity flaw to the cases that must fail.
var IdentityCatches = map[IdentityFlaw][]string{
	SkipsClientAuth:        {"IDP-01"},
	AcceptsAnySecret:       {"IDP-02"},
	HonorsRequestedSub:     {"IDP-03"},
	HonorsFormSub:          {"IDP-03"},
	IssuesAnyAudience:      {"IDP-04", "IDP-14"},
	AudienceFoldedAtIssuer: {"IDP-14"},
	TypJWT:                 {"IDP-05"},
	RepeatsJTI:             {"IDP-06", "XCH-05"}, // its exchanges are once per jti: the first has used it up
	ServesPrivateKey:       {"IDP-07"},
	MetadataForOtherIssuer: {"IDP-08"},
	WrongErrorForGrant:     {"IDP-09"},
	NoRateLimit:            {"IDP-10"},
	LocksOutByClaimedID:    {"IDP-11"},
	ExemptsKnownSources:    {"IDP-11"},
	IgnoresDPoPProof:       {"IDP-12", "IDP-13"}, // ignoring proofs, it cannot refuse a replayed one
	NoDPoPReplayCheck:      {"IDP-13"},

	ExchangeSubIsActor:        {"XCH-01"},
	ExchangeNoAct:             {"XCH-01"},
	ExchangeOutlivesSubject:   {"XCH-01"},
	ExchangesAnyAudienceToken: {"XCH-02"},
	ExchangesExpired:          {"XCH-03"},
	ExchangesUnverified:       {"XCH-04"},
	ExchangesTwice:            {"XCH-05"},
	WidensScope:               {"XCH-06"},
	NoExchangePolicy:          {"XCH-07"},
	ExchangesForAnyAudience:   {"XCH-08"},
	IgnoresActorToken:         {"XCH-09"},

	StatusListWrongSub:       {"XSL-01", "XSL-03"},
	StatusListUnpublishedKey: {"XSL-01", "XSL-03"},
	StatusListSharedIndex:    {"XSL-02"},
	StatusRevokeNotPublished: {"XSL-03"},
}

// IdentityConfig configures an identity service. Clients maps client ids
// to secrets; each may get tokens for Audiences only.
type IdentityConfig struct {
	Issuer    string
	Clients   map[string]string
	Audiences []string
	Flaw      IdentityFlaw
	// Exchange, if set, serves (and advertises) token exchange.
	Exchange *ExchangeConfig
	// StatusList gives every token a status list entry, and serves the
	// list and a revocation endpoint.
	StatusList bool
}

type identity struct {
	cfg    IdentityConfig
	key    ed25519.PrivateKey
	kid    string
	mu     sync.Mutex
	fail   map[string][]time.Time // limiter key → failure times in the last minute
	good   map[string]bool        // source+client that proved the secret
	proofs map[string]bool        // DPoP proof jtis seen
	// exchanged are the subject token jtis exchanged.
	exchanged map[string]bool
	// The status list: each token's entry, the next one, those revoked.
	indexOf   map[string]int
	nextIndex int
	revoked   map[int]bool
}

// NewIdentity returns an identity service with cfg.Flaw.
func NewIdentity(cfg IdentityConfig) http.Handler {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	id := &identity{cfg: cfg, key: key, kid: "vulnerable-identity-key", fail: map[string][]time.Time{}, good: map[string]bool{}, proofs: map[string]bool{},
		exchanged: map[string]bool{}, indexOf: map[string]int{}, revoked: map[int]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", id.handleMetadata)
	mux.HandleFunc("GET /.well-known/jwks.json", id.handleJWKS)
	mux.HandleFunc("POST /oauth2/token", id.handleToken)
	if cfg.StatusList {
		mux.HandleFunc("GET "+identityListPath, id.handleStatusList)
		mux.HandleFunc("POST /admin/revoke", id.handleRevoke)
	}
	return mux
}

func (id *identity) has(f IdentityFlaw) bool { return id.cfg.Flaw == f }

func (id *identity) handleMetadata(w http.ResponseWriter, _ *http.Request) {
	issuer := id.cfg.Issuer
	if id.has(MetadataForOtherIssuer) {
		issuer += "/other"
	}
	grants := []string{"client_credentials"}
	if id.cfg.Exchange != nil {
		grants = append(grants, tokenExchangeGrant)
	}
	writeJSONBody(w, http.StatusOK, map[string]any{"issuer": issuer,
		"token_endpoint": id.cfg.Issuer + "/oauth2/token", "jwks_uri": id.cfg.Issuer + "/.well-known/jwks.json",
		"dpop_signing_alg_values_supported": []string{"EdDSA", "ES256"}, "grant_types_supported": grants})
}

func (id *identity) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	b64 := base64.RawURLEncoding.EncodeToString
	k := map[string]any{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": id.kid, "x": b64(id.key.Public().(ed25519.PublicKey))}
	if id.has(ServesPrivateKey) {
		k["d"] = b64(id.key.Seed())
	}
	writeJSONBody(w, http.StatusOK, map[string]any{"keys": []any{k}})
}

func (id *identity) handleToken(w http.ResponseWriter, r *http.Request) {
	var grant, aud, sub string
	honoursSub := false // whether a requested sub goes into the token
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var body struct{ Sub, Aud string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		grant, aud, sub = "client_credentials", body.Aud, body.Sub
		honoursSub = id.has(HonorsRequestedSub)
	} else {
		_ = r.ParseForm()
		grant, aud = r.PostForm.Get("grant_type"), r.PostForm.Get("audience")
		if grant == tokenExchangeGrant && id.cfg.Exchange != nil {
			id.handleExchange(w, r)
			return
		}
		if id.has(HonorsFormSub) {
			sub, honoursSub = r.PostForm.Get("sub"), true
		}
	}
	if grant != "client_credentials" {
		code := "unsupported_grant_type"
		if id.has(WrongErrorForGrant) {
			code = "invalid_request"
		}
		writeJSONBody(w, http.StatusBadRequest, map[string]string{"error": code})
		return
	}
	client, status := id.authenticate(r)
	if status != 0 {
		writeJSONBody(w, status, map[string]string{"error": "invalid_client"})
		return
	}
	folded := slices.ContainsFunc(id.cfg.Audiences, func(a string) bool { return strings.EqualFold(a, strings.TrimSpace(aud)) })
	if !slices.Contains(id.cfg.Audiences, aud) && !id.has(IssuesAnyAudience) && !(folded && id.has(AudienceFoldedAtIssuer)) {
		writeJSONBody(w, http.StatusBadRequest, map[string]string{"error": "invalid_target"})
		return
	}
	if sub != "" && sub != client && !honoursSub {
		writeJSONBody(w, http.StatusForbidden, map[string]string{"error": "unauthorized_client"})
		return
	}
	if sub == "" {
		sub = client
	}
	jkt, ok := id.proofKey(r)
	if !ok {
		writeJSONBody(w, http.StatusBadRequest, map[string]string{"error": "invalid_dpop_proof"})
		return
	}
	now := time.Now()
	jti := newJTI(now)
	if id.has(RepeatsJTI) {
		jti = "the-only-jti"
	}
	lifetime := 5 * time.Minute
	if secs, err := strconv.Atoi(r.PostForm.Get("expires_in")); err == nil && secs > 0 && secs < 300 {
		lifetime = time.Duration(secs) * time.Second
	}
	claims := jwt.MapClaims{"iss": id.cfg.Issuer, "sub": sub, "aud": aud,
		"iat": now.Unix(), "exp": now.Add(lifetime).Unix(), "jti": jti, "client_id": client}
	if id.cfg.StatusList {
		claims["status"] = id.statusFor(jti)
	}
	tokenType := "Bearer"
	if jkt != "" {
		claims["cnf"], tokenType = map[string]string{"jkt": jkt}, "DPoP"
	}
	raw := id.sign(claims)
	writeJSONBody(w, http.StatusOK, map[string]any{"access_token": raw, "token_type": tokenType, "expires_in": int(lifetime / time.Second)})
}

func (id *identity) sign(claims jwt.MapClaims) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"], tok.Header["typ"] = id.kid, "at+jwt"
	if id.has(TypJWT) {
		tok.Header["typ"] = "JWT"
	}
	raw, _ := tok.SignedString(id.key)
	return raw
}

// newJTI is unique per token: the time, and a random part for tokens of
// the same nanosecond.
func newJTI(now time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%d-%x", now.UnixNano(), b)
}

// authenticate returns the client, or the status to refuse with. A
// correct secret always passes; failures count per source address and
// client id, and past five in a minute are answered 429.
// LocksOutByClaimedID keys the failures on the id alone and checks them
// before the secret; ExemptsKnownSources checks them before the secret too,
// except for a source that proved the secret before (this project's
// Identity until it checked the secret first).
func (id *identity) authenticate(r *http.Request) (string, int) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		if id.has(SkipsClientAuth) {
			for c := range id.cfg.Clients {
				return c, 0
			}
		}
		return "", http.StatusUnauthorized
	}
	source, _, _ := net.SplitHostPort(r.RemoteAddr)
	key := source + "\x00" + user
	if id.has(LocksOutByClaimedID) {
		key = user
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	recent := slices.DeleteFunc(id.fail[key], func(t time.Time) bool { return time.Since(t) > time.Minute })
	id.fail[key] = recent
	lockedOut := len(recent) >= 5 && !id.has(NoRateLimit)
	checkedFirst := id.has(LocksOutByClaimedID) || (id.has(ExemptsKnownSources) && !id.good[source+"\x00"+user])
	if lockedOut && checkedFirst {
		return "", http.StatusTooManyRequests
	}
	secret, known := id.cfg.Clients[user]
	if !known || (pass != secret && !id.has(AcceptsAnySecret)) {
		id.fail[key] = append(recent, time.Now())
		if lockedOut {
			return "", http.StatusTooManyRequests
		}
		return "", http.StatusUnauthorized
	}
	id.good[source+"\x00"+user] = true
	return user, 0
}

func writeJSONBody(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// proofKey returns the thumbprint of a DPoP proof's key, "" without a
// proof, and false for a bad or replayed proof. It checks only what the
// issuer profile needs: the signature by the jwk, and the jti once.
func (id *identity) proofKey(r *http.Request) (string, bool) {
	proof := r.Header.Get("DPoP")
	if proof == "" || id.has(IgnoresDPoPProof) {
		return "", true
	}
	var claims struct {
		ID string `json:"jti"`
		jwt.RegisteredClaims
	}
	var key jwk.Key
	_, err := jwt.ParseWithClaims(proof, &claims, func(t *jwt.Token) (any, error) {
		raw, _ := json.Marshal(t.Header["jwk"])
		if err := json.Unmarshal(raw, &key); err != nil {
			return nil, err
		}
		return key.Public, nil
	}, jwt.WithValidMethods([]string{"EdDSA", "ES256"}))
	if err != nil {
		return "", false
	}
	id.mu.Lock()
	seen := id.proofs[claims.ID]
	id.proofs[claims.ID] = true
	id.mu.Unlock()
	if seen && !id.has(NoDPoPReplayCheck) {
		return "", false
	}
	jkt, err := jwk.Thumbprint(key.Public)
	return jkt, err == nil
}
