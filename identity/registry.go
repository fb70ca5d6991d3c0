package identity

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// Client authentication methods (RFC 7591 names).
const (
	PrivateKeyJWT     = "private_key_jwt"
	ClientSecretBasic = "client_secret_basic"
)

// Registry says which clients exist, how each proves who it is, and which
// audiences and scopes each may get. It is the whole access policy: adding
// a service is an entry here, not a code change.
type Registry struct {
	// Audiences are the resource servers tokens can be issued for.
	Audiences map[string]Audience `json:"audiences"`
	Clients   []Client            `json:"clients"`
}

// Audience is one resource server.
type Audience struct {
	// MaxTTL caps the lifetime of tokens for this audience.
	MaxTTL Duration `json:"max_ttl"`
	// Scopes this audience understands.
	Scopes []string `json:"scopes"`
	// DPoP "required" issues tokens for this audience only to requests
	// with a DPoP proof (RFC 9449), bound to its key.
	DPoP DPoPMode `json:"dpop,omitempty"`
}

// DPoPMode says whether token requests must prove possession of a key.
// Empty is optional: a request with a proof gets a bound token, one
// without gets a bearer token.
type DPoPMode string

// DPoP modes. Required wins over off when a client and an audience differ.
const (
	DPoPOptional DPoPMode = ""
	DPoPRequired DPoPMode = "required"
	// DPoPOff ignores proofs: tokens are bearer tokens, for resource
	// servers that cannot check proofs.
	DPoPOff DPoPMode = "off"
)

func (m DPoPMode) valid() bool { return m == DPoPOptional || m == DPoPRequired || m == DPoPOff }

// Client is one registered service. Its client_id is also the "sub" of
// every token it gets.
type Client struct {
	ID         string `json:"client_id"`
	AuthMethod string `json:"auth_method"`
	// For private_key_jwt: the client's public keys, inline or by URL.
	JWKS    *jwk.Set `json:"jwks,omitempty"`
	JWKSURI string   `json:"jwks_uri,omitempty"`
	// For client_secret_basic: hex SHA-256 of a generated high-entropy
	// secret. A fast hash suffices for 256-bit random secrets; passwords
	// chosen by people would need a slow one.
	SecretSHA256 string `json:"secret_sha256,omitempty"`
	// Allow maps each audience this client may call to the scopes it may get.
	Allow map[string][]string `json:"allow"`
	// DPoP "required" makes every token of this client DPoP-bound.
	DPoP DPoPMode `json:"dpop,omitempty"`
	// SPIFFEID, if set, makes this client's tokens SPIFFE JWT-SVIDs: sub
	// is this ID, typ JWT, no header parameter but alg, kid and typ. It
	// needs an ES256 or RS256 signing key (IDENTITY_ALG): JWT-SVID allows
	// no EdDSA.
	SPIFFEID string `json:"spiffe_id,omitempty"`
	// MayAct lets this client exchange tokens its callers presented to it
	// for tokens toward other services on their behalf (RFC 8693 token
	// exchange). Without it the client may not exchange at all.
	MayAct []MayAct `json:"may_act,omitempty"`
}

// MayAct is one delegation rule, named after RFC 8693's may_act claim (§4.4):
// the registry holds what that claim would say, so no token has to.
type MayAct struct {
	// For are the clients whose tokens may be exchanged: the callers this
	// client may act for.
	For []string `json:"for"`
	// Received is the audience those tokens must be for: the service this
	// client runs. A token presented to any other service, or stolen from
	// one, cannot be exchanged by this client.
	Received string `json:"received"`
	// Allow maps each audience an exchanged token may be for to the scopes
	// it may carry; it gets no scope its subject could not get itself.
	Allow map[string][]string `json:"allow"`
}

// mayActFor returns the rule that lets c exchange subject's token
// received at audience, if any.
func (c *Client) mayActFor(subject, received string) (*MayAct, bool) {
	for i, rule := range c.MayAct {
		if rule.Received == received && slices.Contains(rule.For, subject) {
			return &c.MayAct[i], true
		}
	}
	return nil, false
}

// receives reports whether any of c's rules takes tokens for audience.
func (c *Client) receives(audience string) bool {
	return slices.ContainsFunc(c.MayAct, func(rule MayAct) bool { return rule.Received == audience })
}

// HasTokenExchange reports whether any client may exchange tokens.
func (reg *Registry) HasTokenExchange() bool {
	return slices.ContainsFunc(reg.Clients, func(c Client) bool { return len(c.MayAct) > 0 })
}

// Subject is the sub of the client's tokens: its SPIFFE ID for JWT-SVIDs,
// else its client id.
func (c *Client) Subject() string { return cmp.Or(c.SPIFFEID, c.ID) }

// HasJWTSVIDClients reports whether any client's tokens are JWT-SVIDs.
func (r *Registry) HasJWTSVIDClients() bool {
	return slices.ContainsFunc(r.Clients, func(c Client) bool { return c.SPIFFEID != "" })
}

// Duration is a time.Duration written as "5m" in JSON.
type Duration time.Duration

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// MarshalJSON writes a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// LoadRegistry reads a registry file.
func LoadRegistry(path string) (*Registry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: registry: %w", err)
	}
	var reg Registry
	if err := json.Unmarshal(data, &reg); err != nil {
		return nil, fmt.Errorf("identity: registry %s: %w", path, err)
	}
	return &reg, reg.Validate()
}

