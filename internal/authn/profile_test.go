package authn_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"maps"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// profileFixture verifies one profile's tokens signed with an ES256 key.
type profileFixture struct {
	priv *ecdsa.PrivateKey
	v    *authn.Verifier
}

func newProfileFixture(t *testing.T, p authn.Profile) *profileFixture {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	v, err := authn.NewVerifier(authn.Config{Profile: p, Issuer: testIssuer, Audience: testAudience,
		KeySet: authn.NewStaticKeySet(jwk.Key{ID: "ec", Algorithm: jwk.ES256, Public: &priv.PublicKey}),
		Now:    func() time.Time { return testNow }})
	require.NoError(t, err)
	return &profileFixture{priv: priv, v: v}
}

func (f *profileFixture) verify(t *testing.T, header, claims map[string]any) error {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(claims))
	tok.Header = header
	raw, err := tok.SignedString(f.priv)
	require.NoError(t, err)
	_, err = f.v.Verify(t.Context(), raw)
	return err
}

// changed is a copy of m with member k set to v, or removed if v is nil.
func changed(m map[string]any, k string, v any) map[string]any {
	out := maps.Clone(m)
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func TestJWTSVID(t *testing.T) {
	p, err := authn.JWTSVID("example.org")
	require.NoError(t, err)
	f := newProfileFixture(t, p)
	header := map[string]any{"alg": "ES256", "kid": "ec", "typ": "JWT"}
	// What SPIRE issues: no iss, no jti, no nbf.
	claims := map[string]any{"sub": "spiffe://example.org/ns/payments/sa/ledger", "aud": testAudience,
		"exp": testNow.Add(5 * time.Minute).Unix(), "iat": testNow.Unix()}
	require.NoError(t, f.verify(t, header, claims))
	require.NoError(t, f.verify(t, changed(header, "typ", nil), claims), "typ is optional")
	require.NoError(t, f.verify(t, changed(header, "typ", "JOSE"), claims))

	for name, tc := range map[string]struct {
		header, claims map[string]any
		want           error
	}{
		"TypAtJWT":         {changed(header, "typ", "at+jwt"), claims, authn.ErrType},
		"ExtraHeader":      {changed(header, "x-trace", "1"), claims, authn.ErrHeaderParameter},
		"TwoAudiences":     {header, changed(claims, "aud", []string{testAudience, "other"}), authn.ErrAudience},
		"NotASPIFFEID":     {header, changed(claims, "sub", "careergpt-backend"), authn.ErrSubject},
		"BareTrustDomain":  {header, changed(claims, "sub", "spiffe://example.org"), authn.ErrSubject},
		"OtherTrustDomain": {header, changed(claims, "sub", "spiffe://evil.example/ns/payments/sa/ledger"), authn.ErrSubject},
		"UpperScheme":      {header, changed(claims, "sub", "SPIFFE://example.org/ledger"), authn.ErrSubject},
		"UpperDomain":      {header, changed(claims, "sub", "spiffe://EXAMPLE.org/ledger"), authn.ErrSubject},
		"Percent":          {header, changed(claims, "sub", "spiffe://example.org/%6cedger"), authn.ErrSubject},
		"DotSegment":       {header, changed(claims, "sub", "spiffe://example.org/x/../ledger"), authn.ErrSubject},
		"Query":            {header, changed(claims, "sub", "spiffe://example.org/ledger?x=1"), authn.ErrSubject},
		"Fragment":         {header, changed(claims, "sub", "spiffe://example.org/ledger#x"), authn.ErrSubject},
		"Userinfo":         {header, changed(claims, "sub", "spiffe://u@example.org/ledger"), authn.ErrSubject},
		"Port":             {header, changed(claims, "sub", "spiffe://example.org:443/ledger"), authn.ErrSubject},
		"TrailingSlash":    {header, changed(claims, "sub", "spiffe://example.org/ledger/"), authn.ErrSubject},
		"TenYears":         {header, changed(claims, "exp", testNow.Add(10*365*24*time.Hour).Unix()), authn.ErrLifetime},
	} {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, f.verify(t, tc.header, tc.claims), tc.want)
		})
	}

	_, err = authn.JWTSVID("Example.org")
	require.Error(t, err, "a trust domain is lower case")
	_, err = authn.NewVerifier(authn.Config{Profile: p, Audience: testAudience, KeySet: authn.NewStaticKeySet(), Algorithms: []string{jwk.EdDSA}})
	require.Error(t, err, "JWT-SVID allows no EdDSA")
}

func TestServiceAccount(t *testing.T) {
	f := newProfileFixture(t, authn.ServiceAccount)
	header := map[string]any{"alg": "ES256", "kid": "ec"}
	claims := map[string]any{"iss": testIssuer, "sub": "system:serviceaccount:payments:ledger", "aud": []string{testAudience},
		"exp": testNow.Add(time.Hour).Unix(), "iat": testNow.Unix(), "nbf": testNow.Unix(),
		"kubernetes.io": map[string]any{"namespace": "payments", "serviceaccount": map[string]any{"name": "ledger"}}}
	require.NoError(t, f.verify(t, header, claims))
	require.ErrorIs(t, f.verify(t, changed(header, "typ", "at+jwt"), claims), authn.ErrType)
	require.ErrorIs(t, f.verify(t, header, changed(claims, "sub", "ledger")), authn.ErrSubject)
	require.ErrorIs(t, f.verify(t, header, changed(claims, "sub", "system:serviceaccount:payments")), authn.ErrSubject)
	require.ErrorIs(t, f.verify(t, header, changed(claims, "iss", "kubernetes/serviceaccount")), authn.ErrIssuer)
}

// TestAccessToken_LifetimeBound: an exp more than an hour (and the leeway)
// ahead is refused, one just within it accepted.
func TestAccessToken_LifetimeBound(t *testing.T) {
	f := newFixture(t)
	_, err := f.v.Verify(t.Context(), f.token(t, validHeader(), with(validClaims(), "exp", testNow.Add(authn.DefaultMaxLifetime).Unix())))
	require.NoError(t, err)
	_, err = f.v.Verify(t.Context(), f.token(t, validHeader(), with(validClaims(), "exp", testNow.Add(authn.DefaultMaxLifetime+time.Minute).Unix())))
	require.ErrorIs(t, err, authn.ErrLifetime)
}
