// Package tokenclient gets access tokens with the OAuth 2.0 client
// credentials grant, authenticating with private_key_jwt (RFC 7523).
//
// golang.org/x/oauth2/clientcredentials does not fit: it sends fixed
// parameters, while each private_key_jwt assertion must be freshly signed
// with its own single-use jti.
package tokenclient

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// JWTBearerAssertion is the RFC 7523 client_assertion_type.
const JWTBearerAssertion = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLifetime is short: the assertion is used once, immediately.
const assertionLifetime = time.Minute

// Client requests tokens for one registered client.
type Client struct {
	TokenURL string
	ClientID string
	Key      jwk.Key // public half, with kid and alg
	Signer   crypto.Signer
	HTTP     *http.Client
	Now      func() time.Time
	// DPoPKey is a key of its own (never Signer) that requests with DPoP
	// prove possession of (RFC 9449 §5): their tokens are bound to it and
	// useless without a proof from it (see Proof).
	DPoPKey crypto.Signer
	// WorkloadKey is the key a WIMSE workload identity token is issued
	// for (Request.WIT): its WPTs are signed with it (see WorkloadProof).
	WorkloadKey crypto.Signer
}

// Token is an issued access token, or a workload identity token.
type Token struct {
	AccessToken string
	ExpiresAt   time.Time
	Scope       string
	// Type is "Bearer", "DPoP" for a token bound to Client.DPoPKey, or
	// "WIT" for a workload identity token.
	Type string
}

// Error is an RFC 6749 §5.2 error from the token endpoint.
type Error struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("tokenclient: %d %s: %s", e.Status, e.Code, e.Description)
}

// Request holds the parameters of one token request.
type Request struct {
	Audience string
	Scope    string
	// ExpiresIn asks for a lifetime shorter than the issuer's cap; 0 takes the cap.
	ExpiresIn time.Duration
	// DPoP binds the token to Client.DPoPKey (RFC 9449): the request
	// carries a proof, and the token works only with proofs from that key.
	DPoP bool
	// WIT asks for a WIMSE workload identity token for Client.WorkloadKey
	// instead of an access token (Audience and Scope unset): who this
	// client is, for WPTs to prove request by request.
	WIT bool
	// subjectToken, set by Exchange, makes the request a token exchange.
	subjectToken string
}

// form is r as a token request authenticated by assertion.
func (r Request) form(assertion string) url.Values {
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"audience":              {r.Audience},
		"client_assertion_type": {JWTBearerAssertion},
		"client_assertion":      {assertion},
	}
	if r.WIT {
		form.Del("audience")
		form.Set("requested_token_type", WITTokenType)
	}
	if r.subjectToken != "" {
		form.Set("grant_type", TokenExchangeGrant)
		form.Set("subject_token", r.subjectToken)
		form.Set("subject_token_type", AccessTokenType)
	}
	if r.Scope != "" {
		form.Set("scope", r.Scope)
	}
	if r.ExpiresIn > 0 {
		form.Set("expires_in", strconv.Itoa(int(r.ExpiresIn/time.Second)))
	}
	return form
}

// Token exchange (RFC 8693).
const (
	TokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"
	AccessTokenType    = "urn:ietf:params:oauth:token-type:access_token"
	// WITTokenType asks Identity for a workload identity token
	// (docs/contract.md): no URN is registered for one yet.
	WITTokenType = "urn:s2sjwt:params:oauth:token-type:wit"
)

// Exchange asks for a token toward r.Audience on behalf of the caller
// whose subjectToken (presented to this client's service) it holds: the
// new token's sub is that caller, its act this client (RFC 8693). It is
// never cached: Identity exchanges a subject token once.
func (c *Client) Exchange(ctx context.Context, subjectToken string, r Request) (*Token, error) {
	r.subjectToken = subjectToken
	return c.Token(ctx, r)
}

// Token requests a new access token. Asked for a DPoP nonce
// (use_dpop_nonce), it retries once with the nonce the answer carries.
func (c *Client) Token(ctx context.Context, r Request) (*Token, error) {
	tok, nonce, err := c.token(ctx, r, "")
	var terr *Error
	if errors.As(err, &terr) && terr.Code == "use_dpop_nonce" && nonce != "" && (r.DPoP || r.WIT) {
		tok, _, err = c.token(ctx, r, nonce)
	}
	return tok, err
}

