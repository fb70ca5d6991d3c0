package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

// TestRun_DPoPProofNamesThePublicURL: a proof's htu must name the
// service's public URL (PUBLIC_URL, by default its listen address), never
// whatever Host the request carries: a proof made for another host name is
// refused even when the request names that host.
func TestRun_DPoPProofNamesThePublicURL(t *testing.T) {
	iss := testutil.NewIssuer(t)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	jkt, err := jwk.Thumbprint(key.Public())
	require.NoError(t, err)
	env := map[string]string{"TRUSTED_ISSUER": iss.URL, "JWKS_URL": iss.JWKSURL(), "DPOP": "optional"}

	post := func(target, host, htu string) int {
		tok := iss.Token(t, "careergpt-backend", "logging-service", "logs:write", "cnf", map[string]string{"jkt": jkt})
		proof, err := tokenclient.Proof(key, http.MethodPost, htu, tok, time.Now())
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, target+"/v1/logs", strings.NewReader(`{"message":"m"}`))
		require.NoError(t, err)
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Set("DPoP", proof)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}

	t.Run("Default", func(t *testing.T) {
		p := testutil.Start(t, run, "logging", testutil.WithEnv(env, "DATA_DIR", t.TempDir()))
		self := strings.TrimPrefix(p.URL, "http://")
		require.Equal(t, http.StatusCreated, post(p.URL, self, p.URL+"/v1/logs"))
		require.Equal(t, http.StatusUnauthorized, post(p.URL, "evil.example", "http://evil.example/v1/logs"),
			"a proof for another host, sent with that Host")
	})
	t.Run("PublicURL", func(t *testing.T) {
		p := testutil.Start(t, run, "logging", testutil.WithEnv(env, "DATA_DIR", t.TempDir(), "PUBLIC_URL", "https://logging.example"))
		self := strings.TrimPrefix(p.URL, "http://")
		require.Equal(t, http.StatusCreated, post(p.URL, self, "https://logging.example/v1/logs"), "behind a proxy that gives its own Host")
		require.Equal(t, http.StatusUnauthorized, post(p.URL, self, p.URL+"/v1/logs"), "the listen address is not the public URL")
	})
}
