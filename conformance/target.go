package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
)

// ErrConfig marks a target file or option the suite cannot run with (exit 2).
var ErrConfig = errors.New("conformance: configuration")

// Target describes the implementation under test. See docs/conformance.md.
type Target struct {
	// ResourceServers are the services that must refuse bad tokens.
	ResourceServers []ResourceServer `json:"resource_servers"`
	// Identity, if set, is checked against the issuer profile, and supplies
	// real tokens when the servers cannot trust the test issuer.
	Identity *Identity `json:"identity,omitempty"`
	// TestIssuer, if set, is the suite's own issuer the servers trust.
	TestIssuer *TestIssuerConfig `json:"test_issuer,omitempty"`
	// ExpectedFailures are case ids ("AUD-05", or "AUD-05@logging" for one
	// server) reported but not counted, for adopting the suite step by step.
	ExpectedFailures []string `json:"expected_failures,omitempty"`
	// Processes are started before the run and stopped after it.
	Processes []Process `json:"processes,omitempty"`
	// Containers are started by `conformance docker` on a network of their
	// own; servers naming a container get its mapped URL.
	Containers []Container `json:"containers,omitempty"`
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
	// Container, in docker mode, names the container serving it; URL is
	// then filled in from its mapped port.
	Container string `json:"container,omitempty"`
}

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
}

// TestIssuerConfig says where the suite's issuer listens and how the servers
// reach it. URL is also its "iss".
type TestIssuerConfig struct {
	Listen    string `json:"listen"`
	URL       string `json:"url"`
	Algorithm string `json:"algorithm,omitempty"` // EdDSA (default), ES256 or RS256
	// External means the issuer's HTTP side runs elsewhere (a container
	// started by the suite); Listen is then unused.
	External bool `json:"-"`
}

// JWKSURL is where servers under test must fetch the test issuer's keys.
func (c *TestIssuerConfig) JWKSURL() string { return c.URL + "/jwks.json" }

// Process is a command the suite starts for the run.
type Process struct {
	Name    string            `json:"name"`
	Command []string          `json:"command"`
	Env     map[string]string `json:"env,omitempty"`
	Health  string            `json:"health"`
}

// LoadTarget reads and validates a target file.
func LoadTarget(path string) (*Target, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var t Target
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
	}
	return &t, t.Validate()
}

// Validate reports a target the suite cannot run.
func (t *Target) Validate() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if len(t.ResourceServers) == 0 && t.Identity == nil {
		return fail("nothing to test: no resource_servers and no identity")
	}
	names := map[string]bool{}
	for i, rs := range t.ResourceServers {
		switch {
		case rs.Name == "" || names[rs.Name]:
			return fail("resource_servers[%d]: missing or repeated name %q", i, rs.Name)
		case rs.Audience == "":
			return fail("resource server %q: audience is required", rs.Name)
		case !validURL(rs.URL) && rs.Container == "":
			return fail("resource server %q: bad url %q", rs.Name, rs.URL)
		case rs.Method == "" || !strings.HasPrefix(rs.Path, "/"):
			return fail("resource server %q: method and an absolute path are required", rs.Name)
		}
		names[rs.Name] = true
	}
	if id := t.Identity; id != nil {
		if !validURL(id.URL) && id.Container == "" || id.ClientID == "" || id.ClientSecret == "" || id.Issuer == "" {
			return fail("identity: url, issuer, client_id and client_secret are required")
		}
	}
	if ti := t.TestIssuer; ti != nil {
		if !validURL(ti.URL) && !ti.External && len(t.Containers) == 0 {
			return fail("test_issuer: url is required")
		}
		if ti.Algorithm == "" {
			ti.Algorithm = "EdDSA"
		}
		if !slices.Contains([]string{"EdDSA", "ES256", "RS256"}, ti.Algorithm) {
			return fail("test_issuer: algorithm must be EdDSA, ES256 or RS256")
		}
	}
	if t.TestIssuer == nil && t.Identity == nil && len(t.ResourceServers) > 0 {
		return fail("resource servers need a test_issuer (preferred) or an identity to get real tokens from")
	}
	return nil
}

func validURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
