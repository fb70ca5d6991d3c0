// Package target is the suite's target file as data: what implementation
// to test and how to reach it (docs/conformance.md). It reads and checks
// the file and knows the defaults; it runs nothing and knows no case.
//
//	t, err := target.Load("conformance/targets/local.json")
//	if errors.Is(err, target.ErrInvalid) { … } // the file is wrong: fix it
package target

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
)

// ErrInvalid marks a target the suite cannot run with: unreadable,
// malformed, or inconsistent.
var ErrInvalid = errors.New("target: invalid")

// Defaults of the target's optional settings.
const (
	// DefaultMaxLeeway is the largest clock-skew leeway TIME-08 accepts.
	DefaultMaxLeeway = time.Minute
	// DefaultMaxKeyDelay bounds how long a server may take to accept a
	// newly published key (KEY-11): a verifier that refetches on an unknown
	// kid takes at most its refetch interval, typically 10 s to 1 min.
	DefaultMaxKeyDelay = 30 * time.Second
)

// Target describes the implementation under test. See docs/conformance.md.
type Target struct {
	// ResourceServers are the services that must refuse bad tokens.
	ResourceServers []ResourceServer `json:"resource_servers"`
	// Identity, if set, is checked against the issuer profile, and supplies
	// real tokens when the servers cannot trust the test issuer.
	Identity *Identity `json:"identity,omitempty"`
	// TestIssuer, if set, is the suite's own issuer the servers trust.
	TestIssuer *TestIssuerConfig `json:"test_issuer,omitempty"`
	// MaxLeeway is the largest clock-skew leeway TIME-08 accepts, as a Go
	// duration ("60s" if empty).
	MaxLeeway string `json:"max_leeway,omitempty"`
	// MaxKeyDelay is how long KEY-11 waits for a newly published key to be
	// accepted ("30s" if empty).
	MaxKeyDelay string `json:"max_key_delay,omitempty"`
	// ExpectedFailures are case ids ("AUD-05", or "AUD-05@logging" for one
	// server) reported but not counted, for adopting the suite step by step.
	ExpectedFailures []string `json:"expected_failures,omitempty"`
	// Processes are started before the run and stopped after it.
	Processes []Process `json:"processes,omitempty"`
	// Containers are started by `conformance docker` on a network of their
	// own; servers naming a container get its mapped URL.
	Containers []Container `json:"containers,omitempty"`

	// dir is the target file's directory: relative paths in it resolve there.
	dir string
}

// Dir is the directory relative paths in the target resolve against: the
// target file's, or the working directory for a target built in code.
func (t *Target) Dir() string {
	if t.dir == "" {
		return "."
	}
	return t.dir
}

// Container is an image the suite starts with testcontainers.
type Container struct {
	Name  string            `json:"name"`
	Image string            `json:"image"`
	Env   map[string]string `json:"env,omitempty"`
	// Port the service listens on inside the container; "8080/tcp" if empty.
	Port string `json:"port,omitempty"`
	// Health is an HTTP path answering 200 when ready; "/healthz" if empty.
	Health string `json:"health,omitempty"`
	// Files copies host files (relative to the target file) into the
	// container: container path → host path.
	Files map[string]string `json:"files,omitempty"`
}

// ResourceServer is one endpoint that requires a bearer token.
type ResourceServer struct {
	Name     string          `json:"name"`
	URL      string          `json:"url"`
	Method   string          `json:"method"`
	Path     string          `json:"path"`
	Body     json.RawMessage `json:"body,omitempty"`
	Audience string          `json:"audience"`
	// Scope the request needs; put in every minted token.
	Scope string `json:"scope,omitempty"`
	// SingleUse servers must refuse a token presented twice.
	SingleUse bool `json:"single_use,omitempty"`
	// Replicas are more URLs of the same service: a token used at one must
	// be refused at every other.
	Replicas []string `json:"replicas,omitempty"`
	// DPoP servers accept DPoP-bound tokens with proofs (RFC 9449): the
	// dpop cases run against them.
	DPoP bool `json:"dpop,omitempty"`
	// DPoPNonce servers demand their own nonce in proofs (RFC 9449 §9):
	// every proof the suite sends carries one, and DPOP-20 checks the flow.
	DPoPNonce bool `json:"dpop_nonce,omitempty"`
	// PublicURL is the URL the server knows itself by, where the suite
	// reaches it at another (a mapped port, a proxy): DPoP proofs' htu
	// names it. Default: URL.
	PublicURL string `json:"public_url,omitempty"`
	// Process names the process (of processes) that serves this server,
	// so the suite can restart it between a token's use and its replay.
	Process string `json:"process,omitempty"`
	// Container, in docker mode, names the container serving it; URL is
	// then filled in from its mapped port.
	Container string `json:"container,omitempty"`
	// Token is what a valid token for this server looks like: its profile
	// (rfc9068 by default, jwt-svid, kubernetes) and overrides.
	Token Token `json:"token,omitzero"`
	// Delegation, if set, says the server accepts delegated tokens (RFC
	// 8693 act): the delegation cases run against it.
	Delegation *Delegation `json:"delegation,omitempty"`
	// StatusLists, if set, says the server honours Token Status Lists: the
	// status list cases run against it.
	StatusLists *StatusLists `json:"status_lists,omitempty"`
	// WIMSE, if set, says the server accepts WIMSE workload credentials
	// (a Workload-Identity-Token and its Workload-Proof-Token) beside
	// bearer tokens: the wimse cases run against it.
	WIMSE *WIMSE `json:"wimse,omitempty"`
}