func (c *Client) token(ctx context.Context, r Request, nonce string) (*Token, string, error) {
	now := c.now()
	switch {
	case r.DPoP && c.DPoPKey == nil:
		return nil, "", errors.New("tokenclient: a DPoP token needs Client.DPoPKey")
	case r.WIT && c.WorkloadKey == nil:
		return nil, "", errors.New("tokenclient: a workload identity token needs Client.WorkloadKey")
	}
	assertion, err := c.assertion(now)
	if err != nil {
		return nil, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.TokenURL, strings.NewReader(r.form(assertion).Encode()))
	if err != nil {
		return nil, "", fmt.Errorf("tokenclient: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if proofKey := c.proofKey(r); proofKey != nil {
		p, err := proof(proofKey, http.MethodPost, c.TokenURL, "", nonce, now)
		if err != nil {
			return nil, "", err
		}
		req.Header.Set("DPoP", p)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("tokenclient: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, "", fmt.Errorf("tokenclient: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{Status: resp.StatusCode}
		_ = json.Unmarshal(body, e)
		return nil, resp.Header.Get("DPoP-Nonce"), e
	}
	tok, err := parseTokenResponse(body, r, now)
	return tok, "", err
}

// parseTokenResponse reads a successful token response, of the type r
// asked for.
func parseTokenResponse(body []byte, r Request, now time.Time) (*Token, error) {
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
		Scope       string `json:"scope"`
	}
	wantType, kind := "Bearer", "Bearer"
	switch {
	case r.WIT:
		wantType, kind = "N_A", "WIT" // RFC 8693 §2.2.1: not an access token
	case r.DPoP:
		wantType, kind = "DPoP", "DPoP"
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" || !strings.EqualFold(tr.TokenType, wantType) {
		return nil, fmt.Errorf("tokenclient: malformed token response (want a %s token)", wantType)
	}
	return &Token{AccessToken: tr.AccessToken, ExpiresAt: now.Add(time.Duration(tr.ExpiresIn) * time.Second), Scope: tr.Scope, Type: kind}, nil
}

// proofKey is the key r's token request proves possession of, if any.
func (c *Client) proofKey(r Request) crypto.Signer {
	switch {
	case r.WIT:
		return c.WorkloadKey
	case r.DPoP:
		return c.DPoPKey
	}
	return nil
}

// Authorize puts tok on req: as a bearer token, or, for a DPoP token, with
// the DPoP scheme and a proof by key for this very request.
func Authorize(req *http.Request, tok *Token, key crypto.Signer) error {
	if tok.Type != "DPoP" {
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		return nil
	}
	if key == nil {
		return errors.New("tokenclient: a DPoP token needs its key")
	}
	target := *req.URL
	target.RawQuery, target.Fragment = "", ""
	proof, err := Proof(key, req.Method, target.String(), tok.AccessToken, time.Now())
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "DPoP "+tok.AccessToken)
	req.Header.Set("DPoP", proof)
	return nil
}

// Proof returns a DPoP proof (RFC 9449 §4.2) by key for one request: method
// and target URL, and, when presenting a token, its hash (ath).
func Proof(key crypto.Signer, method, target, accessToken string, now time.Time) (string, error) {
	return proof(key, method, target, accessToken, "", now)
}

// proof is Proof with a server-provided nonce, if any (RFC 9449 §8).
func proof(key crypto.Signer, method, target, accessToken, nonce string, now time.Time) (string, error) {
	alg, err := jwk.AlgorithmFor(key.Public())
	if err != nil {
		return "", err
	}
	public, err := json.Marshal(jwk.Key{Algorithm: alg, Public: key.Public()})
	if err != nil {
		return "", err
	}
	claims := jwt.MapClaims{"jti": randomID(), "htm": method, "htu": target, "iat": now.Unix()}
	if accessToken != "" {
		claims["ath"] = tokenHash(accessToken)
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	t := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	t.Header["typ"] = "dpop+jwt"
	t.Header["jwk"] = json.RawMessage(public)
	proof, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("tokenclient: sign DPoP proof: %w", err)
	}
	return proof, nil
}

