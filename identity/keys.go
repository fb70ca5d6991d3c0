package identity

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// KeyStoreConfig configures a KeyStore.
type KeyStoreConfig struct {
	// Path of the key file; it is written with mode 0600.
	Path string
	// Algorithm for new keys: EdDSA (default), ES256 or RS256.
	Algorithm string
	// RotationInterval: a key older than this is replaced on next use.
	RotationInterval time.Duration
	// PublishLead: a new key is published this long before it signs, so every
	// verifier that refetches on an unknown kid (at most once per its refresh
	// interval) already has it. Must be at least the verifiers' interval.
	PublishLead time.Duration
	// Retain: a replaced key stays published this long (the longest token
	// lifetime plus leeway), so no token it signed is rejected.
	Retain time.Duration
	Now    func() time.Time
}

type signingKey struct {
	ID         string
	Algorithm  string
	Signer     crypto.Signer
	Created    time.Time
	ActiveFrom time.Time
}

// storedKey is the on-disk form.
type storedKey struct {
	ID         string    `json:"kid"`
	Algorithm  string    `json:"alg"`
	PKCS8      []byte    `json:"pkcs8"`
	Created    time.Time `json:"created"`
	ActiveFrom time.Time `json:"active_from"`
}

// KeyStore holds Identity's signing keys, persists them, and rotates them.
type KeyStore struct {
	cfg  KeyStoreConfig
	mu   sync.Mutex
	keys []signingKey // oldest first
}

// OpenKeyStore loads the keys at cfg.Path, creating a first key if there are none.
func OpenKeyStore(cfg KeyStoreConfig) (*KeyStore, error) {
	if cfg.Algorithm == "" {
		cfg.Algorithm = jwk.EdDSA
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RotationInterval <= 0 || cfg.Retain <= 0 || cfg.PublishLead < 0 {
		return nil, errors.New("identity: key store: rotation interval and retention must be positive")
	}
	ks := &KeyStore{cfg: cfg}
	data, err := os.ReadFile(cfg.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("identity: key store: %w", err)
	default:
		if err := ks.decode(data); err != nil {
			return nil, err
		}
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if len(ks.keys) == 0 {
		// The very first key signs at once: nobody can have cached a JWKS yet.
		if err := ks.addLocked(cfg.Now()); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

func (ks *KeyStore) decode(data []byte) error {
	var stored []storedKey
	if err := json.Unmarshal(data, &stored); err != nil {
		return fmt.Errorf("identity: key store %s: %w", ks.cfg.Path, err)
	}
	for _, s := range stored {
		priv, err := x509.ParsePKCS8PrivateKey(s.PKCS8)
		if err != nil {
			return fmt.Errorf("identity: key store: key %s: %w", s.ID, err)
		}
		signer, ok := priv.(crypto.Signer)
		if !ok {
			return fmt.Errorf("identity: key store: key %s is not a signer", s.ID)
		}
		ks.keys = append(ks.keys, signingKey{s.ID, s.Algorithm, signer, s.Created, s.ActiveFrom})
	}
	return nil
}

// Signer returns the key that signs now, rotating first if it is due.
func (ks *KeyStore) Signer() (signingKey, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	now := ks.cfg.Now()
	newest := ks.keys[len(ks.keys)-1]
	if now.Sub(newest.Created) >= ks.cfg.RotationInterval {
		if err := ks.addLocked(now.Add(ks.cfg.PublishLead)); err != nil {
			return signingKey{}, err
		}
	}
	return ks.activeLocked(now), nil
}

// activeLocked returns the newest key already allowed to sign.
func (ks *KeyStore) activeLocked(now time.Time) signingKey {
	for i := len(ks.keys) - 1; i > 0; i-- {
		if !ks.keys[i].ActiveFrom.After(now) {
			return ks.keys[i]
		}
	}
	return ks.keys[0]
}

// MaxPublishedKeys bounds the keys in the JWKS: rotations beyond it are
// refused until replaced keys expire, so the set stays far below what
// verifiers accept (1 MiB).
const MaxPublishedKeys = 8

// ErrTooManyKeys refuses a rotation that would publish more than
// MaxPublishedKeys keys.
var ErrTooManyKeys = errors.New("identity: too many keys published; wait until replaced keys expire")

// Rotate adds a key that starts signing after PublishLead.
func (ks *KeyStore) Rotate() (kid string, err error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.pruneLocked(ks.cfg.Now())
	if len(ks.keys) >= MaxPublishedKeys {
		return "", ErrTooManyKeys
	}
	if err := ks.addLocked(ks.cfg.Now().Add(ks.cfg.PublishLead)); err != nil {
		return "", err
	}
	return ks.keys[len(ks.keys)-1].ID, nil
}

// MaxCacheAge is how long an HTTP cache may keep the JWKS: half the publish
// lead, so no cache still serves a set without a key once that key signs.
func (ks *KeyStore) MaxCacheAge() time.Duration { return ks.cfg.PublishLead / 2 }

// PublicKeys returns every key a valid token may have been signed with,
// plus keys about to sign.
func (ks *KeyStore) PublicKeys() []jwk.Key {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.pruneLocked(ks.cfg.Now())
	out := make([]jwk.Key, 0, len(ks.keys))
	for i := len(ks.keys) - 1; i >= 0; i-- {
		k := ks.keys[i]
		out = append(out, jwk.Key{ID: k.ID, Algorithm: k.Algorithm, Public: k.Signer.Public()})
	}
	return out
}

// pruneLocked forgets keys replaced more than Retain ago.
func (ks *KeyStore) pruneLocked(now time.Time) {
	active := ks.activeLocked(now)
	kept := ks.keys[:0]
	for i, k := range ks.keys {
		replacedAt := time.Time{}
		if i+1 < len(ks.keys) {
			replacedAt = ks.keys[i+1].ActiveFrom
		}
		if k.ID == active.ID || replacedAt.IsZero() || now.Sub(replacedAt) < ks.cfg.Retain || replacedAt.After(now) {
			kept = append(kept, k)
		}
	}
	if len(kept) != len(ks.keys) {
		ks.keys = kept
		_ = ks.saveLocked() // a failed save only delays the pruning
	}
}

func (ks *KeyStore) addLocked(activeFrom time.Time) error {
	signer, err := jwk.Generate(ks.cfg.Algorithm)
	if err != nil {
		return err
	}
	kid, err := jwk.Thumbprint(signer.Public())
	if err != nil {
		return err
	}
	ks.keys = append(ks.keys, signingKey{kid, ks.cfg.Algorithm, signer, ks.cfg.Now(), activeFrom})
	if err := ks.saveLocked(); err != nil {
		ks.keys = ks.keys[:len(ks.keys)-1]
		return err
	}
	return nil
}

// saveLocked writes the keys atomically: a crash leaves the old file or the new one.
func (ks *KeyStore) saveLocked() error {
	stored := make([]storedKey, 0, len(ks.keys))
	for _, k := range ks.keys {
		der, err := x509.MarshalPKCS8PrivateKey(k.Signer)
		if err != nil {
			return fmt.Errorf("identity: key store: %w", err)
		}
		stored = append(stored, storedKey{k.ID, k.Algorithm, der, k.Created, k.ActiveFrom})
	}
	data, err := json.MarshalIndent(stored, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(ks.cfg.Path), 0o700); err != nil {
		return fmt.Errorf("identity: key store: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(ks.cfg.Path), ".keys-*")
	if err != nil {
		return fmt.Errorf("identity: key store: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("identity: key store: %w", err)
	}
	// CreateTemp already made the file 0600.
	return os.Rename(tmp.Name(), ks.cfg.Path)
}
