package authn

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s2sjwt/s2sjwt/internal/telemetry"
)

// Token Status List (draft-ietf-oauth-status-list-17): a token's status
// claim points at an index in a list its issuer signs and publishes; a
// resource server fetches the list, caches it, and refuses a token whose
// entry says it was withdrawn. Only the JWT form (statuslist+jwt) and the
// status_list mechanism are read.

// StatusListType is the typ of a status list token (§5.1).
const StatusListType = "statuslist+jwt"

// Statuses of a referenced token (§7.1); the others are refused as unknown.
const (
	StatusValid     = 0x00
	StatusInvalid   = 0x01 // revoked for good
	StatusSuspended = 0x02
)

// Bounds on what a status list may cost.
const (
	// maxStatusListBody bounds a fetched list token, and maxStatusListBytes
	// the list it inflates to: 4 MiB holds 16 million 2-bit entries, and a
	// ZLIB bomb stops there.
	maxStatusListBody  = 1 << 20
	maxStatusListBytes = 4 << 20
	// maxStatusLists bounds the lists cached: the URIs come from tokens the
	// issuer signed, under its URL, so a handful.
	maxStatusLists = 64
	// DefaultStatusRefresh is how long a list is used before it is fetched
	// again when it names no shorter ttl; the bound on how late a
	// revocation is seen, with MaxStale.
	DefaultStatusRefresh = 30 * time.Second
	// DefaultStatusMaxStale is how long past its refresh a list is still
	// used while its issuer cannot be reached; after that, tokens that
	// point into it are refused (fail closed).
	DefaultStatusMaxStale = time.Minute
)

// Errors of the status check.
var (
	ErrRevoked           = errors.New("authn: token revoked")
	ErrSuspended         = errors.New("authn: token suspended")
	ErrStatus            = errors.New("authn: token status not usable")
	ErrStatusUnavailable = errors.New("authn: token status list unavailable")
)

// StatusRef is a token's status_list reference (§6.2).
type StatusRef struct {
	Index int    `json:"idx"`
	URI   string `json:"uri"`
}

// StatusListsConfig configures StatusLists.
type StatusListsConfig struct {
	// Issuer is the trusted issuer's URL: only lists under Issuer + "/" are
	// fetched. A token naming any other URI is refused unfetched: a
	// verifier that fetched what tokens name would be an SSRF and a
	// tracking channel.
	Issuer string
	// KeySet verifies the lists: the issuer's own keys.
	KeySet KeySet
	// Algorithms allowed for lists; DefaultAlgorithms when empty.
	Algorithms []string
	// Client makes the requests; it must have a timeout.
	Client *http.Client
	// Refresh is how long a list is used before refetching, unless its ttl
	// is shorter; DefaultStatusRefresh if zero.
	Refresh time.Duration
	// MaxStale is how long past Refresh a list may still answer while it
	// cannot be refetched; DefaultStatusMaxStale if zero.
	MaxStale time.Duration
	Logger   *slog.Logger
	Now      func() time.Time
}

// StatusLists fetches, verifies and caches status lists, one fetch at a
// time per list, refreshed in the background while the cached one is
// still usable. It is safe for concurrent use.
type StatusLists struct {
	cfg StatusListsConfig

	mu    sync.Mutex
	lists map[string]*cachedList
}

type cachedList struct {
	list        statusList // zero until fetched
	fetchedAt   time.Time  // of list
	fresh       time.Duration
	attemptedAt time.Time     // of the last fetch, successful or not
	inflight    chan struct{} // closed when the fetch under way ends
	lastErr     error
}

// statusRetry is the least time between two fetches of one list: an
// unreachable issuer gets one fetch a second, not one per request.
const statusRetry = time.Second

// NewStatusLists returns a StatusLists for cfg.
func NewStatusLists(cfg StatusListsConfig) (*StatusLists, error) {
	if cfg.Issuer == "" || cfg.KeySet == nil {
		return nil, errors.New("authn: status lists: issuer and key set are required")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 2 * time.Second, Transport: telemetry.Transport(nil)}
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = DefaultAlgorithms
	}
	cfg.Refresh = positiveOr(cfg.Refresh, DefaultStatusRefresh)
	cfg.MaxStale = positiveOr(cfg.MaxStale, DefaultStatusMaxStale)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &StatusLists{cfg: cfg, lists: map[string]*cachedList{}}, nil
}

// positiveOr is d, or fallback when d is not positive.
func positiveOr(d, fallback time.Duration) time.Duration {
	if d <= 0 {
		return fallback
	}
	return d
}

