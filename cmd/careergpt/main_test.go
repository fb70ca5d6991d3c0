package main

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

func TestRun_ServesPageAndClientKey(t *testing.T) {
	env := map[string]string{"DATA_DIR": t.TempDir(), "PLAY_ON_START": "false"}
	p := testutil.Start(t, run, "careergpt", env)

	resp, err := http.Get(p.URL + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'", "the page loads nothing from elsewhere")

	_, body := testutil.Do(t, http.MethodGet, p.URL+"/.well-known/jwks.json", "", "")
	var set struct{ Keys []map[string]any }
	require.NoError(t, json.Unmarshal([]byte(body), &set))
	require.Len(t, set.Keys, 1)
	require.Equal(t, "EdDSA", set.Keys[0]["alg"])
	require.NotContains(t, set.Keys[0], "d", "only the public half is published")

	status, _ := testutil.Do(t, http.MethodGet, p.URL+"/v1/scenario", "", "")
	require.Equal(t, http.StatusNotFound, status, "nothing played yet")
	status, _ = testutil.Do(t, http.MethodPost, p.URL+"/v1/steps/launch-missiles", "", "")
	require.Equal(t, http.StatusNotFound, status)
}
