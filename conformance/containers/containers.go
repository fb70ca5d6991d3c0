// Package containers runs the conformance suite against an implementation
// packaged as images: it starts them with testcontainers-go on a network of
// their own, with the suite's test issuer in a container beside them, so
// the servers under test reach it by name and nothing needs host access.
//
// Ryuk is not used (set TESTCONTAINERS_RYUK_DISABLED=true): every container
// and the network are removed when Run returns, failed or not.
package containers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/s2sjwt/s2sjwt/conformance"
	"github.com/s2sjwt/s2sjwt/conformance/target"
)

// IssuerAlias is the test issuer's host name on the container network.
const IssuerAlias = "test-issuer"

// Options configure a run.
type Options struct {
	// TargetDir resolves relative paths in the target's container files.
	TargetDir string
	// IssuerImage runs `issuer -listen :8080 -documents /issuer.json`.
	IssuerImage string
	// Images overrides container images by container name.
	Images map[string]string
	Suite  conformance.Options
	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any)
}

// Run starts target's containers and the test issuer, runs the suite and
// removes everything it started.
func Run(ctx context.Context, tgt *target.Target, opts Options) (report *conformance.Report, err error) {
	if len(tgt.Containers) == 0 {
		return nil, fmt.Errorf("%w: the target names no containers", conformance.ErrConfig)
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	suite, err := conformance.New(pending(tgt), opts.Suite)
	if err != nil {
		return nil, err
	}
	nw, err := network.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("containers: network: %w", err)
	}
	var started []testcontainers.Container
	defer func() {
		for _, c := range started {
			if terr := testcontainers.TerminateContainer(c); terr != nil {
				err = errors.Join(err, terr)
			}
		}
		err = errors.Join(err, nw.Remove(context.WithoutCancel(ctx)))
	}()
	issuer, err := startIssuer(ctx, nw, suite, opts)
	if issuer != nil {
		started = append(started, issuer)
	}
	if err != nil {
		return nil, err
	}
	urls := map[string]string{}
	for _, spec := range tgt.Containers {
		c, url, err := start(ctx, nw, spec, opts, suite.Placeholders())
		if c != nil {
			started = append(started, c)
		}
		if err != nil {
			return nil, fmt.Errorf("containers: %s: %w", spec.Name, err)
		}
		urls[spec.Name] = url
		opts.Logf("%s (%s) up at %s", spec.Name, image(spec, opts), url)
	}
	if err := reachAt(tgt, urls); err != nil {
		return nil, err
	}
	return suite.Run(ctx)
}

// pending points tgt's test issuer at its container's network alias and
// gives the servers in containers placeholder URLs, until the containers
// run; the suite reads them only in Run.
func pending(tgt *target.Target) *target.Target {
	if tgt.TestIssuer == nil {
		tgt.TestIssuer = &target.TestIssuerConfig{}
	}
	tgt.TestIssuer.URL, tgt.TestIssuer.External = "http://"+IssuerAlias+":8080", true
	for i := range tgt.ResourceServers {
		if tgt.ResourceServers[i].Container != "" {
			tgt.ResourceServers[i].URL = "http://pending"
		}
	}
	if id := tgt.Identity; id != nil && id.Container != "" {
		id.URL = "http://pending"
	}
	return tgt
}

// startIssuer runs the test issuer's image with the suite's public
// documents, and tells the suite where it reaches it.
func startIssuer(ctx context.Context, nw *testcontainers.DockerNetwork, suite *conformance.Suite, opts Options) (*testcontainers.DockerContainer, error) {
	issuer, err := testcontainers.Run(ctx, opts.IssuerImage,
		testcontainers.WithCmd("issuer", "-listen", ":8080", "-documents", "/issuer.json"),
		testcontainers.WithFiles(testcontainers.ContainerFile{
			Reader: bytes.NewReader(suite.IssuerDocuments()), ContainerFilePath: "/issuer.json", FileMode: 0o644,
		}),
		testcontainers.WithExposedPorts("8080/tcp"),
		network.WithNetwork([]string{IssuerAlias}, nw),
	)
	if err != nil {
		return issuer, fmt.Errorf("containers: test issuer: %w", err)
	}
	hits, err := loopbackEndpoint(ctx, issuer, "8080/tcp", "/healthz")
	if err != nil {
		return issuer, fmt.Errorf("containers: test issuer: %w", err)
	}
	suite.SetIssuerLocalURL(hits)
	opts.Logf("test issuer %s up", opts.IssuerImage)
	return issuer, nil
}

