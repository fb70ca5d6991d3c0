package jwk_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

func TestKey_RoundTrip(t *testing.T) {
	for _, alg := range []string{jwk.EdDSA, jwk.ES256, jwk.RS256} {
		t.Run(alg, func(t *testing.T) {
			signer, err := jwk.Generate(alg)
			require.NoError(t, err)
			kid, err := jwk.Thumbprint(signer.Public())
			require.NoError(t, err)
			data, err := json.Marshal(jwk.Set{Keys: []jwk.Key{{ID: kid, Algorithm: alg, Public: signer.Public()}}})
			require.NoError(t, err)
			for _, private := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`} {
				require.NotContains(t, string(data), private)
			}
			var set jwk.Set
			require.NoError(t, json.Unmarshal(data, &set))
			require.Len(t, set.Keys, 1)
			require.Equal(t, kid, set.Keys[0].ID)
			require.Equal(t, alg, set.Keys[0].Algorithm)
			require.True(t, set.Keys[0].Public.(interface{ Equal(crypto.PublicKey) bool }).Equal(signer.Public()))
		})
	}
}

func TestKey_UnmarshalRefuses(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good, _ := json.Marshal(jwk.Key{ID: "k", Algorithm: jwk.ES256, Public: &ec.PublicKey})
	var m map[string]any
	require.NoError(t, json.Unmarshal(good, &m))
	for name, change := range map[string]func(map[string]any){
		"PointNotOnCurve": func(m map[string]any) { m["y"] = m["x"] },
		"AlgForOtherKey":  func(m map[string]any) { m["alg"] = "RS256" },
		"UseEnc":          func(m map[string]any) { m["use"] = "enc" },
		"KeyOpsNoVerify":  func(m map[string]any) { m["key_ops"] = []string{"encrypt", "wrapKey"} },
		"KeyOpsEmpty":     func(m map[string]any) { m["key_ops"] = []string{} },
		"Symmetric":       func(m map[string]any) { m["kty"] = "oct" },
		"OtherCurve":      func(m map[string]any) { m["crv"] = "P-384" },
	} {
		t.Run(name, func(t *testing.T) {
			bad := map[string]any{}
			for k, v := range m {
				bad[k] = v
			}
			change(bad)
			data, _ := json.Marshal(bad)
			var k jwk.Key
			require.ErrorIs(t, json.Unmarshal(data, &k), jwk.ErrUnsupportedKey)
		})
	}
	t.Run("OK/KeyOpsVerifyNoUse", func(t *testing.T) {
		ok := map[string]any{"key_ops": []string{"verify"}}
		for k, v := range m {
			if k != "use" {
				ok[k] = v
			}
		}
		data, _ := json.Marshal(ok)
		var k jwk.Key
		require.NoError(t, json.Unmarshal(data, &k))
	})
}

func TestSet_SkipsUnusableKeys(t *testing.T) {
	var set jwk.Set
	require.NoError(t, json.Unmarshal([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"hmac"},{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`), &set))
	require.Empty(t, set.Keys, "a symmetric key and a key without kid are both unusable here")
}

// TestKey_RSAForPS256: an RSA key published for PS256 keeps that alg (it
// was refused, so the suite's issuer could not publish one); PS256 on an
// EC key is still refused.
func TestKey_RSAForPS256(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	data, err := json.Marshal(jwk.Key{ID: "ps", Algorithm: jwk.PS256, Public: &key.PublicKey})
	require.NoError(t, err)
	var k jwk.Key
	require.NoError(t, json.Unmarshal(data, &k))
	require.Equal(t, jwk.PS256, k.Algorithm)

	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	data, _ = json.Marshal(jwk.Key{ID: "ec", Algorithm: jwk.ES256, Public: &ec.PublicKey})
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	m["alg"] = jwk.PS256
	data, _ = json.Marshal(m)
	require.ErrorIs(t, json.Unmarshal(data, &k), jwk.ErrUnsupportedKey)
}