// WIMSE is what a server accepting WIMSE workload credentials declares.
type WIMSE struct {
	// TrustDomain is the trust domain whose workloads it accepts: the
	// suite's WITs name wimse://TRUST_DOMAIN/<the token's client>.
	TrustDomain string `json:"trust_domain"`
}

// DefaultMaxStale is how long after a revocation a status-list server is
// taken to go on accepting the token when it says nothing.
const DefaultMaxStale = 30 * time.Second

// StatusLists is what a server that checks status lists declares.
type StatusLists struct {
	// MaxStale is the longest it may take to refuse a token after its
	// entry was revoked (its refresh, and any staleness it allows), as a
	// Go duration; "30s" if empty.
	MaxStale string `json:"max_stale,omitempty"`
}

// Stale is MaxStale, DefaultMaxStale if empty or malformed (Validate
// refuses a malformed one).
func (s *StatusLists) Stale() time.Duration {
	if d, err := time.ParseDuration(s.MaxStale); err == nil && d > 0 {
		return d
	}
	return DefaultMaxStale
}

// DefaultMaxActorChain is the longest actor chain (act and the acts
// nested in it) a delegation server is taken to accept when it says none.
const DefaultMaxActorChain = 4

// Delegation is what a server accepting delegated tokens declares.
type Delegation struct {
	// Actors are the parties it accepts acting for a token's sub (act.sub);
	// the suite's delegated tokens name the first.
	Actors []string `json:"actors"`
	// MaxChain is the longest chain of actors it accepts (an act with
	// MaxChain-1 acts nested in it); DefaultMaxActorChain if zero.
	MaxChain int `json:"max_chain,omitempty"`
}

// Chain is MaxChain, DefaultMaxActorChain if zero.
func (d *Delegation) Chain() int { return cmp.Or(d.MaxChain, DefaultMaxActorChain) }