// reachAt gives each server and the identity that names a container the
// URL it was mapped to.
func reachAt(tgt *target.Target, urls map[string]string) error {
	for i := range tgt.ResourceServers {
		rs := &tgt.ResourceServers[i]
		if rs.Container != "" {
			if rs.URL = urls[rs.Container]; rs.URL == "" {
				return fmt.Errorf("%w: resource server %s names unknown container %q", conformance.ErrConfig, rs.Name, rs.Container)
			}
		}
	}
	if id := tgt.Identity; id != nil && id.Container != "" {
		if id.URL = urls[id.Container]; id.URL == "" {
			return fmt.Errorf("%w: identity names unknown container %q", conformance.ErrConfig, id.Container)
		}
	}
	return nil
}

func image(spec target.Container, opts Options) string {
	if img, ok := opts.Images[spec.Name]; ok {
		return img
	}
	return spec.Image
}

func start(ctx context.Context, nw *testcontainers.DockerNetwork, spec target.Container, opts Options, vars map[string]string) (testcontainers.Container, string, error) {
	port := spec.Port
	if port == "" {
		port = "8080/tcp"
	}
	health := spec.Health
	if health == "" {
		health = "/healthz"
	}
	env := map[string]string{}
	for k, v := range spec.Env {
		var err error
		if env[k], err = conformance.Expand(v, vars); err != nil {
			return nil, "", fmt.Errorf("%w: containers: %s: env.%s: %w", conformance.ErrConfig, spec.Name, k, err)
		}
	}
	var files []testcontainers.ContainerFile
	for _, dst := range sortedKeys(spec.Files) {
		src := spec.Files[dst]
		if !filepath.IsAbs(src) {
			src = filepath.Join(opts.TargetDir, src)
		}
		files = append(files, testcontainers.ContainerFile{HostFilePath: src, ContainerFilePath: dst, FileMode: 0o644})
	}
	c, err := testcontainers.Run(ctx, image(spec, opts),
		testcontainers.WithEnv(env),
		testcontainers.WithFiles(files...),
		testcontainers.WithExposedPorts(port),
		network.WithNetwork([]string{spec.Name}, nw),
	)
	if err != nil {
		return c, "", err
	}
	url, err := loopbackEndpoint(ctx, c, port, health)
	return c, url, err
}

// readyTimeout bounds how long a container may take to answer its health path.
const readyTimeout = 30 * time.Second

// loopbackEndpoint returns http://127.0.0.1:PORT for the container's
// published port once health answers 200 there. testcontainers' own host
// detection can pick a gateway address in sandboxes; the suite's traffic
// stays on loopback, so it neither asks for the host nor uses its waits.
func loopbackEndpoint(ctx context.Context, c testcontainers.Container, port, health string) (string, error) {
	mapped, err := c.MappedPort(ctx, port)
	if err != nil {
		return "", err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", mapped.Num())
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for {
		resp, err := client.Get(url + health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, nil
			}
		}
		if time.Now().After(deadline) {
			logs := ""
			if r, lerr := c.Logs(ctx); lerr == nil {
				b, _ := io.ReadAll(io.LimitReader(r, 8<<10))
				logs = string(b)
			}
			return "", fmt.Errorf("%s not healthy within %s (%v)\n%s", url+health, readyTimeout, err, logs)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range maps.Keys(m) {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
