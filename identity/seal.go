package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// MinKeySecret is the shortest secret that may seal signing keys.
const MinKeySecret = 32

// sealer encrypts private keys at rest with AES-256-GCM, under a key
// derived from the operator's secret (HKDF-SHA256). The kid is the
// additional data: a sealed key moved to another row does not open.
type sealer struct{ aead cipher.AEAD }

func newSealer(secret []byte) (*sealer, error) {
	if len(secret) < MinKeySecret {
		return nil, fmt.Errorf("identity: the key secret must be at least %d bytes", MinKeySecret)
	}
	key, err := deriveKey(secret, "s2sjwt identity signing keys v1")
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// deriveKey derives a 32-byte key for one purpose from the key secret.
func deriveKey(secret []byte, purpose string) ([]byte, error) {
	return hkdf.Key(sha256.New, secret, nil, purpose, 32)
}

// seal returns nonce ‖ ciphertext.
func (s *sealer) seal(kid string, plain []byte) []byte {
	nonce := randomBytes(s.aead.NonceSize())
	return s.aead.Seal(nonce, nonce, plain, []byte(kid))
}

var errUnseal = errors.New("cannot unseal: another key secret (IDENTITY_KEY_SECRET), or the row was altered")

func (s *sealer) open(kid string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errUnseal
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(kid))
	if err != nil {
		return nil, errUnseal
	}
	return plain, nil
}

// loadOrCreateSecret reads the key secret at path, first creating a random
// one (mode 0600) if there is none. For the embedded database only: the
// sealed keys and their secret then sit side by side, but a copy of the
// database alone (a backup) does not give the keys away.
func loadOrCreateSecret(path string) ([]byte, error) {
	secret, err := os.ReadFile(path)
	if err == nil {
		return secret, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("identity: key secret: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("identity: key secret: %w", err)
	}
	secret = []byte(hex.EncodeToString(randomBytes(32)))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("identity: key secret: %w", err)
	}
	_, err = f.Write(secret)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("identity: key secret: %w", err)
	}
	return secret, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}
