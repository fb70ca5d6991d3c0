package authn_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

const (
	testIssuer   = "https://identity.test"
	testAudience = "logging-service"
	testKID      = "key-1"
)

var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

type fixture struct {
	priv ed25519.PrivateKey
	keys authn.StaticKeySet
	v    *authn.Verifier
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(tb, err)
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(tb, err)
	keys := authn.NewStaticKeySet(
		jwk.Key{ID: testKID, Algorithm: jwk.EdDSA, Public: pub},
		jwk.Key{ID: "ec-key", Algorithm: jwk.ES256, Public: &ecPriv.PublicKey},
	)
	v, err := authn.NewVerifier(authn.Config{
		Issuer: testIssuer, Audience: testAudience, KeySet: keys,
		Now: func() time.Time { return testNow },
	})
	require.NoError(tb, err)
	return &fixture{priv: priv, keys: keys, v: v}
}

func validClaims() map[string]any {
	return map[string]any{
		"iss": testIssuer, "sub": "careergpt-backend", "aud": testAudience,
		"exp": testNow.Add(5 * time.Minute).Unix(), "iat": testNow.Unix(), "nbf": testNow.Unix(),
		"jti": "jti-1", "client_id": "careergpt-backend", "scope": "logs:write",
	}
}

func validHeader() map[string]any {
	return map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": testKID}
}

func seg(tb testing.TB, v any) string {
	tb.Helper()
	var data []byte
	switch v := v.(type) {
	case string:
		data = []byte(v)
	default:
		var err error
		data, err = json.Marshal(v)
		require.NoError(tb, err)
	}
	return base64.RawURLEncoding.EncodeToString(data)
}