// Check returns nil when ref's entry says valid, ErrRevoked or
// ErrSuspended when it says otherwise, ErrStatus for a reference no list
// can answer (outside the issuer, past the list, a list that does not
// verify), and ErrStatusUnavailable when the list cannot be had fresh
// enough from an unreachable issuer. A cached list answers at once; a
// stale one is refreshed in the background and answers until MaxStale
// past its refresh.
func (s *StatusLists) Check(ctx context.Context, ref StatusRef) error {
	if !strings.HasPrefix(ref.URI, s.cfg.Issuer+"/") || strings.ContainsAny(ref.URI, "?#") {
		return fmt.Errorf("%w: status list %q is not under the trusted issuer", ErrStatus, ref.URI)
	}
	list, err := s.list(ctx, ref.URI)
	if err != nil {
		return err
	}
	status, ok := list.status(ref.Index)
	switch {
	case !ok:
		return fmt.Errorf("%w: index %d outside a list of %d", ErrStatus, ref.Index, list.len())
	case status == StatusValid:
		return nil
	case status == StatusInvalid:
		return fmt.Errorf("%w: %s[%d]", ErrRevoked, ref.URI, ref.Index)
	case status == StatusSuspended:
		return fmt.Errorf("%w: %s[%d]", ErrSuspended, ref.URI, ref.Index)
	}
	return fmt.Errorf("%w: unknown status %#x", ErrStatus, status)
}

// list returns uri's list, fetching it if none is usable.
func (s *StatusLists) list(ctx context.Context, uri string) (statusList, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	c, ok := s.lists[uri]
	if !ok {
		if len(s.lists) >= maxStatusLists {
			s.mu.Unlock()
			return statusList{}, fmt.Errorf("%w: more than %d status lists", ErrStatus, maxStatusLists)
		}
		c = &cachedList{}
		s.lists[uri] = c
	}
	age := now.Sub(c.fetchedAt)
	usable := !c.fetchedAt.IsZero() && age <= c.fresh+s.cfg.MaxStale
	if (c.fetchedAt.IsZero() || age > c.fresh) && c.inflight == nil && now.Sub(c.attemptedAt) >= statusRetry {
		c.inflight, c.attemptedAt = make(chan struct{}), now
		go s.fetch(uri, c)
	}
	if usable {
		list := c.list
		s.mu.Unlock()
		return list, nil
	}
	wait := c.inflight
	if wait == nil { // the last fetch failed a moment ago
		err := c.lastErr
		s.mu.Unlock()
		return statusList{}, failedFetch(err)
	}
	s.mu.Unlock()
	select {
	case <-wait:
	case <-ctx.Done():
		return statusList{}, fmt.Errorf("%w: %w", ErrStatusUnavailable, ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.fetchedAt.IsZero() || s.cfg.Now().Sub(c.fetchedAt) > c.fresh+s.cfg.MaxStale {
		return statusList{}, failedFetch(c.lastErr)
	}
	return c.list, nil
}

// failedFetch is the error of a check with no usable list: ErrStatus (the
// token is refused, 401) when the issuer served a list that does not
// verify, ErrStatusUnavailable (503) when it could not be reached.
func failedFetch(err error) error {
	if errors.Is(err, ErrStatus) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrStatusUnavailable, err)
}

// fetch gets uri's list for c. It belongs to no request, so a caller that
// gives up fails no other; the client's timeout bounds it.
func (s *StatusLists) fetch(uri string, c *cachedList) {
	list, fresh, err := s.get(context.Background(), uri)
	s.mu.Lock()
	defer s.mu.Unlock()
	c.lastErr = err
	if err == nil {
		c.list, c.fetchedAt, c.fresh = list, s.cfg.Now(), fresh
	} else {
		s.cfg.Logger.Warn("status list not refreshed", "uri", uri, "err", err)
	}
	close(c.inflight)
	c.inflight = nil
}

// get fetches and verifies uri's list token, and returns the list and how
// long it may be used.
func (s *StatusLists) get(ctx context.Context, uri string) (statusList, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return statusList{}, 0, err
	}
	req.Header.Set("Accept", "application/"+StatusListType)
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return statusList{}, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStatusListBody+1))
	switch {
	case err != nil:
		return statusList{}, 0, err
	case resp.StatusCode != http.StatusOK:
		return statusList{}, 0, fmt.Errorf("status list %s answered %s", uri, resp.Status)
	case len(body) > maxStatusListBody:
		return statusList{}, 0, fmt.Errorf("status list %s larger than %d bytes", uri, maxStatusListBody)
	}
	return s.verify(ctx, uri, strings.TrimSpace(string(body)))
}

// statusListClaims are a status list token's claims (§5.1).
type statusListClaims struct {
	jwt.RegisteredClaims
	TTL  *float64 `json:"ttl"`
	List *struct {
		Bits int    `json:"bits"`
		Lst  string `json:"lst"`
	} `json:"status_list"`
}

