package authn_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
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

// wit is a WIMSE workload identity token for sub and its key.
func (iss exampleIssuer) wit(sub string, key ed25519.PublicKey) string {
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss": "http://identity:8080", "sub": sub, "jti": "example-wit",
		"iat": iss.now.Unix(), "exp": iss.now.Add(30 * time.Minute).Unix(),
		"cnf": map[string]any{"jwk": jwk.Key{Algorithm: jwk.EdDSA, Public: key}},
	})
	t.Header["typ"], t.Header["kid"] = authn.WITType, "key-1"
	s, _ := t.SignedString(iss.key)
	return s
}

// A resource server that takes WIMSE credentials: beside the access token,
// the caller's WIT (from the trusted issuer, naming the caller's key) and a
// WPT that key signed for this very request. A WPT made for another
// service is refused, 400 with problem details, whatever the token.
func ExampleWithWIMSE() {
	iss := newExampleIssuer()
	v, _ := authn.NewVerifier(authn.Config{Issuer: "http://identity:8080", Audience: "logging-service",
		KeySet: iss.keys(), Now: func() time.Time { return iss.now }})
	h := authn.Authenticate(v, authn.WithWIMSE(authn.WIMSEConfig{
		Replay: &memoryGuard{}, BaseURL: &url.URL{Scheme: "http", Host: "logging:8080"}, TrustDomain: "example.org",
	}))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		workload, _ := authn.WorkloadFromContext(r.Context())
		fmt.Fprint(w, workload.Claims.Subject)
	}))

	workloadKey := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)) // the caller's own, in truth
	wit := iss.wit("wimse://example.org/careergpt-backend", workloadKey.Public().(ed25519.PublicKey))
	token := iss.token("logging-service")
	for _, target := range []string{"http://logging:8080/v1/logs", "http://notification:8080/v1/logs"} {
		wpt, _ := tokenclient.WorkloadProof(workloadKey, target, wit, token, iss.now)
		req := httptest.NewRequest(http.MethodPost, "/v1/logs", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set(authn.WITHeader, wit)
		req.Header.Set(authn.WPTHeader, wpt)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
	// Output:
	// 200 text/plain; charset=utf-8 wimse://example.org/careergpt-backend
	// 400 application/problem+json {"reason":"wpt_audience","status":400,"title":"workload proof token is for another target (aud)","type":"urn:s2sjwt:wimse:wpt_audience"}
}
