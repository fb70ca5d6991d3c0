package identity_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/identity"
	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

const (
	adminSecret    = "admin-secret-0123456789abcdef0123456789abcdef"
	statusListSize = 64
)

// withStatusList turns e's status list on, with statusListSize entries,
// and its admin API.
func withStatusList(tb testing.TB, e *env) {
	tb.Helper()
	e.cfg.AdminSecretSHA256 = identity.HashSecret(adminSecret)
	e.deps.Status = identity.NewStatusList(e.db, statusListSize, e.clock.Now)
	h, err := identity.NewServer(e.cfg, e.deps)
	require.NoError(tb, err)
	e.swap(h)
}

func (e *env) admin(tb testing.TB, path, body string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
	require.NoError(tb, err)
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("admin", adminSecret)
	resp, err := e.srv.Client().Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// suiteToken is a token of the client_secret_basic client "suite".
func (e *env) suiteToken(tb testing.TB) (raw string, status int) {
	tb.Helper()
	r := e.post(tb, form, "grant_type=client_credentials&audience=logging-service", "suite", secret)
	tok, _ := r.body["access_token"].(string)
	return tok, r.status
}

type statusOf struct {
	Status struct {
		StatusList authn.StatusRef `json:"status_list"`
	} `json:"status"`
	JTI string `json:"jti"`
}

func claimsOf(tb testing.TB, raw string) statusOf {
	tb.Helper()
	parts := strings.Split(raw, ".")
	require.Len(tb, parts, 3)
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(tb, err)
	var c statusOf
	require.NoError(tb, json.Unmarshal(data, &c))
	return c
}

// listAt reads the list a replica serves (without verifying it: the
// verifier's tests do) as one status per entry.
func listAt(tb testing.TB, base string) []byte {
	tb.Helper()
	status, body := testutil.Do(tb, http.MethodGet, base+identity.StatusListPath, "", "")
	require.Equal(tb, http.StatusOK, status, body)
	parts := strings.Split(body, ".")
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(tb, err)
	var c struct {
		List struct {
			Bits int    `json:"bits"`
			Lst  string `json:"lst"`
		} `json:"status_list"`
	}
	require.NoError(tb, json.Unmarshal(data, &c))
	require.Equal(tb, 2, c.List.Bits)
	compressed, err := base64.RawURLEncoding.DecodeString(c.List.Lst)
	require.NoError(tb, err)
	zr, err := zlib.NewReader(bytes.NewReader(compressed))
	require.NoError(tb, err)
	packed, err := io.ReadAll(zr)
	require.NoError(tb, err)
	out := make([]byte, len(packed)*4)
	for i := range out {
		out[i] = packed[i/4] >> (i % 4 * 2) & 3
	}
	return out
}

func TestStatusList_EveryTokenHasItsOwnEntry(t *testing.T) {
	e := newEnv(t)
	withStatusList(t, e)
	seen := map[int]bool{}
	for range statusListSize / 2 {
		raw, status := e.suiteToken(t)
		require.Equal(t, http.StatusOK, status)
		ref := claimsOf(t, raw).Status.StatusList
		require.Equal(t, e.srv.URL+identity.StatusListPath, ref.URI)
		require.False(t, seen[ref.Index], "index %d given to two live tokens", ref.Index)
		seen[ref.Index] = true
	}
	require.Len(t, listAt(t, e.srv.URL), statusListSize, "the list's size is its bound")
	// Once those tokens can no longer be valid, their slots may serve others.
	e.clock.Advance(5*time.Minute + authn.MaxLeeway + time.Second)
	for range statusListSize / 2 {
		_, status := e.suiteToken(t)
		require.Equal(t, http.StatusOK, status)
	}
}

// A revoked token reads revoked in the list Identity signs, and a
// resource server that checks status lists refuses it once it refetched;
// another caller's token is unaffected.
func TestStatusList_RevokedTokenRefusedByVerifier(t *testing.T) {
	e := newEnv(t)
	withStatusList(t, e)
	lists, err := authn.NewStatusLists(authn.StatusListsConfig{Issuer: e.srv.URL, KeySet: e.remoteKeys(t), Now: e.clock.Now, Refresh: time.Second})
	require.NoError(t, err)
	v, err := authn.NewVerifier(authn.Config{Issuer: e.srv.URL, Audience: "logging-service", KeySet: e.remoteKeys(t), Now: e.clock.Now, Status: lists})
	require.NoError(t, err)
	ctx := context.Background()
	victim, _ := e.suiteToken(t)
	other, err := e.client.Token(ctx, tokenclient.Request{Audience: "logging-service"})
	require.NoError(t, err)
	_, err = v.Verify(ctx, victim)
	require.NoError(t, err)

	status, body := e.admin(t, "/admin/revoke", `{"jti": "`+claimsOf(t, victim).JTI+`"}`)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, byte(authn.StatusInvalid), listAt(t, e.srv.URL)[claimsOf(t, victim).Status.StatusList.Index])
	e.clock.Advance(2 * time.Second) // past the verifier's refresh
	require.Eventually(t, func() bool {
		_, err := v.Verify(ctx, victim)
		return err != nil
	}, 5*time.Second, 10*time.Millisecond)
	_, err = v.Verify(ctx, victim)
	require.ErrorIs(t, err, authn.ErrRevoked)
	_, err = v.Verify(ctx, other.AccessToken)
	require.NoError(t, err, "another caller's token is still good")

	status, _ = e.admin(t, "/admin/revoke", `{"jti": "no-such-token"}`)
	require.Equal(t, http.StatusNotFound, status)
}

