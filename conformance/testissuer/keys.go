// Package testissuer is the conformance suite's own token issuer: the keys
// the servers under test are told to trust, served as a JWKS with RFC 8414
// and OpenID discovery, over plain HTTP or TLS from a CA of its own.
//
// Its keys live in a directory, so a restart, or a second process pointed
// at the same directory, serves the same keys: a server that fetched the
// JWKS once keeps accepting the suite's tokens run after run. Every kid is
// the key's RFC 7638 thumbprint, so a new key never hides behind a kid a
// server has cached for an old one.
//
//	keys, _ := testissuer.LoadKeys(dir)     // made on first use
//	srv := testissuer.NewServer(keys.Documents("https://127.0.0.1:9443"))
//	tlsConfig, _ := testissuer.LoadTLS(dir, "127.0.0.1")
//
// It signs nothing itself: the suite mints every token from the same keys.
package testissuer

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// Algorithms the issuer has keys for, in the order `-alg auto` tries them.
var Algorithms = []string{"EdDSA", "ES256", "RS256", "PS256"}

// Roles a key can play. Only Primary and Rotated keys are in the JWKS the
// servers trust; Other belongs to another issuer, Attacker to nobody.
const (
	Primary  = "primary"
	Rotated  = "rotated"
	Other    = "other"
	Attacker = "attacker"
)

var roles = []string{Primary, Rotated, Other, Attacker}

// keysFile is the private key material inside the keys directory.
const keysFile = "signing-keys.json"

// Key is a private signing key with the kid and alg it signs under.
type Key struct {
	ID        string
	Algorithm string
	Signer    crypto.Signer
}

// Public returns the key as a JWK, without private parameters.
func (k Key) Public() jwk.Key {
	return jwk.Key{ID: k.ID, Algorithm: k.Algorithm, Public: k.Signer.Public()}
}

// Keys holds one key per role and algorithm.
type Keys struct {
	byRole map[string]map[string]Key
}

// Get returns the key for role and alg; ok is false for an unknown pair.
func (k *Keys) Get(role, alg string) (Key, bool) {
	key, ok := k.byRole[role][alg]
	return key, ok
}

// Trusted returns the public keys of the JWKS the servers trust.
func (k *Keys) Trusted() []jwk.Key {
	var out []jwk.Key
	for _, alg := range Algorithms {
		for _, role := range []string{Primary, Rotated} {
			out = append(out, k.byRole[role][alg].Public())
		}
	}
	return out
}

// storedKey is one entry of keysFile.
type storedKey struct {
	Role      string `json:"role"`
	Algorithm string `json:"alg"`
	PKCS8     []byte `json:"pkcs8"`
}

// LoadKeys reads the keys in dir, making dir and any missing key first.
// Two processes that start at once agree on one set: the file is created
// with a link, which fails if the other process got there first.
func LoadKeys(dir string) (*Keys, error) {
	path := filepath.Join(dir, keysFile)
	keys, err := readKeys(path)
	if err == nil {
		return keys, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("testissuer: %w", err)
	}
	keys, data, err := generateKeys()
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, keysFile+".*")
	if err != nil {
		return nil, fmt.Errorf("testissuer: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	switch {
	case errors.Is(err, os.ErrExist):
		return readKeys(path)
	case err != nil:
		return nil, fmt.Errorf("testissuer: %w", err)
	}
	return keys, nil
}

// DefaultKeysDir is where keys live unless -keys says otherwise: the user's
// cache directory (~/.cache/s2sjwt-conformance on Linux), or the system's
// temporary directory when there is no home.
func DefaultKeysDir() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "s2sjwt-conformance")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("s2sjwt-conformance-%d", os.Getuid()))
}

// NewKeys makes keys that live only in memory.
func NewKeys() (*Keys, error) {
	keys, _, err := generateKeys()
	return keys, err
}

func generateKeys() (*Keys, []byte, error) {
	keys := &Keys{byRole: map[string]map[string]Key{}}
	var stored []storedKey
	for _, role := range roles {
		keys.byRole[role] = map[string]Key{}
		for _, alg := range Algorithms {
			signer, err := jwk.Generate(keyType(alg))
			if err != nil {
				return nil, nil, err
			}
			der, err := x509.MarshalPKCS8PrivateKey(signer)
			if err != nil {
				return nil, nil, fmt.Errorf("testissuer: %w", err)
			}
			stored = append(stored, storedKey{Role: role, Algorithm: alg, PKCS8: der})
			if keys.byRole[role][alg], err = newKey(alg, signer); err != nil {
				return nil, nil, err
			}
		}
	}
	data, err := json.MarshalIndent(stored, "", "  ")
	return keys, data, err
}

func readKeys(path string) (*Keys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var stored []storedKey
	if err := json.Unmarshal(data, &stored); err != nil {
		return nil, fmt.Errorf("testissuer: %s: %w", path, err)
	}
	keys := &Keys{byRole: map[string]map[string]Key{}}
	for _, s := range stored {
		priv, err := x509.ParsePKCS8PrivateKey(s.PKCS8)
		if err != nil {
			return nil, fmt.Errorf("testissuer: %s: %w", path, err)
		}
		signer, ok := priv.(crypto.Signer)
		if !ok || !slices.Contains(roles, s.Role) {
			return nil, fmt.Errorf("testissuer: %s: bad %s key", path, s.Role)
		}
		if keys.byRole[s.Role] == nil {
			keys.byRole[s.Role] = map[string]Key{}
		}
		if keys.byRole[s.Role][s.Algorithm], err = newKey(s.Algorithm, signer); err != nil {
			return nil, err
		}
	}
	for _, role := range roles {
		for _, alg := range Algorithms {
			if _, ok := keys.byRole[role][alg]; !ok {
				return nil, fmt.Errorf("testissuer: %s lacks the %s %s key: delete the directory to start afresh", path, role, alg)
			}
		}
	}
	return keys, nil
}

func newKey(alg string, signer crypto.Signer) (Key, error) {
	if _, isRSA := signer.(*rsa.PrivateKey); isRSA != (keyType(alg) == "RS256") {
		return Key{}, fmt.Errorf("testissuer: a %T cannot sign %s", signer, alg)
	}
	kid, err := jwk.Thumbprint(signer.Public())
	return Key{ID: kid, Algorithm: alg, Signer: signer}, err
}

// keyType maps an algorithm to the one jwk.Generate makes its key with:
// PS256 signs with an RSA key of its own, never shared with RS256.
func keyType(alg string) string {
	if alg == "PS256" {
		return "RS256"
	}
	return alg
}
