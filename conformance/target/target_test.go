package target_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/conformance/target"
)

// TestLoad_ErrorsNameTheJSONPath: a typo is found by its path.
func TestLoad_ErrorsNameTheJSONPath(t *testing.T) {
	for name, tc := range map[string]struct{ json, want string }{
		"unknown field": {`{"resource_servers": [{"name": "a", "url": "http://x", "method": "GET", "path": "/", "audience": "a"},
			{"name": "b", "audiance": "b"}]}`, "resource_servers[1].audiance: unknown field"},
		"nested unknown field": {`{"test_issuer": {"url": "http://x", "algo": "ES256"}}`, "test_issuer.algo: unknown field"},
		"wrong type":           {`{"resource_servers": [{"name": 7}]}`, "resource_servers.name: wants a string"},
		"process health":       {`{"identity": {"url": "http://x", "issuer": "i", "client_id": "c", "client_secret": "s"}, "processes": [{"name": "p", "command": ["x"], "health": "localhost:1"}]}`, `processes[0].health: "localhost:1" is not an http(s) URL`},
		"process name":         {`{"identity": {"url": "http://x", "issuer": "i", "client_id": "c", "client_secret": "s"}, "processes": [{"command": ["x"], "health": "http://x"}]}`, "processes[0].name is required"},
		"algorithm":            {`{"test_issuer": {"url": "http://x", "algorithm": "HS256"}, "resource_servers": [{"name": "a", "url": "http://x", "method": "GET", "path": "/", "audience": "a"}]}`, `test_issuer.algorithm: "HS256"`},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "t.json")
			require.NoError(t, os.WriteFile(path, []byte(tc.json), 0o644))
			_, err := target.Load(path)
			require.ErrorIs(t, err, target.ErrInvalid)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestValidate_ChangesNothing: a target without an algorithm validates
// and keeps it empty; its mode reads as auto.
func TestValidate_ChangesNothing(t *testing.T) {
	tgt := &target.Target{TestIssuer: &target.TestIssuerConfig{URL: "http://127.0.0.1:1"},
		ResourceServers: []target.ResourceServer{{Name: "a", URL: "http://x", Method: "GET", Path: "/", Audience: "a"}}}
	require.NoError(t, tgt.Validate())
	require.Empty(t, tgt.TestIssuer.Algorithm)
	require.Equal(t, target.AlgAuto, tgt.TestIssuer.AlgorithmMode())
	require.Equal(t, target.DefaultMaxLeeway, tgt.Leeway())
	require.Equal(t, target.DefaultMaxKeyDelay, tgt.KeyDelay())
}
