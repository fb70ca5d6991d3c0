package identity_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/identity"
	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/database/dbtest"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/replay"
	"github.com/s2sjwt/s2sjwt/internal/testutil"
)

var testKeySecret = []byte("identity-key-secret-for-tests-only-0123456789")

// openDB opens Identity's tables in the database at url.
func openDB(tb testing.TB, url string) *database.DB {
	tb.Helper()
	db, err := database.Open(context.Background(), url, "identity", identity.KeysSchema, replay.Schema, identity.StatusSchema)
	require.NoError(tb, err)
	tb.Cleanup(func() { db.Close() })
	return db
}

// openKeys opens a key store on db, sealed with testKeySecret unless cfg says.
func openKeys(tb testing.TB, db *database.DB, cfg identity.KeyStoreConfig) *identity.KeyStore {
	tb.Helper()
	cfg.DB = db
	if cfg.Secret == nil {
		cfg.Secret = testKeySecret
	}
	ks, err := identity.OpenKeyStore(context.Background(), cfg)
	require.NoError(tb, err)
	return ks
}

func TestKeyStore_PersistsSealed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		cfg := identity.KeyStoreConfig{Algorithm: jwk.ES256, RotationInterval: time.Hour, Retain: time.Minute}
		db := openDB(t, url)
		first := openKeys(t, db, cfg)
		db.Close() // a restart
		db = openDB(t, url)
		again := openKeys(t, db, cfg)
		db.Close()
		require.Equal(t, first.PublicKeys(ctx)[0].ID, again.PublicKeys(ctx)[0].ID, "keys survive a restart")
		require.Equal(t, jwk.ES256, again.PublicKeys(ctx)[0].Algorithm)

		cfg.DB, cfg.Secret = openDB(t, url), []byte("another-secret-of-at-least-32-bytes-000")
		_, err := identity.OpenKeyStore(ctx, cfg)
		require.ErrorContains(t, err, "cannot unseal", "without the secret the stored keys are useless")
	})
}

func TestKeyStore_RefusesAShortSecret(t *testing.T) {
	_, err := identity.OpenKeyStore(context.Background(), identity.KeyStoreConfig{
		DB: openDB(t, dbtest.SQLite(t)), Secret: []byte("short"), RotationInterval: time.Hour, Retain: time.Hour,
	})
	require.ErrorContains(t, err, "at least 32 bytes")
}

// TestKeyStore_ImportsTheKeyFileOfOlderVersions: an upgrade keeps the key
// that signed yesterday's tokens and removes its unsealed file.
func TestKeyStore_ImportsTheKeyFileOfOlderVersions(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	kid, err := jwk.Thumbprint(priv.Public())
	require.NoError(t, err)
	created := time.Now().Add(-time.Minute).UTC()
	file, err := json.Marshal([]map[string]any{{"kid": kid, "alg": "EdDSA", "pkcs8": der, "created": created, "active_from": created}})
	require.NoError(t, err)
	legacy := filepath.Join(t.TempDir(), "signing-keys.json")
	require.NoError(t, os.WriteFile(legacy, file, 0o600))

	ks := openKeys(t, openDB(t, dbtest.SQLite(t)), identity.KeyStoreConfig{LegacyPath: legacy, RotationInterval: time.Hour, Retain: time.Hour})
	keys := ks.PublicKeys(context.Background())
	require.Len(t, keys, 1, "no new key: the imported one is still current")
	require.Equal(t, kid, keys[0].ID)
	require.NoFileExists(t, legacy)
}

// TestKeyStore_ReplicasRotateOnceAndServeTheSameKeys: two Identity
// replicas on one PostgreSQL database find the signing key due at the same
// moment; one new key is made, both publish it, and both sign with it once
// its publish lead has passed. A rotation forced at one replica is served
// by the other within Reload.
func TestKeyStore_ReplicasRotateOnceAndServeTheSameKeys(t *testing.T) {
	url := dbtest.Postgres(t)
	ctx := context.Background()
	clk := testutil.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	cfg := identity.KeyStoreConfig{RotationInterval: time.Hour, PublishLead: 20 * time.Second, Retain: 2 * time.Hour, Reload: time.Second, Now: clk.Now}
	a, b := openKeys(t, openDB(t, url), cfg), openKeys(t, openDB(t, url), cfg)
	require.Equal(t, kids(a.PublicKeys(ctx)), kids(b.PublicKeys(ctx)), "the second replica found the first one's key")

	clk.Advance(time.Hour)
	var wg sync.WaitGroup
	for _, ks := range []*identity.KeyStore{a, b, a, b} {
		wg.Go(func() {
			_, err := ks.Signer(ctx)
			require.NoError(t, err)
		})
	}
	wg.Wait()
	clk.Advance(time.Second) // Reload
	require.Len(t, a.PublicKeys(ctx), 2, "one rotation, not one per replica")
	require.Equal(t, kids(a.PublicKeys(ctx)), kids(b.PublicKeys(ctx)))

	clk.Advance(cfg.PublishLead)
	ka, err := a.Signer(ctx)
	require.NoError(t, err)
	kb, err := b.Signer(ctx)
	require.NoError(t, err)
	require.Equal(t, ka.ID, kb.ID)
	require.Equal(t, a.PublicKeys(ctx)[0].ID, ka.ID, "the new key signs")

	forced, err := a.Rotate(ctx)
	require.NoError(t, err)
	clk.Advance(time.Second)
	require.Contains(t, kids(b.PublicKeys(ctx)), forced, "a rotation at one replica is published by the other")
}

func kids(keys []jwk.Key) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.ID)
	}
	return out
}

// TestKeyStore_KeepsServingWhenTheDatabaseIsGone: a reload that fails
// leaves the keys in memory signing and published.
func TestKeyStore_KeepsServingWhenTheDatabaseIsGone(t *testing.T) {
	ctx := context.Background()
	clk := testutil.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	db := openDB(t, dbtest.SQLite(t))
	ks := openKeys(t, db, identity.KeyStoreConfig{RotationInterval: time.Hour, Retain: time.Hour, Reload: time.Second, Now: clk.Now})
	kid := ks.PublicKeys(ctx)[0].ID
	require.NoError(t, db.Close())
	clk.Advance(2 * time.Second)
	key, err := ks.Signer(ctx)
	require.NoError(t, err)
	require.Equal(t, kid, key.ID)
	require.Equal(t, kid, ks.PublicKeys(ctx)[0].ID)
}