// Validate reports an inconsistent registry.
func (reg *Registry) Validate() error {
	if len(reg.Audiences) == 0 {
		return errors.New("identity: registry: no audiences")
	}
	for name, a := range reg.Audiences {
		if a.MaxTTL <= 0 || time.Duration(a.MaxTTL) > authn.DefaultMaxLifetime {
			return fmt.Errorf("identity: registry: audience %q needs a positive max_ttl of at most %s (resource servers refuse tokens that live longer)", name, authn.DefaultMaxLifetime)
		}
		if !a.DPoP.valid() {
			return fmt.Errorf("identity: registry: audience %q: dpop must be \"required\", \"off\" or absent", name)
		}
	}
	seen := map[string]bool{}
	for _, c := range reg.Clients {
		if c.ID == "" || seen[c.ID] {
			return fmt.Errorf("identity: registry: missing or repeated client_id %q", c.ID)
		}
		seen[c.ID] = true
		if err := c.validate(reg.Audiences); err != nil {
			return fmt.Errorf("identity: registry: client %q: %w", c.ID, err)
		}
	}
	for _, c := range reg.Clients {
		for _, rule := range c.MayAct {
			if err := rule.validate(reg); err != nil {
				return fmt.Errorf("identity: registry: client %q: may_act: %w", c.ID, err)
			}
		}
	}
	return nil
}

func (rule *MayAct) validate(reg *Registry) error {
	if _, ok := reg.Audiences[rule.Received]; !ok {
		return fmt.Errorf("received names unknown audience %q", rule.Received)
	}
	if len(rule.For) == 0 || len(rule.Allow) == 0 {
		return errors.New("needs for and allow")
	}
	for _, id := range rule.For {
		if _, ok := reg.client(id); !ok {
			return fmt.Errorf("for names unknown client %q", id)
		}
	}
	return checkAllowed(rule.Allow, reg.Audiences)
}

// checkAllowed reports an allow map naming an audience or a scope the
// registry does not have.
func checkAllowed(allow map[string][]string, audiences map[string]Audience) error {
	for aud, scopes := range allow {
		a, ok := audiences[aud]
		if !ok {
			return fmt.Errorf("allowed unknown audience %q", aud)
		}
		for _, s := range scopes {
			if !slices.Contains(a.Scopes, s) {
				return fmt.Errorf("allowed scope %q that %q lacks", s, aud)
			}
		}
	}
	return nil
}

// spiffeID is a workload's SPIFFE ID (SPIFFE ID §2): a lower-case trust
// domain and a path of plain segments, none starting with a dot (so no
// dot segment).
var spiffeID = regexp.MustCompile(`^spiffe://[a-z0-9._-]+(/[a-zA-Z0-9_-][a-zA-Z0-9._-]*)+$`)

// validate reports a client entry that could never authenticate, or that
// allows what no audience offers.
func (c *Client) validate(audiences map[string]Audience) error {
	if !c.DPoP.valid() {
		return errors.New(`dpop must be "required", "off" or absent`)
	}
	if c.SPIFFEID != "" && !spiffeID.MatchString(c.SPIFFEID) {
		return fmt.Errorf("spiffe_id %q is not a workload's SPIFFE ID (spiffe://trust.domain/path)", c.SPIFFEID)
	}
	switch c.AuthMethod {
	case PrivateKeyJWT:
		if (c.JWKS == nil) == (c.JWKSURI == "") {
			return errors.New("needs exactly one of jwks and jwks_uri")
		}
		// jwk.Set skips keys it cannot use; a set left empty could
		// never authenticate the client, which is a configuration error.
		if c.JWKS != nil && len(c.JWKS.Keys) == 0 {
			return errors.New("no usable key in jwks (EdDSA, P-256 or RSA ≥ 2048 with a kid)")
		}
	case ClientSecretBasic:
		if !isSHA256Hex(c.SecretSHA256) {
			return errors.New("needs a hex secret_sha256")
		}
	default:
		return fmt.Errorf("unknown auth_method %q", c.AuthMethod)
	}
	return checkAllowed(c.Allow, audiences)
}

// MaxTTL is the longest lifetime of any token this registry allows; signing
// keys are kept published at least that long after they stop signing.
func (reg *Registry) MaxTTL() time.Duration {
	var longest time.Duration
	for _, a := range reg.Audiences {
		longest = max(longest, time.Duration(a.MaxTTL))
	}
	return longest
}

func (reg *Registry) client(id string) (*Client, bool) {
	for i := range reg.Clients {
		if reg.Clients[i].ID == id {
			return &reg.Clients[i], true
		}
	}
	return nil, false
}

// clientWithSubject finds the client whose tokens name sub.
func (reg *Registry) clientWithSubject(sub string) (*Client, bool) {
	for i := range reg.Clients {
		if reg.Clients[i].Subject() == sub {
			return &reg.Clients[i], true
		}
	}
	return nil, false
}

// secretMatches compares secret with a hex SHA-256 in constant time. The
// hash is computed even for an unknown client, so timing tells nothing.
func secretMatches(secret, hashHex string) bool {
	sum := sha256.Sum256([]byte(secret))
	want, _ := hex.DecodeString(hashHex) // checked by Registry.Validate or empty
	return subtle.ConstantTimeCompare(sum[:], want) == 1
}

// HashSecret returns the registry form of a client secret.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func isSHA256Hex(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}