// sign builds a compact JWS from raw header and payload segments.
func sign(tb testing.TB, key crypto.Signer, alg, header, payload string) string {
	tb.Helper()
	input := header + "." + payload
	sig, err := jwt.GetSigningMethod(alg).Sign(input, key)
	require.NoError(tb, err)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func (f *fixture) token(tb testing.TB, header, claims map[string]any) string {
	tb.Helper()
	return sign(tb, f.priv, "EdDSA", seg(tb, header), seg(tb, claims))
}

func with(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}

func without(m map[string]any, k string) map[string]any {
	delete(m, k)
	return m
}

func TestVerifier_Verify(t *testing.T) {
	f := newFixture(t)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	tests := []struct {
		name    string
		token   func(t *testing.T) string
		wantErr error
	}{
		{"OK", func(t *testing.T) string { return f.token(t, validHeader(), validClaims()) }, nil},
		{"OK/AudienceArray", func(t *testing.T) string {
			return f.token(t, validHeader(), with(validClaims(), "aud", []string{"other", testAudience}))
		}, nil},
		{"OK/MediaTypeTyp", func(t *testing.T) string {
			return f.token(t, with(validHeader(), "typ", "application/AT+JWT"), validClaims())
		}, nil},
		{"OK/IatWithinLeeway", func(t *testing.T) string {
			return f.token(t, validHeader(), with(validClaims(), "iat", testNow.Add(3*time.Second).Unix()))
		}, nil},
		{"ErrExpired", func(t *testing.T) string {
			return f.token(t, validHeader(), with(validClaims(), "exp", testNow.Add(-time.Minute).Unix()))
		}, authn.ErrExpired},
		{"ErrNoExpiry", func(t *testing.T) string { return f.token(t, validHeader(), without(validClaims(), "exp")) }, authn.ErrNoExpiry},
		{"ErrMalformed/ExpString", func(t *testing.T) string {
			return f.token(t, validHeader(), with(validClaims(), "exp", "9999999999"))
		}, authn.ErrMalformed},
		{"ErrNotYetValid", func(t *testing.T) string {
			return f.token(t, validHeader(), with(validClaims(), "nbf", testNow.Add(time.Minute).Unix()))
		}, authn.ErrNotYetValid},
		{"ErrIssuedInFuture", func(t *testing.T) string {
			return f.token(t, validHeader(), with(validClaims(), "iat", testNow.Add(time.Minute).Unix()))
		}, authn.ErrIssuedInFuture},
		{"ErrIssuer/Wrong", func(t *testing.T) string {
			return f.token(t, validHeader(), with(validClaims(), "iss", "https://evil.test"))
		}, authn.ErrIssuer},
		{"ErrIssuer/TrailingSlash", func(t *testing.T) string {
			return f.token(t, validHeader(), with(validClaims(), "iss", testIssuer+"/"))
		}, authn.ErrIssuer},
		{"ErrIssuer/Missing", func(t *testing.T) string { return f.token(t, validHeader(), without(validClaims(), "iss")) }, authn.ErrIssuer},
		{"ErrAudience/Other", func(t *testing.T) string {
			return f.token(t, validHeader(), with(validClaims(), "aud", "notification-service"))
		}, authn.ErrAudience},
		{"ErrAudience/Case", func(t *testing.T) string {
			return f.token(t, validHeader(), with(validClaims(), "aud", "Logging-Service"))
		}, authn.ErrAudience},
		{"ErrAudience/EmptyArray", func(t *testing.T) string {
			return f.token(t, validHeader(), with(validClaims(), "aud", []string{}))
		}, authn.ErrAudience},
		{"ErrAudience/Missing", func(t *testing.T) string { return f.token(t, validHeader(), without(validClaims(), "aud")) }, authn.ErrAudience},
		{"ErrMalformed/AudNumber", func(t *testing.T) string { return f.token(t, validHeader(), with(validClaims(), "aud", 42)) }, authn.ErrMalformed},
		{"ErrNoSubject", func(t *testing.T) string { return f.token(t, validHeader(), without(validClaims(), "sub")) }, authn.ErrNoSubject},
		{"ErrNoTokenID", func(t *testing.T) string { return f.token(t, validHeader(), without(validClaims(), "jti")) }, authn.ErrNoTokenID},
		{"ErrType/JWT", func(t *testing.T) string { return f.token(t, with(validHeader(), "typ", "JWT"), validClaims()) }, authn.ErrType},
		{"ErrType/Missing", func(t *testing.T) string { return f.token(t, without(validHeader(), "typ"), validClaims()) }, authn.ErrType},
		{"ErrCritical", func(t *testing.T) string {
			return f.token(t, with(validHeader(), "crit", []string{"exp"}), validClaims())
		}, authn.ErrCritical},
		{"ErrEmbeddedKey/jwk", func(t *testing.T) string {
			return f.token(t, with(validHeader(), "jwk", map[string]string{"kty": "OKP"}), validClaims())
		}, authn.ErrEmbeddedKey},
		{"ErrEmbeddedKey/jku", func(t *testing.T) string {
			return f.token(t, with(validHeader(), "jku", "http://127.0.0.1:1/jwks"), validClaims())
		}, authn.ErrEmbeddedKey},
		{"ErrNoKeyID", func(t *testing.T) string { return f.token(t, without(validHeader(), "kid"), validClaims()) }, authn.ErrNoKeyID},
		{"ErrUnknownKey", func(t *testing.T) string { return f.token(t, with(validHeader(), "kid", "nope"), validClaims()) }, authn.ErrUnknownKey},
		{"ErrAlgorithm/None", func(t *testing.T) string {
			return seg(t, with(validHeader(), "alg", "none")) + "." + seg(t, validClaims()) + "."
		}, authn.ErrAlgorithm},
		{"ErrAlgorithm/HS256", func(t *testing.T) string {
			h, p := seg(t, with(validHeader(), "alg", "HS256")), seg(t, validClaims())
			sig, _ := jwt.SigningMethodHS256.Sign(h+"."+p, []byte("secret"))
			return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(sig)
		}, authn.ErrAlgorithm},
		{"ErrAlgorithmMismatch", func(t *testing.T) string {
			return sign(t, ecKey, "ES256", seg(t, with(validHeader(), "alg", "ES256")), seg(t, validClaims()))
		}, authn.ErrAlgorithmMismatch},
		{"ErrSignature/OtherKey", func(t *testing.T) string {
			return sign(t, otherPriv, "EdDSA", seg(t, validHeader()), seg(t, validClaims()))
		}, authn.ErrSignature},
		{"ErrSignature/ECDSAZero", func(t *testing.T) string {
			return seg(t, with(with(validHeader(), "alg", "ES256"), "kid", "ec-key")) + "." + seg(t, validClaims()) + "." +
				base64.RawURLEncoding.EncodeToString(make([]byte, 64))
		}, authn.ErrSignature},
		{"ErrSignature/Tampered", func(t *testing.T) string {
			good := f.token(t, validHeader(), validClaims())
			parts := strings.Split(good, ".")
			return parts[0] + "." + seg(t, with(validClaims(), "sub", "admin")) + "." + parts[2]
		}, authn.ErrSignature},
		{"ErrMalformed/StrippedSignature", func(t *testing.T) string {
			good := f.token(t, validHeader(), validClaims())
			return good[:strings.LastIndex(good, ".")+1]
		}, authn.ErrSignature},
		{"ErrMalformed/TwoSegments", func(t *testing.T) string { return seg(t, validHeader()) + "." + seg(t, validClaims()) }, authn.ErrMalformed},
		{"ErrMalformed/ManyDots", func(t *testing.T) string { return strings.Repeat(".", 4000) }, authn.ErrMalformed},
		{"ErrMalformed/BadBase64", func(t *testing.T) string { return "!!!." + seg(t, validClaims()) + ".AAAA" }, authn.ErrMalformed},
		{"ErrMalformed/Padding", func(t *testing.T) string {
			good := f.token(t, validHeader(), validClaims())
			parts := strings.Split(good, ".")
			return parts[0] + "=." + parts[1] + "." + parts[2]
		}, authn.ErrMalformed},
		{"ErrMalformed/JSONSerialization", func(t *testing.T) string {
			return `{"payload":"` + seg(t, validClaims()) + `","signatures":[]}`
		}, authn.ErrMalformed},
		{"ErrDuplicateMember/Aud", func(t *testing.T) string {
			payload := strings.Replace(string(mustJSON(t, validClaims())), `"aud":"logging-service"`,
				`"aud":"notification-service","aud":"logging-service"`, 1)
			return sign(t, f.priv, "EdDSA", seg(t, validHeader()), seg(t, payload))
		}, authn.ErrDuplicateMember},
		{"ErrDuplicateMember/AlgCase", func(t *testing.T) string {
			return sign(t, f.priv, "EdDSA", seg(t, `{"alg":"EdDSA","ALG":"none","typ":"at+jwt","kid":"key-1"}`), seg(t, validClaims()))
		}, authn.ErrDuplicateMember},
		{"ErrMalformed/KnownMemberOtherCase", func(t *testing.T) string {
			return sign(t, f.priv, "EdDSA", seg(t, `{"Alg":"EdDSA","typ":"at+jwt","kid":"key-1"}`), seg(t, validClaims()))
		}, authn.ErrMalformed},
		{"ErrTokenTooLarge", func(t *testing.T) string {
			return f.token(t, validHeader(), with(validClaims(), "pad", strings.Repeat("a", authn.DefaultMaxTokenSize)))
		}, authn.ErrTokenTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := f.v.Verify(context.Background(), tt.token(t))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.Nil(t, claims)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "careergpt-backend", claims.Subject)
			require.True(t, claims.HasScope("logs:write"))
		})
	}
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	require.NoError(tb, err)
	return b
}

func TestNewVerifier_RefusesIncompleteConfig(t *testing.T) {
	keys := authn.NewStaticKeySet()
	for name, cfg := range map[string]authn.Config{
		"Zero":       {},
		"NoAudience": {Issuer: testIssuer, KeySet: keys},
		"NoIssuer":   {Audience: testAudience, KeySet: keys},
		"NoKeys":     {Issuer: testIssuer, Audience: testAudience},
		"HS256":      {Issuer: testIssuer, Audience: testAudience, KeySet: keys, Algorithms: []string{"HS256"}},
		"HugeLeeway": {Issuer: testIssuer, Audience: testAudience, KeySet: keys, Leeway: time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := authn.NewVerifier(cfg)
			require.Error(t, err)
		})
	}
}