// Identity is the implementation's token service and a client registered
// for the suite (client_secret_basic).
type Identity struct {
	URL          string `json:"url"`
	Issuer       string `json:"issuer"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// OtherSubject is another registered client's id: asking for it as sub
	// must be refused.
	OtherSubject string `json:"other_subject,omitempty"`
	// ForbiddenAudience is an audience the suite's client may not get.
	ForbiddenAudience string `json:"forbidden_audience,omitempty"`
	// Container, in docker mode, names the container serving it.
	Container string `json:"container,omitempty"`
	// Exchange, if set, is how the suite tests the identity's token
	// exchange (RFC 8693) when its metadata advertises the grant.
	Exchange *Exchange `json:"exchange,omitempty"`
	// Revoke, if set, is how the suite revokes one of its tokens, to see
	// the identity's status list reflect it.
	Revoke *Revoke `json:"revoke,omitempty"`
}

// Revoke is an identity's revocation endpoint: a POST of {"jti": …} to
// Path (under the identity's URL) with HTTP Basic User and Secret.
type Revoke struct {
	Path   string `json:"path"`
	User   string `json:"user"`
	Secret string `json:"secret"`
}

// Exchange names a second registered client, the actor, that may exchange
// tokens the suite's client (the subject) got for the actor's own service
// (Received) for tokens toward Audience on the subject's behalf.
type Exchange struct {
	ActorID     string `json:"actor_id"`
	ActorSecret string `json:"actor_secret"` // client_secret_basic
	// ActorSubject is the actor's act.sub in exchanged tokens; ActorID if
	// empty.
	ActorSubject string `json:"actor_subject,omitempty"`
	Received     string `json:"received"`
	Audience     string `json:"audience"`
	// Scope is one the actor may get at Audience for the subject; empty,
	// the exchange asks for none.
	Scope string `json:"scope,omitempty"`
	// WiderScope is a scope of Audience the exchange must not grant (the
	// subject may not have it there); empty, that case is skipped.
	WiderScope string `json:"wider_scope,omitempty"`
}

// Actor is ActorSubject, ActorID if empty.
func (x *Exchange) Actor() string { return cmp.Or(x.ActorSubject, x.ActorID) }

// TestIssuerConfig says where the suite's issuer listens and how the servers
// reach it. URL is also its "iss"; an https URL makes it serve TLS.
type TestIssuerConfig struct {
	URL string `json:"url"`
	// Listen is the address to bind; the URL's host and port if empty.
	Listen string `json:"listen,omitempty"`
	// Algorithm is auto (the default: the first of EdDSA, ES256, RS256,
	// PS256 each server accepts), all (each one it accepts), or one of them.
	Algorithm string `json:"algorithm,omitempty"`
	// CAFile, for an https issuer, is where the suite writes the CA
	// certificate the servers must trust (relative to the target file).
	CAFile string `json:"ca_file,omitempty"`
	// External means the issuer's HTTP side runs elsewhere (a container
	// started by the suite); Listen is then unused.
	External bool `json:"-"`
}

// Algorithm modes besides a single algorithm.
const (
	AlgAuto = "auto"
	AlgAll  = "all"
)

// JWKSURL is where servers under test must fetch the test issuer's keys.
func (c *TestIssuerConfig) JWKSURL() string { return c.URL + testissuer.JWKSPath }

// AlgorithmMode is Algorithm, AlgAuto if empty.
func (c *TestIssuerConfig) AlgorithmMode() string { return cmp.Or(c.Algorithm, AlgAuto) }

// Process is a command the suite starts for the run. A relative command
// path resolves against the target file's directory, where it also runs.
type Process struct {
	Name    string            `json:"name"`
	Command []string          `json:"command"`
	Env     map[string]string `json:"env,omitempty"`
	// Health is a URL that answers 200 once the process is ready.
	Health string `json:"health"`
}

// Load reads and validates a target file. Errors name the JSON path of
// what is wrong: resource_servers[1].audiance: unknown field.
func Load(path string) (*Target, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var t Target
	if err := decodeStrict(data, &t); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, path, err)
	}
	t.dir = filepath.Dir(path)
	return &t, t.Validate()
}

// Validate reports a target the suite cannot run. It changes nothing.
func (t *Target) Validate() error {
	if len(t.ResourceServers) == 0 && t.Identity == nil {
		return invalid("nothing to test: no resource_servers and no identity")
	}
	if t.TestIssuer == nil && t.Identity == nil {
		return invalid("resource servers need a test_issuer (preferred) or an identity to get real tokens from")
	}
	for _, check := range []func() error{t.validateServers, t.validateIdentity, t.validateIssuer, t.validateDurations, t.validateProcesses} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func (t *Target) validateServers() error {
	names := map[string]bool{}
	for i, rs := range t.ResourceServers {
		if err := rs.validate(i, names, t.Processes); err != nil {
			return err
		}
		names[rs.Name] = true
	}
	return nil
}

func (rs *ResourceServer) validate(i int, taken map[string]bool, processes []Process) error {
	switch {
	case rs.Name == "" || taken[rs.Name]:
		return invalid("resource_servers[%d].name: missing or repeated (%q)", i, rs.Name)
	case rs.Audience == "":
		return invalid("resource_servers[%d].audience is required (server %q)", i, rs.Name)
	case !validURL(rs.URL) && rs.Container == "":
		return invalid("resource_servers[%d].url: %q is not an http(s) URL (server %q)", i, rs.URL, rs.Name)
	case rs.Method == "" || !strings.HasPrefix(rs.Path, "/"):
		return invalid("resource_servers[%d]: method and an absolute path are required (server %q)", i, rs.Name)
	case rs.Process != "" && !slices.ContainsFunc(processes, func(p Process) bool { return p.Name == rs.Process }):
		return invalid("resource_servers[%d].process: no process is named %q", i, rs.Process)
	}
	for j, u := range rs.Replicas {
		if !validURL(u) {
			return invalid("resource_servers[%d].replicas[%d]: %q is not an http(s) URL", i, j, u)
		}
	}
	if err := rs.validateAddressing(i); err != nil {
		return err
	}

	return rs.Token.validate(fmt.Sprintf("resource_servers[%d].token", i))
}

// validateAddressing checks how DPoP proofs address the server, and what
// more it declares.
func (rs *ResourceServer) validateAddressing(i int) error {
	if err := rs.validateDeclarations(i); err != nil {
		return err
	}
	switch {
	case rs.PublicURL != "" && !validURL(rs.PublicURL):
		return invalid("resource_servers[%d].public_url: %q is not an http(s) URL (server %q)", i, rs.PublicURL, rs.Name)
	case rs.DPoPNonce && !rs.DPoP:
		return invalid("resource_servers[%d].dpop_nonce needs dpop (server %q)", i, rs.Name)
	}
	return nil
}

// validateDeclarations checks the server's status list, WIMSE and
// delegation settings.
func (rs *ResourceServer) validateDeclarations(i int) error {
	if sl := rs.StatusLists; sl != nil && sl.MaxStale != "" {
		if d, err := time.ParseDuration(sl.MaxStale); err != nil || d <= 0 || d > 10*time.Minute {
			return invalid("resource_servers[%d].status_lists.max_stale: %q is not a duration of at most 10m (server %q)", i, sl.MaxStale, rs.Name)
		}
	}
	if w := rs.WIMSE; w != nil && !trustDomainName.MatchString(w.TrustDomain) {
		return invalid("resource_servers[%d].wimse.trust_domain: %q is not a trust domain (lower-case letters, digits, '.', '-', '_') (server %q)", i, w.TrustDomain, rs.Name)
	}
	if d := rs.Delegation; d != nil && (len(d.Actors) == 0 || slices.Contains(d.Actors, "") || d.MaxChain < 0 || d.MaxChain > 16) {
		return invalid("resource_servers[%d].delegation: needs actors, none empty, and a max_chain of 1..16 if set (server %q)", i, rs.Name)
	}
	return nil
}

func (t *Target) validateIdentity() error {
	id := t.Identity
	if id != nil && (!validURL(id.URL) && id.Container == "" || id.ClientID == "" || id.ClientSecret == "" || id.Issuer == "") {
		return invalid("identity: url, issuer, client_id and client_secret are required")
	}
	if id == nil {
		return nil
	}
	if rv := id.Revoke; rv != nil && (!strings.HasPrefix(rv.Path, "/") || rv.User == "" || rv.Secret == "") {
		return invalid("identity.revoke: an absolute path, a user and a secret are required")
	}
	return id.Exchange.validate()
}

func (x *Exchange) validate() error {
	if x != nil && (x.ActorID == "" || x.ActorSecret == "" || x.Received == "" || x.Audience == "" || x.Received == x.Audience) {
		return invalid("identity.exchange: actor_id, actor_secret, received and audience are required, received and audience different")
	}
	return nil
}

func (t *Target) validateIssuer() error {
	ti := t.TestIssuer
	switch {
	case ti == nil:
	case !validURL(ti.URL) && !ti.External && len(t.Containers) == 0:
		return invalid("test_issuer.url: an http or https URL is required")
	case ti.AlgorithmMode() != AlgAuto && ti.AlgorithmMode() != AlgAll && !slices.Contains(testissuer.Algorithms, ti.AlgorithmMode()):
		return invalid("test_issuer.algorithm: %q is not auto, all, or one of %s", ti.Algorithm, strings.Join(testissuer.Algorithms, ", "))
	}
	return nil
}

func (t *Target) validateDurations() error {
	for name, v := range map[string]string{"max_leeway": t.MaxLeeway, "max_key_delay": t.MaxKeyDelay} {
		if d, err := time.ParseDuration(v); v != "" && (err != nil || d < 0) {
			return invalid("%s: %q is not a duration like \"60s\"", name, v)
		}
	}
	return nil
}

func (t *Target) validateProcesses() error {
	for i, p := range t.Processes {
		switch {
		case p.Name == "":
			return invalid("processes[%d].name is required", i)
		case len(p.Command) == 0 || p.Command[0] == "":
			return invalid("processes[%d].command is required (process %q)", i, p.Name)
		case !validURL(p.Health) && !strings.Contains(p.Health, "${"):
			return invalid("processes[%d].health: %q is not an http(s) URL (process %q)", i, p.Health, p.Name)
		}
	}
	return nil
}

func validURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Leeway is MaxLeeway parsed (Validate has checked it), or DefaultMaxLeeway.
func (t *Target) Leeway() time.Duration { return durationOr(t.MaxLeeway, DefaultMaxLeeway) }

// KeyDelay is MaxKeyDelay parsed, or DefaultMaxKeyDelay.
func (t *Target) KeyDelay() time.Duration { return durationOr(t.MaxKeyDelay, DefaultMaxKeyDelay) }

func durationOr(s string, fallback time.Duration) time.Duration {
	if d, err := time.ParseDuration(s); err == nil {
		return d
	}
	return fallback
}

// URLs are the server's URL and its replicas'.
func (rs *ResourceServer) URLs() []string { return append([]string{rs.URL}, rs.Replicas...) }
