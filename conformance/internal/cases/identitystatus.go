package cases

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/internal/jwk"
)

// identityStatusCases check an identity whose tokens carry status list
// entries (draft-ietf-oauth-status-list-17): the list they point into is
// its own, signed and reachable, no two live tokens share an entry, and a
// revocation shows in it within its ttl.
func identityStatusCases() []attack.IdentityCase {
	return []attack.IdentityCase{
		{About: attack.About{ID: "XSL-01", Category: "issuer profile", Severity: attack.High, Expect: attack.Accept, Source: "draft-ietf-oauth-status-list-17 §5, §6, §8",
			Title:   "Issued tokens point into a status list the issuer signs",
			Explain: "A token's status entry is only as good as the list it points into: under the issuer's URL, served as a status list token (typ statuslist+jwt) signed by a key the issuer publishes, for that very URI (sub), not expired, holding the token's index, which says valid. Anything less leaves resource servers nothing they may trust, and revocation nothing to act on."},
			Run: func(ctx context.Context, e *attack.Kit) attack.Verdict {
				ref, v := issuedStatusRef(ctx, e)
				if v != nil {
					return *v
				}
				status, _, err := fetchEntry(ctx, e, ref)
				switch {
				case err != nil:
					return attack.Verdict{Status: attack.Fail, Reason: err.Error()}
				case status != statusValid:
					return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("a fresh token's entry %d says %#x, not valid", ref.Index, status)}
				}
				return attack.Verdict{Status: attack.Pass}
			}},
		{About: attack.About{ID: "XSL-02", Category: "issuer profile", Severity: attack.High, Expect: attack.Accept, Source: "draft-ietf-oauth-status-list-17 §13.1",
			Title:   "No two live tokens share a status entry",
			Explain: "An entry is a token's own: two live tokens on one index mean revoking one revokes the other, or that neither can be revoked alone."},
			Run: func(ctx context.Context, e *attack.Kit) attack.Verdict {
				seen := map[statusEntry]bool{}
				for range 5 {
					ref, v := issuedStatusRef(ctx, e)
					if v != nil {
						return *v
					}
					if seen[ref.statusEntry] {
						return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("entry %d of %s given to two live tokens", ref.Index, ref.URI)}
					}
					seen[ref.statusEntry] = true
				}
				return attack.Verdict{Status: attack.Pass}
			}},
		{About: attack.About{ID: "XSL-03", Category: "issuer profile", Severity: attack.High, Expect: attack.Accept, Source: "draft-ietf-oauth-status-list-17 §5.1 (ttl), §12",
			Title:   "A revoked token's entry flips within the list's ttl",
			Explain: "The suite revokes one of its tokens at the identity's revocation endpoint (identity.revoke) and reads the list until the token's entry no longer says valid. Past the list's ttl (the longest a resource server may cache it), a revocation the list does not show has not happened for anyone."},
			Run: checkRevocationPublished},
	}
}

type statusEntry struct {
	URI   string
	Index int
}

type issuedRef struct {
	statusEntry
	jti string
}

// issuedStatusRef gets a token from the identity and reads its status
// entry; N/A when its tokens carry none.
func issuedStatusRef(ctx context.Context, e *attack.Kit) (issuedRef, *attack.Verdict) {
	tok, err := e.Identity.Token(ctx, targetAudience(e), targetScope(e))
	if err != nil {
		return issuedRef{}, &attack.Verdict{Status: attack.Fail, Reason: err.Error()}
	}
	_, c, err := attack.Decode(tok)
	if err != nil {
		return issuedRef{}, &attack.Verdict{Status: attack.Fail, Reason: "the token is not a compact JWS: " + err.Error()}
	}
	status, present := c["status"].(map[string]any)
	if !present {
		return issuedRef{}, &attack.Verdict{Status: attack.NotApplicable, Reason: "the identity's tokens carry no status list entry"}
	}
	list, _ := status["status_list"].(map[string]any)
	uri, _ := list["uri"].(string)
	idx, isNum := list["idx"].(float64)
	if !isNum || idx < 0 || idx != float64(int(idx)) || !strings.HasPrefix(uri, e.Identity.Config.Issuer+"/") {
		return issuedRef{}, &attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("status %v is not an entry (non-negative integer idx, uri under the issuer)", c["status"])}
	}
	jti, _ := c["jti"].(string)
	return issuedRef{statusEntry{uri, int(idx)}, jti}, nil
}

