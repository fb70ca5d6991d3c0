package identity

import (
	"context"
	"crypto"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/database"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// KeysSchema holds the signing keys, sealed, and the row that serialises
// rotations between replicas.
var KeysSchema = database.Schema{Name: "identity_keys", Migrations: []database.Migration{{
	SQLite: `CREATE TABLE signing_keys (
		kid         TEXT PRIMARY KEY,
		alg         TEXT NOT NULL,
		sealed      BLOB NOT NULL,    -- PKCS #8, sealed (seal.go)
		created     INTEGER NOT NULL, -- unix nanoseconds
		active_from INTEGER NOT NULL
	);
	CREATE TABLE key_rotation (id INTEGER PRIMARY KEY, at INTEGER NOT NULL);
	INSERT INTO key_rotation VALUES (1, 0);`,
	Postgres: `CREATE TABLE signing_keys (
		kid         TEXT PRIMARY KEY,
		alg         TEXT NOT NULL,
		sealed      BYTEA NOT NULL,
		created     BIGINT NOT NULL,
		active_from BIGINT NOT NULL
	);
	CREATE TABLE key_rotation (id INTEGER PRIMARY KEY, at BIGINT NOT NULL);
	INSERT INTO key_rotation VALUES (1, 0);`,
}}}

// KeyStoreConfig configures a KeyStore.
type KeyStoreConfig struct {
	// DB holds KeysSchema; replicas of Identity share it.
	DB *database.DB
	// Secret seals the private keys at rest (at least 32 bytes); every
	// replica needs the same one.
	Secret []byte
	// LegacyPath is the key file of versions before the database held the
	// keys: imported into an empty store, then removed.
	LegacyPath string
	// Algorithm for new keys: EdDSA (default), ES256 or RS256.
	Algorithm string
	// RotationInterval: a key older than this is replaced on next use.
	RotationInterval time.Duration
	// PublishLead: a new key is published this long before it signs, so every
	// verifier that refetches on an unknown kid (at most once per its refresh
	// interval) already has it. Must be at least the verifiers' interval
	// plus Reload.
	PublishLead time.Duration
	// Retain: a replaced key stays published this long (the longest token
	// lifetime plus leeway), so no token it signed is rejected.
	Retain time.Duration
	// Reload is how often the keys are read again, so that a key another
	// replica added is served here too; 1 s if zero.
	Reload time.Duration
	Now    func() time.Time
}

type signingKey struct {
	ID         string
	Algorithm  string
	Signer     crypto.Signer
	Created    time.Time
	ActiveFrom time.Time
}

// KeyStore holds Identity's signing keys in the database, rotates them,
// and keeps a copy in memory that it reads again every Reload.
type KeyStore struct {
	cfg    KeyStoreConfig
	sealer *sealer

	mu       sync.Mutex
	keys     []signingKey // oldest first
	loadedAt time.Time
}

// OpenKeyStore opens the keys in cfg.DB, creating a first key if there are none.
func OpenKeyStore(ctx context.Context, cfg KeyStoreConfig) (*KeyStore, error) {
	if cfg.Algorithm == "" {
		cfg.Algorithm = jwk.EdDSA
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Reload <= 0 {
		cfg.Reload = time.Second
	}
	if cfg.RotationInterval <= 0 || cfg.Retain <= 0 || cfg.PublishLead < 0 {
		return nil, errors.New("identity: key store: rotation interval and retention must be positive")
	}
	s, err := newSealer(cfg.Secret)
	if err != nil {
		return nil, err
	}
	ks := &KeyStore{cfg: cfg, sealer: s}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if cfg.LegacyPath != "" {
		if err := ks.importLegacyLocked(ctx); err != nil {
			return nil, err
		}
	}
	// The very first key signs at once: nobody can have cached a JWKS yet.
	if err := ks.changeLocked(ctx, func(stored []signingKey) ([]signingKey, error) {
		if len(stored) > 0 {
			return nil, nil
		}
		return ks.newKey(cfg.Now())
	}); err != nil {
		return nil, err
	}
	return ks, nil
}

// Signer returns the key that signs now, rotating first if it is due.
func (ks *KeyStore) Signer(ctx context.Context) (signingKey, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.reloadIfDueLocked(ctx)
	now := ks.cfg.Now()
	if now.Sub(ks.keys[len(ks.keys)-1].Created) >= ks.cfg.RotationInterval {
		// Another replica may have rotated meanwhile: the decision is taken
		// again under the database lock, on the keys stored there.
		err := ks.changeLocked(ctx, func(stored []signingKey) ([]signingKey, error) {
			if len(stored) > 0 && now.Sub(stored[len(stored)-1].Created) < ks.cfg.RotationInterval {
				return nil, nil
			}
			return ks.newKey(now.Add(ks.cfg.PublishLead))
		})
		if err != nil {
			return signingKey{}, err
		}
	}
	return activeKey(ks.keys, now), nil
}

// MaxPublishedKeys bounds the keys in the JWKS: rotations beyond it are
// refused until replaced keys expire, so the set stays far below what
// verifiers accept (1 MiB).
const MaxPublishedKeys = 8

// ErrTooManyKeys refuses a rotation that would publish more than
// MaxPublishedKeys keys.
var ErrTooManyKeys = errors.New("identity: too many keys published; wait until replaced keys expire")

// Rotate adds a key that starts signing after PublishLead.
// Ready reports whether a token could be signed now: the store has a
// current key and its database answers.
func (ks *KeyStore) Ready(ctx context.Context) error {
	if _, err := ks.Signer(ctx); err != nil {
		return err
	}
	return ks.cfg.DB.PingContext(ctx)
}

func (ks *KeyStore) Rotate(ctx context.Context) (kid string, err error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	err = ks.changeLocked(ctx, func(stored []signingKey) ([]signingKey, error) {
		if len(stored) >= MaxPublishedKeys {
			return nil, ErrTooManyKeys
		}
		return ks.newKey(ks.cfg.Now().Add(ks.cfg.PublishLead))
	})
	if err != nil {
		return "", err
	}
	return ks.keys[len(ks.keys)-1].ID, nil
}

// MaxCacheAge is how long an HTTP cache may keep the JWKS: half the publish
// lead, so no cache still serves a set without a key once that key signs.
func (ks *KeyStore) MaxCacheAge() time.Duration { return ks.cfg.PublishLead / 2 }

// PublicKeys returns every key a valid token may have been signed with,
// plus keys about to sign.
func (ks *KeyStore) PublicKeys(ctx context.Context) []jwk.Key {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.reloadIfDueLocked(ctx)
	keys := ks.liveKeys(ks.keys, ks.cfg.Now())
	out := make([]jwk.Key, 0, len(keys))
	for i := len(keys) - 1; i >= 0; i-- {
		k := keys[i]
		out = append(out, jwk.Key{ID: k.ID, Algorithm: k.Algorithm, Public: k.Signer.Public()})
	}
	return out
}

// activeKey returns the newest key already allowed to sign.
func activeKey(keys []signingKey, now time.Time) signingKey {
	for i := len(keys) - 1; i > 0; i-- {
		if !keys[i].ActiveFrom.After(now) {
			return keys[i]
		}
	}
	return keys[0]
}

// liveKeys leaves out keys replaced more than Retain ago.
func (ks *KeyStore) liveKeys(keys []signingKey, now time.Time) []signingKey {
	active := activeKey(keys, now)
	var live []signingKey
	for i, k := range keys {
		replacedAt := time.Time{}
		if i+1 < len(keys) {
			replacedAt = keys[i+1].ActiveFrom
		}
		if k.ID == active.ID || replacedAt.IsZero() || now.Sub(replacedAt) < ks.cfg.Retain || replacedAt.After(now) {
			live = append(live, k)
		}
	}
	return live
}

// changeLocked, under the database's rotation lock, deletes expired keys
// and stores the keys add returns, given the live ones stored (none: no
// change); then it reloads the memory copy. Replicas deciding at once
// decide one after the other, each on what the one before stored.
func (ks *KeyStore) changeLocked(ctx context.Context, add func(stored []signingKey) ([]signingKey, error)) error {
	tx, err := ks.cfg.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("identity: key store: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// A row lock on PostgreSQL, the write lock on SQLite: one change at a time.
	if _, err := tx.ExecContext(ctx, `UPDATE key_rotation SET at = $1 WHERE id = 1`, ks.cfg.Now().UnixNano()); err != nil {
		return fmt.Errorf("identity: key store: lock: %w", err)
	}
	stored, err := ks.read(ctx, tx)
	if err != nil {
		return err
	}
	if len(stored) > 0 {
		live := ks.liveKeys(stored, ks.cfg.Now())
		if err := deleteExpired(ctx, tx, stored, live); err != nil {
			return err
		}
		stored = live
	}
	added, err := add(stored)
	if err != nil {
		return err
	}
	for _, k := range added {
		if err := ks.store(ctx, tx, k); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("identity: key store: %w", err)
	}
	return ks.reloadLocked(ctx)
}

func deleteExpired(ctx context.Context, tx *sql.Tx, all, live []signingKey) error {
	kept := map[string]bool{}
	for _, k := range live {
		kept[k.ID] = true
	}
	for _, k := range all {
		if kept[k.ID] {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM signing_keys WHERE kid = $1`, k.ID); err != nil {
			return fmt.Errorf("identity: key store: %w", err)
		}
	}
	return nil
}

// newKey generates a key that signs from activeFrom.
func (ks *KeyStore) newKey(activeFrom time.Time) ([]signingKey, error) {
	signer, err := jwk.Generate(ks.cfg.Algorithm)
	if err != nil {
		return nil, err
	}
	return []signingKey{{Algorithm: ks.cfg.Algorithm, Signer: signer, Created: ks.cfg.Now(), ActiveFrom: activeFrom}}, nil
}

// store seals k's private key and inserts it, its kid the RFC 7638 thumbprint.
func (ks *KeyStore) store(ctx context.Context, tx *sql.Tx, k signingKey) error {
	kid, err := jwk.Thumbprint(k.Signer.Public())
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Signer)
	if err != nil {
		return fmt.Errorf("identity: key store: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO signing_keys (kid, alg, sealed, created, active_from) VALUES ($1, $2, $3, $4, $5)`,
		kid, k.Algorithm, ks.sealer.seal(kid, der), k.Created.UnixNano(), k.ActiveFrom.UnixNano())
	if err != nil {
		return fmt.Errorf("identity: key store: %w", err)
	}
	return nil
}

// reloadTimeout bounds a reload: a database that hangs delays signing by
// at most this, once per Reload.
const reloadTimeout = time.Second

// reloadIfDueLocked reads the keys again once Reload has passed. If the
// database does not answer, the keys in memory keep serving until the next
// try, a Reload later.
func (ks *KeyStore) reloadIfDueLocked(ctx context.Context) {
	if ks.cfg.Now().Sub(ks.loadedAt) < ks.cfg.Reload {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reloadTimeout)
	defer cancel()
	if err := ks.reloadLocked(ctx); err != nil {
		ks.loadedAt = ks.cfg.Now()
	}
}

func (ks *KeyStore) reloadLocked(ctx context.Context) error {
	keys, err := ks.read(ctx, ks.cfg.DB)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return errors.New("identity: key store: no keys stored")
	}
	ks.keys, ks.loadedAt = keys, ks.cfg.Now()
	return nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// read returns the stored keys, oldest first; a key already in memory is
// not unsealed again.
func (ks *KeyStore) read(ctx context.Context, q querier) ([]signingKey, error) {
	known := map[string]crypto.Signer{}
	for _, k := range ks.keys {
		known[k.ID] = k.Signer
	}
	rows, err := q.QueryContext(ctx, `SELECT kid, alg, sealed, created, active_from FROM signing_keys ORDER BY created, kid`)
	if err != nil {
		return nil, fmt.Errorf("identity: key store: %w", err)
	}
	defer rows.Close()
	var keys []signingKey
	for rows.Next() {
		var (
			k                   signingKey
			sealed              []byte
			created, activeFrom int64
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &sealed, &created, &activeFrom); err != nil {
			return nil, fmt.Errorf("identity: key store: %w", err)
		}
		k.Created, k.ActiveFrom = time.Unix(0, created), time.Unix(0, activeFrom)
		if k.Signer = known[k.ID]; k.Signer == nil {
			if k.Signer, err = ks.unseal(k.ID, sealed); err != nil {
				return nil, err
			}
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

func (ks *KeyStore) unseal(kid string, sealed []byte) (crypto.Signer, error) {
	der, err := ks.sealer.open(kid, sealed)
	if err != nil {
		return nil, fmt.Errorf("identity: key store: key %s: %w", kid, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("identity: key store: key %s: %w", kid, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("identity: key store: key %s is not a signer", kid)
	}
	return signer, nil
}

// legacyKey is a key in the file of older versions.
type legacyKey struct {
	Algorithm  string    `json:"alg"`
	PKCS8      []byte    `json:"pkcs8"`
	Created    time.Time `json:"created"`
	ActiveFrom time.Time `json:"active_from"`
}

// importLegacyLocked moves the keys of an older version's key file into an
// empty store, then removes the file: tokens they signed stay valid, and
// no unsealed copy stays on disk.
func (ks *KeyStore) importLegacyLocked(ctx context.Context) error {
	data, err := os.ReadFile(ks.cfg.LegacyPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("identity: key store: %w", err)
	}
	var legacy []legacyKey
	if err := json.Unmarshal(data, &legacy); err != nil {
		return fmt.Errorf("identity: key store %s: %w", ks.cfg.LegacyPath, err)
	}
	err = ks.changeLocked(ctx, func(stored []signingKey) ([]signingKey, error) {
		if len(stored) > 0 {
			return nil, nil // imported before; only the file's removal failed
		}
		var keys []signingKey
		for _, l := range legacy {
			priv, err := x509.ParsePKCS8PrivateKey(l.PKCS8)
			if err != nil {
				return nil, fmt.Errorf("identity: key store %s: %w", ks.cfg.LegacyPath, err)
			}
			signer, ok := priv.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("identity: key store %s: not a signing key", ks.cfg.LegacyPath)
			}
			keys = append(keys, signingKey{Algorithm: l.Algorithm, Signer: signer, Created: l.Created, ActiveFrom: l.ActiveFrom})
		}
		return keys, nil
	})
	if err != nil {
		return err
	}
	return os.Remove(ks.cfg.LegacyPath)
}
