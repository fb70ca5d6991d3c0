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
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// Algorithms the issuer has keys for, in the order `-alg auto` tries them.
var Algorithms = []string{"EdDSA", "ES256", "RS256", "PS256"}

// Roles a key can play. Primary and Rotated keys are in the JWKS the
// servers trust as signing keys; EncOnly (use: enc), NoVerifyOps (key_ops
// without verify) and NoUse (no use member) are in it too, to see how a
// server treats a key's stated purpose. Other belongs to another issuer,
// Attacker to nobody.
const (
	Primary     = "primary"
	Rotated     = "rotated"
	EncOnly     = "enc-only"
	NoVerifyOps = "no-verify-ops"
	NoUse       = "no-use"
	Other       = "other"
	Attacker    = "attacker"
)

var roles = []string{Primary, Rotated, EncOnly, NoVerifyOps, NoUse, Other, Attacker}

// trustedRoles are the roles published in the trusted JWKS.
var trustedRoles = []string{Primary, Rotated, EncOnly, NoVerifyOps, NoUse}

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

// Keys holds one key per role and algorithm, and the token that lets a
// suite publish keys at a running issuer.
type Keys struct {
	byRole map[string]map[string]Key
	// ControlToken keys the MACs of POST /control/publish; it lives beside the
	// private keys, so only who can read them can change the key set.
	ControlToken string
}

// Get returns the key for role and alg; ok is false for an unknown pair.
func (k *Keys) Get(role, alg string) (Key, bool) {
	key, ok := k.byRole[role][alg]
	return key, ok
}

// Trusted returns the public keys of the JWKS the servers trust, each with
// its role.
func (k *Keys) Trusted() []RoleKey {
	var out []RoleKey
	for _, alg := range Algorithms {
		for _, role := range trustedRoles {
			out = append(out, RoleKey{Role: role, Key: k.byRole[role][alg].Public()})
		}
	}
	return out
}

// RoleKey is a public key and the role it plays.
type RoleKey struct {
	Role string
	jwk.Key
}

// MarshalJSON writes the key as the JWKS states its purpose: use: sig for
// signing keys, use: enc, key_ops without verify, or no use at all.
func (k RoleKey) MarshalJSON() ([]byte, error) {
	data, err := json.Marshal(k.Key)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	switch k.Role {
	case EncOnly:
		m["use"] = "enc"
	case NoVerifyOps:
		delete(m, "use")
		m["key_ops"] = []string{"encrypt"}
	case NoUse:
		delete(m, "use")
	}
	return json.Marshal(m)
}

// storedKey is one entry of keysFile.
type storedKey struct {
	Role      string `json:"role"`
	Algorithm string `json:"alg"`
	PKCS8     []byte `json:"pkcs8"`
}

// LoadKeys reads the keys in dir, making dir and any missing key first.
// Two processes that start at once agree on one set: the file is created
// with a link, which fails if the other process got there first. Keys a
// newer suite needs are added to an existing file, and the keys already in
// it stay, so servers that trust them go on doing so.
func LoadKeys(dir string) (*Keys, error) {
	path := filepath.Join(dir, keysFile)
	stored, err := readStored(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("testissuer: %w", err)
		}
		if stored, err = complete(nil); err != nil {
			return nil, err
		}
		if err := writeStored(dir, path, stored, true); errors.Is(err, os.ErrExist) {
			return LoadKeys(dir) // another process made it first: use its keys
		} else if err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		if n := len(stored); n < len(roles)*len(Algorithms) {
			if stored, err = complete(stored); err != nil {
				return nil, err
			}
			if err := writeStored(dir, path, stored, false); err != nil {
				return nil, err
			}
		}
	}
	keys, err := fromStored(path, stored)
	if err != nil {
		return nil, err
	}
	if keys.ControlToken, err = loadControlToken(dir); err != nil {
		return nil, err
	}
	return keys, nil
}

// controlTokenFile holds Keys.ControlToken in the keys directory.
const controlTokenFile = "control-token"

func loadControlToken(dir string) (string, error) {
	path := filepath.Join(dir, controlTokenFile)
	err := createOnce(path, []byte(randomToken()), 0o600)
	if err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("testissuer: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return "", fmt.Errorf("testissuer: control token: %v", err)
	}
	return strings.TrimSpace(string(data)), nil
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewKeys makes keys that live only in memory.
func NewKeys() (*Keys, error) {
	stored, err := complete(nil)
	if err != nil {
		return nil, err
	}
	keys, err := fromStored("memory", stored)
	if err == nil {
		keys.ControlToken = randomToken()
	}
	return keys, err
}

// complete adds a new key for every role and algorithm stored lacks.
func complete(stored []storedKey) ([]storedKey, error) {
	have := map[[2]string]bool{}
	for _, s := range stored {
		have[[2]string{s.Role, s.Algorithm}] = true
	}
	for _, role := range roles {
		for _, alg := range Algorithms {
			if have[[2]string{role, alg}] {
				continue
			}
			signer, err := jwk.Generate(keyType(alg))
			if err != nil {
				return nil, err
			}
			der, err := x509.MarshalPKCS8PrivateKey(signer)
			if err != nil {
				return nil, fmt.Errorf("testissuer: %w", err)
			}
			stored = append(stored, storedKey{Role: role, Algorithm: alg, PKCS8: der})
		}
	}
	return stored, nil
}

// writeStored writes the keys file through a temporary file: linked into
// place when it must not exist yet (os.ErrExist if it does), renamed over
// it otherwise.
func writeStored(dir, path string, stored []storedKey, create bool) error {
	data, err := json.MarshalIndent(stored, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, keysFile+".*")
	if err != nil {
		return fmt.Errorf("testissuer: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
	case create:
		err = os.Link(tmp.Name(), path)
	default:
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("testissuer: %w", err)
	}
	return err
}

func readStored(path string) ([]storedKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var stored []storedKey
	if err := json.Unmarshal(data, &stored); err != nil {
		return nil, fmt.Errorf("testissuer: %s: %w", path, err)
	}
	return stored, nil
}

func fromStored(path string, stored []storedKey) (*Keys, error) {
	keys := &Keys{byRole: map[string]map[string]Key{}}
	for _, s := range stored {
		priv, err := x509.ParsePKCS8PrivateKey(s.PKCS8)
		if err != nil {
			return nil, fmt.Errorf("testissuer: %s: %w", path, err)
		}
		signer, ok := priv.(crypto.Signer)
		if !ok || !slices.Contains(roles, s.Role) || !slices.Contains(Algorithms, s.Algorithm) {
			return nil, fmt.Errorf("testissuer: %s: bad %s %s key: delete the directory to start afresh", path, s.Role, s.Algorithm)
		}
		if keys.byRole[s.Role] == nil {
			keys.byRole[s.Role] = map[string]Key{}
		}
		if keys.byRole[s.Role][s.Algorithm], err = newKey(s.Algorithm, signer); err != nil {
			return nil, err
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

// DefaultKeysDir is where keys live unless -keys says otherwise: the user's
// cache directory (~/.cache/s2sjwt-conformance on Linux), or the system's
// temporary directory when there is no home.
func DefaultKeysDir() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "s2sjwt-conformance")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("s2sjwt-conformance-%d", os.Getuid()))
}

// NewKey makes a key for alg that lives only in memory, with its
// thumbprint as kid: a rotation's new key.
func NewKey(alg string) (Key, error) {
	signer, err := jwk.Generate(keyType(alg))
	if err != nil {
		return Key{}, err
	}
	return newKey(alg, signer)
}