// fetchEntry reads ref's list from the identity, verifies it, and returns
// the entry's status.
func fetchEntry(ctx context.Context, e *attack.Kit, ref issuedRef) (byte, time.Duration, error) {
	url := e.Identity.Config.URL + strings.TrimPrefix(ref.URI, e.Identity.Config.Issuer) // as the suite reaches the identity
	s, body, err := e.Identity.Do(ctx, http.MethodGet, url, "", "")
	if err != nil || s != http.StatusOK {
		return 0, 0, fmt.Errorf("the status list %s is not reachable (%d %v)", ref.URI, s, err)
	}
	keys, err := identityKeys(ctx, e)
	if err != nil {
		return 0, 0, err
	}
	var claims struct {
		jwt.RegisteredClaims
		TTL  float64 `json:"ttl"`
		List struct {
			Bits int    `json:"bits"`
			Lst  string `json:"lst"`
		} `json:"status_list"`
	}
	_, err = jwt.ParseWithClaims(strings.TrimSpace(string(body)), &claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, "statuslist+jwt") {
			return nil, fmt.Errorf("typ %q, not statuslist+jwt", typ)
		}
		kid, _ := t.Header["kid"].(string)
		for _, k := range keys {
			if k.ID == kid && k.Algorithm == t.Method.Alg() {
				return k.Public, nil
			}
		}
		return nil, fmt.Errorf("kid %q is none of the issuer's published keys", kid)
	}, jwt.WithSubject(ref.URI), jwt.WithIssuedAt(), jwt.WithValidMethods([]string{"EdDSA", "ES256", "RS256", "PS256"}))
	if err != nil {
		return 0, 0, fmt.Errorf("the status list %s does not verify: %w", ref.URI, err)
	}
	if claims.IssuedAt == nil {
		return 0, 0, fmt.Errorf("the status list %s has no iat", ref.URI)
	}
	st, err := entryOf(claims.List.Bits, claims.List.Lst, ref.Index)
	return st, time.Duration(claims.TTL * float64(time.Second)), err
}

func entryOf(bits int, lst string, i int) (byte, error) {
	if bits != 1 && bits != 2 && bits != 4 && bits != 8 {
		return 0, fmt.Errorf("status_list.bits %d", bits)
	}
	compressed, err := base64.RawURLEncoding.DecodeString(lst)
	if err != nil {
		return 0, fmt.Errorf("status_list.lst is not base64url")
	}
	zr, err := zlib.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return 0, fmt.Errorf("status_list.lst is not ZLIB: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, 16<<20))
	if err != nil {
		return 0, fmt.Errorf("status_list.lst is not ZLIB: %w", err)
	}
	if i >= len(data)*8/bits {
		return 0, fmt.Errorf("index %d past a list of %d entries", i, len(data)*8/bits)
	}
	bit := i * bits
	return data[bit/8] >> (bit % 8) & byte(1<<bits-1), nil
}

func identityKeys(ctx context.Context, e *attack.Kit) ([]jwk.Key, error) {
	s, body, err := e.Identity.Do(ctx, http.MethodGet, e.Identity.JWKSURL, "", "")
	if err != nil || s != http.StatusOK {
		return nil, fmt.Errorf("the identity's JWKS is not reachable (%d %v)", s, err)
	}
	var set jwk.Set
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("the identity's JWKS: %w", err)
	}
	return set.Keys, nil
}

// checkRevocationPublished is XSL-03.
func checkRevocationPublished(ctx context.Context, e *attack.Kit) attack.Verdict {
	ref, v := issuedStatusRef(ctx, e)
	if v != nil {
		return *v
	}
	rv := e.Identity.Config.Revoke
	if rv == nil {
		return attack.Verdict{Status: attack.Skip, Reason: "identity.revoke not set in the target: the suite cannot revoke a token"}
	}
	body, _ := json.Marshal(map[string]string{"jti": ref.jti})
	s, answer, err := e.Identity.Do(ctx, http.MethodPost, e.Identity.Config.URL+rv.Path, "application/json", string(body), [2]string{rv.User, rv.Secret})
	if err != nil || s < 200 || s >= 300 {
		return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("the revocation was refused (%d %s %v)", s, errorOf(answer), err)}
	}
	start := time.Now()
	for {
		status, ttl, err := fetchEntry(ctx, e, ref)
		// Within the list's ttl, and a second for the request; a list
		// without one gets a minute.
		bound := time.Minute
		if ttl > 0 {
			bound = ttl + time.Second
		}
		switch {
		case err != nil:
			return attack.Verdict{Status: attack.Fail, Reason: err.Error()}
		case status != statusValid:
			return attack.Verdict{Status: attack.Pass, Reason: fmt.Sprintf("entry flipped %s after the revocation", time.Since(start).Round(100*time.Millisecond))}
		case time.Since(start) > bound:
			return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("the revoked token's entry still says valid %s after the revocation (ttl %s)", time.Since(start).Round(100*time.Millisecond), ttl)}
		}
		select {
		case <-ctx.Done():
			return attack.Verdict{Status: attack.Fail, Reason: ctx.Err().Error()}
		case <-time.After(250 * time.Millisecond):
		}
	}
}