func TestStatusList_WithdrawnCallers(t *testing.T) {
	e := newEnv(t)
	withStatusList(t, e)
	held, _ := e.suiteToken(t)
	idx := claimsOf(t, held).Status.StatusList.Index

	status, body := e.admin(t, "/admin/suspend", `{"client_id": "suite"}`)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, byte(authn.StatusSuspended), listAt(t, e.srv.URL)[idx], "its tokens read suspended")
	_, status = e.suiteToken(t)
	require.Equal(t, http.StatusUnauthorized, status, "a suspended caller gets no token")

	status, _ = e.admin(t, "/admin/reinstate", `{"client_id": "suite"}`)
	require.Equal(t, http.StatusOK, status)
	e.clock.Advance(time.Second) // past the replica's client cache
	require.Equal(t, byte(authn.StatusValid), listAt(t, e.srv.URL)[idx])
	_, status = e.suiteToken(t)
	require.Equal(t, http.StatusOK, status)

	status, _ = e.admin(t, "/admin/revoke", `{"client_id": "suite"}`)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, byte(authn.StatusInvalid), listAt(t, e.srv.URL)[idx])
	r := e.post(t, form, "grant_type=client_credentials&audience=logging-service", "suite", secret)
	require.Equal(t, http.StatusUnauthorized, r.status)
	require.Equal(t, "invalid_client", r.body["error"])
	status, _ = e.admin(t, "/admin/reinstate", `{"client_id": "suite"}`)
	require.Equal(t, http.StatusOK, status)
	e.clock.Advance(time.Second)
	_, status = e.suiteToken(t)
	require.Equal(t, http.StatusUnauthorized, status, "revocation is for good: reinstating does not undo it")

	for path, body := range map[string]string{"/admin/revoke": `{"client_id": "nobody"}`, "/admin/suspend": `{"client_id": "nobody"}`} {
		status, _ := e.admin(t, path, body)
		require.Equal(t, http.StatusNotFound, status, path)
	}
	status, _ = e.admin(t, "/admin/revoke", `{"jti": "a", "client_id": "suite"}`)
	require.Equal(t, http.StatusBadRequest, status)
}

func TestStatusList_AdminNeedsTheSecret(t *testing.T) {
	e := newEnv(t)
	withStatusList(t, e)
	status, _ := testutil.Do(t, http.MethodPost, e.srv.URL+"/admin/revoke", "", `{"client_id": "suite"}`)
	require.Equal(t, http.StatusUnauthorized, status)
	_, status = e.suiteToken(t)
	require.Equal(t, http.StatusOK, status)
}

// Replicas on one PostgreSQL database share one list: they never give one
// slot to two live tokens, and a revocation made at one is in the list the
// other serves.
func TestStatusList_SharedAcrossReplicas(t *testing.T) {
	e := newEnvOn(t, dbtest.Postgres(t))
	withStatusList(t, e)
	other := e.process(t)
	var mu sync.Mutex
	seen := map[int]bool{}
	var wg sync.WaitGroup
	for i := range statusListSize / 2 {
		wg.Go(func() {
			replica := e
			if i%2 == 1 {
				replica = other
			}
			raw := replica.tokenFor("suite", secret)
			if raw == "" {
				t.Errorf("no token:\n%s", replica.logs.String())
				return
			}
			mu.Lock()
			defer mu.Unlock()
			idx := claimsOfRaw(raw)
			if seen[idx] {
				t.Errorf("index %d given to two live tokens", idx)
			}
			seen[idx] = true
		})
	}
	wg.Wait()
	require.Len(t, seen, statusListSize/2)
	held, _ := e.suiteToken(t)
	status, _ := e.admin(t, "/admin/revoke", `{"jti": "`+claimsOf(t, held).JTI+`"}`)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, byte(authn.StatusInvalid), listAt(t, other.srv.URL)[claimsOf(t, held).Status.StatusList.Index])
}

// tokenFor gets a client_secret_basic token for logging-service, or ""
// (fit for a goroutine other than the test's).
func (e *env) tokenFor(client, secret string) string {
	_, body := e.postQuietly("grant_type=client_credentials&audience=logging-service", client, secret)
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(body, &tr)
	return tr.AccessToken
}

func claimsOfRaw(raw string) int {
	parts := strings.Split(raw, ".")
	data, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c statusOf
	_ = json.Unmarshal(data, &c)
	return c.Status.StatusList.Index
}