// verify checks a list token: typ, an allowed alg, the issuer's signature,
// sub the URI it was fetched from, iat, exp not passed; and reads its list.
func (s *StatusLists) verify(ctx context.Context, uri, raw string) (statusList, time.Duration, error) {
	var claims statusListClaims
	_, err := jwt.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, StatusListType) && !strings.EqualFold(typ, "application/"+StatusListType) {
			return nil, fmt.Errorf("typ %q", typ)
		}
		kid, _ := t.Header["kid"].(string)
		key, err := s.cfg.KeySet.Key(ctx, kid)
		if err != nil {
			return nil, err
		}
		if key.Algorithm != t.Method.Alg() {
			return nil, fmt.Errorf("%s list, %s key", t.Method.Alg(), key.Algorithm)
		}
		return key.Public, nil
	}, jwt.WithValidMethods(s.cfg.Algorithms), jwt.WithSubject(uri), jwt.WithIssuedAt(), jwt.WithTimeFunc(s.cfg.Now), jwt.WithLeeway(DefaultLeeway))
	switch {
	case errors.Is(err, ErrKeySetUnavailable):
		return statusList{}, 0, fmt.Errorf("status list %s: %w", uri, err)
	case err != nil:
		return statusList{}, 0, fmt.Errorf("%w: status list %s: %w", ErrStatus, uri, err)
	case claims.IssuedAt == nil || claims.List == nil:
		return statusList{}, 0, fmt.Errorf("%w: status list %s: no iat or status_list", ErrStatus, uri)
	}
	list, err := decodeStatusList(claims.List.Bits, claims.List.Lst)
	if err != nil {
		return statusList{}, 0, fmt.Errorf("%w: status list %s: %w", ErrStatus, uri, err)
	}
	fresh := s.cfg.Refresh
	if claims.TTL != nil && *claims.TTL >= 0 && *claims.TTL < fresh.Seconds() {
		fresh = time.Duration(*claims.TTL * float64(time.Second))
	}
	if claims.ExpiresAt != nil {
		fresh = min(fresh, claims.ExpiresAt.Sub(s.cfg.Now()))
	}
	return list, fresh, nil
}

// statusList is a decoded list: entries of bits bits, the first in the
// least significant bits of the first byte (§4.1).
type statusList struct {
	bits  int
	bytes []byte
}

func decodeStatusList(bits int, lst string) (statusList, error) {
	if !slices.Contains([]int{1, 2, 4, 8}, bits) {
		return statusList{}, fmt.Errorf("bits %d is not 1, 2, 4 or 8", bits)
	}
	compressed, err := b64.DecodeString(lst)
	if err != nil {
		return statusList{}, errors.New("lst is not base64url")
	}
	zr, err := zlib.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return statusList{}, fmt.Errorf("lst is not ZLIB: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, maxStatusListBytes+1))
	switch {
	case err != nil:
		return statusList{}, fmt.Errorf("lst is not ZLIB: %w", err)
	case len(data) > maxStatusListBytes:
		return statusList{}, fmt.Errorf("lst inflates past %d bytes", maxStatusListBytes)
	}
	return statusList{bits: bits, bytes: data}, nil
}

func (l statusList) len() int {
	if l.bits == 0 {
		return 0
	}
	return len(l.bytes) * 8 / l.bits
}

// status is entry i, and whether the list has one.
func (l statusList) status(i int) (byte, bool) {
	if i < 0 || i >= l.len() {
		return 0, false
	}
	bit := i * l.bits
	return l.bytes[bit/8] >> (bit % 8) & byte(1<<l.bits-1), true
}

// statusRef reads a status claim's status_list reference (§6.1), refusing
// what is not an object with a non-negative integer idx and a string uri.
func statusRef(value []byte) (*StatusRef, error) {
	if value[0] != '{' {
		return nil, fmt.Errorf("%w: status is not an object", ErrMalformed)
	}
	var ref *StatusRef
	err := scanObject(value, []string{"status_list"}, func(name string, v []byte) error {
		if name != "status_list" {
			return nil // another mechanism: not ours to read
		}
		if v[0] != '{' {
			return fmt.Errorf("%w: status_list is not an object", ErrMalformed)
		}
		ref = &StatusRef{Index: -1}
		return scanObject(v, []string{"idx", "uri"}, func(name string, v []byte) (err error) {
			switch name {
			case "idx":
				n, perr := strconv.ParseInt(string(v), 10, 64)
				if perr != nil || n < 0 || n > math.MaxInt32 {
					return fmt.Errorf("%w: status_list.idx is not a non-negative integer", ErrMalformed)
				}
				ref.Index = int(n)
			case "uri":
				ref.URI, err = jsonString("status_list.uri", v)
			}
			return err
		})
	})
	if err == nil && ref != nil && (ref.Index < 0 || ref.URI == "") {
		err = fmt.Errorf("%w: status_list needs idx and uri", ErrMalformed)
	}
	return ref, err
}
