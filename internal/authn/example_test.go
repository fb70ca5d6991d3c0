package authn_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// exampleIssuer signs tokens as the issuer a verifier trusts would.
type exampleIssuer struct {
	key ed25519.PrivateKey
	now time.Time
}

func newExampleIssuer() exampleIssuer {
	// A fixed seed keeps the example's output stable; a real issuer's key is random.
	return exampleIssuer{key: ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)), now: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)}
}

func (iss exampleIssuer) keys() authn.KeySet {
	return authn.NewStaticKeySet(jwk.Key{ID: "key-1", Algorithm: jwk.EdDSA, Public: iss.key.Public()})
}

func (iss exampleIssuer) token(aud string) string {
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss": "http://identity:8080", "sub": "careergpt-backend", "aud": aud, "jti": "example-jti",
		"iat": iss.now.Unix(), "exp": iss.now.Add(5 * time.Minute).Unix(), "scope": "logs:write",
	})
	t.Header["typ"], t.Header["kid"] = authn.AccessTokenType, "key-1"
	s, _ := t.SignedString(iss.key)
	return s
}

// A resource server verifies that a token is for it, from its trusted
// issuer; a token for another service is refused with ErrAudience.
func ExampleVerifier_Verify() {
	iss := newExampleIssuer()
	v, err := authn.NewVerifier(authn.Config{
		Issuer:   "http://identity:8080",
		Audience: "logging-service",
		KeySet:   iss.keys(),
		Now:      func() time.Time { return iss.now },
	})
	if err != nil {
		panic(err)
	}
	claims, err := v.Verify(context.Background(), iss.token("logging-service"))
	fmt.Println(claims.Subject, err)

	_, err = v.Verify(context.Background(), iss.token("notification-service"))
	fmt.Println(errors.Is(err, authn.ErrAudience), authn.Describe(err))
	// Output:
	// careergpt-backend <nil>
	// true token is not for this service (wrong audience)
}

// The middleware admits requests with a valid token and answers every
// other per RFC 6750; handlers read the verified claims from the context.
func ExampleAuthenticate() {
	iss := newExampleIssuer()
	v, _ := authn.NewVerifier(authn.Config{Issuer: "http://identity:8080", Audience: "logging-service",
		KeySet: iss.keys(), Now: func() time.Time { return iss.now }})
	h := authn.Authenticate(v)(authn.RequireScope("logs:write")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := authn.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "entry from %s", claims.Subject)
	})))

	for _, authorization := range []string{"Bearer " + iss.token("logging-service"), ""} {
		req := httptest.NewRequest(http.MethodPost, "/v1/logs", nil)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(strings.TrimSpace(fmt.Sprint(rec.Code, " ", rec.Header().Get("WWW-Authenticate"))))
	}
	// Output:
	// 200
	// 401 Bearer realm="logging-service", error_description="bearer token required"
}
