package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/authn"
)

// JWTBearerAssertion is the RFC 7523 client_assertion_type.
const JWTBearerAssertion = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// maxAssertionLifetime bounds how far ahead a client assertion's exp may be:
// a long-lived assertion is a password by another name.
const maxAssertionLifetime = 5 * time.Minute

var (
	errNoClientAuth      = errors.New("identity: no client authentication")
	errSeveralClientAuth = errors.New("identity: more than one client authentication method")
	errBadClient         = errors.New("identity: client authentication failed")
)

// clientCredentials are what a token request offered to prove its client.
type clientCredentials struct {
	basicID, basicSecret string
	hasBasic             bool
	assertionType        string
	assertion            string
	clientIDParam        string
}

func basicCredentials(r *http.Request) (id, secret string, ok bool, err error) {
	rawID, rawSecret, ok := r.BasicAuth()
	if !ok {
		return "", "", false, nil
	}
	// RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
	if id, err = url.QueryUnescape(rawID); err == nil {
		secret, err = url.QueryUnescape(rawSecret)
	}
	return id, secret, true, err
}

// authenticateClient proves the client's identity or fails with errBadClient.
func (s *server) authenticateClient(ctx context.Context, cred clientCredentials) (*Client, error) {
	hasAssertion := cred.assertion != "" || cred.assertionType != ""
	switch {
	case cred.hasBasic && hasAssertion:
		return nil, errSeveralClientAuth
	case cred.hasBasic:
		return s.authenticateSecret(cred.basicID, cred.basicSecret)
	case hasAssertion:
		return s.authenticateAssertion(ctx, cred)
	}
	return nil, errNoClientAuth
}

func (s *server) authenticateSecret(id, secret string) (*Client, error) {
	if len(secret) < MinClientSecretBytes {
		return nil, fmt.Errorf("%w: a secret of %d bytes for %q (generated secrets have at least %d)", errBadClient, len(secret), id, MinClientSecretBytes)
	}
	c, ok := s.cfg.Registry.client(id)
	if !ok || c.AuthMethod != ClientSecretBasic {
		secretMatches(secret, "") // same work as for a known client
		return nil, fmt.Errorf("%w: no client_secret_basic client %q", errBadClient, id)
	}
	if !secretMatches(secret, c.SecretSHA256) {
		return nil, fmt.Errorf("%w: wrong secret for %q", errBadClient, id)
	}
	return c, nil
}

func (s *server) authenticateAssertion(ctx context.Context, cred clientCredentials) (*Client, error) {
	if cred.assertionType != JWTBearerAssertion {
		return nil, fmt.Errorf("%w: client_assertion_type %q", errBadClient, cred.assertionType)
	}
	// Parsed once; the unverified iss only picks the key to verify with.
	assertion, err := authn.Parse(cred.assertion)
	if err != nil {
		return nil, fmt.Errorf("%w: assertion: %w", errBadClient, err)
	}
	id := assertion.UnverifiedClaims().Issuer
	v, ok := s.assertionVerifiers[id]
	if !ok {
		return nil, fmt.Errorf("%w: no private_key_jwt client %q", errBadClient, id)
	}
	claims, err := v.VerifyParsed(ctx, assertion)
	if err != nil {
		return nil, fmt.Errorf("%w: assertion of %q: %w", errBadClient, id, err)
	}
	if claims.Subject != id || (cred.clientIDParam != "" && cred.clientIDParam != id) {
		return nil, fmt.Errorf("%w: assertion iss, sub and client_id differ", errBadClient)
	}
	if claims.ExpiresAt.Sub(s.now()) > maxAssertionLifetime {
		return nil, fmt.Errorf("%w: assertion lives longer than %s", errBadClient, maxAssertionLifetime)
	}
	first, err := s.deps.Replay.Use(ctx, "assertion:"+id+":"+claims.ID, claims.ExpiresAt.Add(v.Leeway()))
	if err != nil {
		return nil, fmt.Errorf("identity: replay store: %w", err)
	}
	if !first {
		return nil, fmt.Errorf("%w: assertion jti %s replayed", errBadClient, claims.ID)
	}
	c, _ := s.cfg.Registry.client(id)
	return c, nil
}

// newAssertionVerifiers builds one verifier per private_key_jwt client: the
// assertion is a JWT issued by the client, for this token endpoint.
func newAssertionVerifiers(cfg Config, deps Deps) (map[string]*authn.Verifier, error) {
	out := map[string]*authn.Verifier{}
	for _, c := range cfg.Registry.Clients {
		if c.AuthMethod != PrivateKeyJWT {
			continue
		}
		var keys authn.KeySet
		if c.JWKS != nil {
			keys = authn.NewStaticKeySet(c.JWKS.Keys...)
		} else {
			remote, err := authn.NewRemoteKeySet(authn.RemoteKeySetConfig{
				JWKSURL: c.JWKSURI, Client: deps.HTTPClient, Logger: deps.Logger, Now: deps.Now,
			})
			if err != nil {
				return nil, err
			}
			keys = remote
		}
		v, err := authn.NewVerifier(authn.Config{
			Issuer:   c.ID,
			Audience: cfg.tokenEndpoint(),
			KeySet:   keys,
			Leeway:   cfg.Leeway,
			Profile:  authn.ClientAssertion, // RFC 7523 assertions have no registered typ
			Now:      deps.Now,
		})
		if err != nil {
			return nil, fmt.Errorf("identity: client %q: %w", c.ID, err)
		}
		out[c.ID] = v
	}
	return out, nil
}
