package tokenclient

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// WIMSE workload credentials (draft-ietf-wimse-workload-creds-02,
// draft-ietf-wimse-wpt-01): a client holds a WIT (Request.WIT) for its
// WorkloadKey and signs a WPT with that key for every request.

// WPTLifetime is how long a WPT this package signs is valid: long enough
// for one request to arrive, well within a verifier's bound
// (authn.WPTMaxLifetime).
const WPTLifetime = 30 * time.Second

// AuthorizeWorkload puts WIMSE credentials on req: wit in the
// Workload-Identity-Token header, a WPT signed by key for this very
// request, and tok, if any, as a bearer token the WPT names (ath).
func AuthorizeWorkload(req *http.Request, wit *Token, key crypto.Signer, tok *Token) error {
	accessToken := ""
	if tok != nil {
		accessToken = tok.AccessToken
		req.Header.Set("Authorization", "Bearer "+accessToken)
	}
	return AddWorkloadProof(req, wit, key, accessToken)
}

// AddWorkloadProof adds wit and a WPT by key for req to a request whose
// Authorization, if any, is already set (accessToken, which the WPT
// names): a DPoP-bound token keeps its own proof beside it.
func AddWorkloadProof(req *http.Request, wit *Token, key crypto.Signer, accessToken string) error {
	target := *req.URL
	target.RawQuery, target.Fragment = "", ""
	wpt, err := WorkloadProof(key, target.String(), wit.AccessToken, accessToken, time.Now())
	if err != nil {
		return err
	}
	req.Header.Set("Workload-Identity-Token", wit.AccessToken)
	req.Header.Set("Workload-Proof-Token", wpt)
	return nil
}

// WorkloadProof returns a WPT (draft-ietf-wimse-wpt-01) by key, the WIT's
// key, for one request to target (its URI without query or fragment):
// aud target, a short exp, a fresh jti, wth the WIT's hash and, when an
// access token rides along, ath its hash.
func WorkloadProof(key crypto.Signer, target, wit, accessToken string, now time.Time) (string, error) {
	alg, err := jwk.AlgorithmFor(key.Public())
	if err != nil {
		return "", err
	}
	claims := jwt.MapClaims{"aud": target, "iat": now.Unix(), "exp": now.Add(WPTLifetime).Unix(), "jti": randomID(), "wth": tokenHash(wit)}
	if accessToken != "" {
		claims["ath"] = tokenHash(accessToken)
	}
	t := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	t.Header["typ"] = "wpt+jwt"
	wpt, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("tokenclient: sign WPT: %w", err)
	}
	return wpt, nil
}

// tokenHash is the base64url SHA-256 of a token: a proof's ath or wth.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