func randomID() string {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func (c *Client) assertion(now time.Time) (string, error) {
	t := jwt.NewWithClaims(jwt.GetSigningMethod(c.Key.Algorithm), jwt.RegisteredClaims{
		Issuer:    c.ClientID,
		Subject:   c.ClientID,
		Audience:  jwt.ClaimStrings{c.TokenURL},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(assertionLifetime)),
		ID:        randomID(),
	})
	t.Header["kid"] = c.Key.ID
	s, err := t.SignedString(c.Signer)
	if err != nil {
		return "", fmt.Errorf("tokenclient: sign assertion: %w", err)
	}
	return s, nil
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Cache reuses a token per request shape until shortly before it expires.
// Callers for the same shape share one token request in flight, made
// outside the lock; after a failure, callers get that error at once until
// failureBackoff has passed, so a hung or failing issuer queues nobody.
type Cache struct {
	Client  *Client
	mu      sync.Mutex
	entries map[Request]*cacheEntry
}

type cacheEntry struct {
	token    *Token
	inflight chan struct{} // closed when the request under way ends
	err      error         // of the last request
	failedAt time.Time
}

// Timing of a Cache.
const (
	// refreshMargin: a cached token is replaced this long before its exp,
	// so it never expires in flight.
	refreshMargin = 30 * time.Second
	// failureBackoff is how long a failed token request is not retried.
	failureBackoff = 2 * time.Second
)

// Token returns a cached token for r, or requests one.
func (c *Cache) Token(ctx context.Context, r Request) (*Token, error) {
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[Request]*cacheEntry{}
	}
	e, ok := c.entries[r]
	if !ok {
		e = &cacheEntry{}
		c.entries[r] = e
	}
	now := c.Client.now()
	switch {
	case e.token != nil && now.Add(refreshMargin).Before(e.token.ExpiresAt):
		t := e.token
		c.mu.Unlock()
		return t, nil
	case e.inflight == nil && e.err != nil && now.Sub(e.failedAt) < failureBackoff:
		err := e.err
		c.mu.Unlock()
		return nil, err
	case e.inflight == nil:
		e.inflight = make(chan struct{})
		go c.fetch(e, r)
	}
	ch := e.inflight
	c.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.err != nil {
		return nil, e.err
	}
	return e.token, nil
}

// fetch requests a token for e. It belongs to no caller, so one caller
// leaving fails none of the others; the HTTP client's timeout bounds it.
func (c *Cache) fetch(e *cacheEntry, r Request) {
	t, err := c.Client.Token(context.Background(), r)
	c.mu.Lock()
	defer c.mu.Unlock()
	e.err = err
	if err != nil {
		e.failedAt = c.Client.now()
	} else {
		e.token = t
	}
	close(e.inflight)
	e.inflight = nil
}

// LoadOrCreateKey returns the client's private key from path (PKCS#8 PEM),
// generating and saving one with mode 0600 if there is none. Replicas
// sharing the directory may start at once: the key is written to a
// temporary file and linked into place, so every one of them ends up with
// the one key that got there first.
func LoadOrCreateKey(path, alg string) (jwk.Key, crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := createKey(path, alg); err != nil {
			return jwk.Key{}, nil, err
		}
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return jwk.Key{}, nil, fmt.Errorf("tokenclient: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return jwk.Key{}, nil, fmt.Errorf("tokenclient: %s: no PEM block", path)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return jwk.Key{}, nil, fmt.Errorf("tokenclient: %s: %w", path, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return jwk.Key{}, nil, fmt.Errorf("tokenclient: %s: not a signing key", path)
	}
	alg, err = jwk.AlgorithmFor(signer.Public())
	if err != nil {
		return jwk.Key{}, nil, err
	}
	kid, err := jwk.Thumbprint(signer.Public())
	if err != nil {
		return jwk.Key{}, nil, err
	}
	return jwk.Key{ID: kid, Algorithm: alg, Public: signer.Public()}, signer, nil
}

// createKey writes a new key to path unless one is there already.
func createKey(path, alg string) error {
	signer, err := jwk.Generate(alg)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("tokenclient: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*") // mode 0600
	if err != nil {
		return fmt.Errorf("tokenclient: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path) // fails if another replica's key is there
	}
	if err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("tokenclient: %w", err)
	}
	return nil
}
