package cases

import (
	"bytes"
	"compress/zlib"
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/target"
	"github.com/s2sjwt/s2sjwt/conformance/testissuer"
)

// statusControlID is the control every status-list refusal rests on.
const statusControlID = "STL-01"

// Statuses of a status list entry (draft-ietf-oauth-status-list-17 §7.1).
const (
	statusValid     = 0
	statusRevoked   = 1
	statusSuspended = 2
)

// listEntries is the size of the suite's lists; listEntry the index its
// tokens point at.
const (
	listEntries = 16
	listEntry   = 5
)

// statusCases send tokens with a status list entry to a server that
// declares it honours status lists; the test issuer serves the lists,
// one per case and run, signed by the suite.
func statusCases() []attack.Case {
	sc := func(id, title, explain string, sev attack.Severity, expect attack.Expectation, run func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict) attack.Case {
		c := attack.Case{About: attack.About{ID: id, Category: "status list", Severity: sev, Expect: expect,
			Source: "draft-ietf-oauth-status-list-17 §6, §8, §11", Title: title, Explain: explain},
			Applies: statusServers,
			Run: func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
				if e.Issuer == nil || e.SetStatusList == nil {
					return attack.SkipOrFail(attack.ErrNeedsTestIssuer)
				}
				return run(ctx, e, rs)
			}}
		if id != statusControlID {
			c.RestsOn = []string{statusControlID}
		}
		return c
	}
	// badList is a case whose list, at the trusted URL, cannot be trusted:
	// the entry says valid there, and the token must still be refused.
	badList := func(id, title, explain string, tamper func(e *attack.Kit, l *list)) attack.Case {
		return sc(id, title, explain, attack.High, attack.Refuse, func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
			l := newList(e, id)
			tamper(e, l)
			return sendWithStatus(ctx, e, rs, l, "list: "+title)
		})
	}
	return []attack.Case{
		sc(statusControlID, "A token whose status entry says valid", "The control: the token points at an entry of its issuer's list that says valid. Refused, every refusal below would mean nothing.",
			attack.Medium, attack.Accept, func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
				return sendWithStatus(ctx, e, rs, newList(e, statusControlID), "valid entry")
			}),
		sc("STL-02", "A token revoked mid-run is refused within the declared staleness", "The token is accepted; then its entry is revoked. Within the server's declared max_stale (its refresh, and any staleness it allows) the same token must be refused: revocation that is never seen revokes nothing. The delay is measured.",
			attack.High, attack.Refuse, checkRevokedMidRun),
		sc("STL-03", "A suspended token", "Suspended (0x02) is a status of its own: a token suspended must be refused like a revoked one, for as long as it is suspended. A server that refuses only 0x01 lets every suspended caller through.",
			attack.High, attack.Refuse, func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
				l := newList(e, "STL-03")
				l.entries[listEntry] = statusSuspended
				return sendWithStatus(ctx, e, rs, l, "suspended entry")
			}),
		{About: attack.About{ID: "STL-04", Category: "status list", Severity: attack.Critical, Expect: attack.Refuse, Source: "draft-ietf-oauth-status-list-17 §11.3, §12",
			Title:   "A status uri pointing at the attacker's server",
			Explain: "The token, signed by the trusted issuer, names a list on another server. Fetching it lets whoever controls that URL answer \"valid\" for a revoked token, and turns every verification into a request wherever the token says (SSRF, tracking). The server must not fetch it; the suite fails the case on the fetch itself."},
			Applies: statusServers, RestsOn: []string{statusControlID}, Run: checkForeignStatusURI},
		badList("STL-05", "A list signed by another key", "The list at the trusted URL says valid, but is signed by a key the issuer never published. A server that trusts an unverified list lets anyone on the path (or who controls the URL) undo every revocation.",
			func(e *attack.Kit, l *list) { l.key = e.Issuer.Attacker }),
		badList("STL-06", "A list for another URI", "The list's sub must be the URI it was fetched from (§8.3): a list signed for another URI, served here, would let one list answer for another's tokens.",
			func(_ *attack.Kit, l *list) { l.claims["sub"] = l.uri + "-other" }),
		badList("STL-07", "An expired list", "A list past its exp is no evidence of anything: a server that keeps trusting it (or a copy an attacker replays) cannot see revocations made since.",
			func(_ *attack.Kit, l *list) {
				l.claims["iat"] = time.Now().Add(-2 * time.Hour).Unix()
				l.claims["exp"] = time.Now().Add(-time.Hour).Unix()
			}),
		badList("STL-08", "An index past the end of the list", "The token points at an entry the list does not have. Reading it as valid (a zero past the end) makes every token with a large enough index unrevocable.",
			func(_ *attack.Kit, l *list) { l.index = listEntries * 64 }),
	}
}

func statusServers(rs *target.ResourceServer) string {
	if rs.StatusLists == nil {
		return "the target does not declare that this server honours status lists (resource_servers[].status_lists)"
	}
	return ""
}

// list is a status list the suite signs and the test issuer serves.
type list struct {
	name, uri string
	entries   []byte // one status per entry
	index     int    // the entry the tokens point at
	key       attack.SigningKey
	claims    map[string]any
}

func newList(e *attack.Kit, id string) *list {
	name := id + "-" + attack.RandomID()[:8]
	uri := e.Issuer.URL + testissuer.StatusListsPath + name
	now := time.Now()
	return &list{name: name, uri: uri, entries: make([]byte, listEntries), index: listEntry, key: e.Issuer.Primary,
		claims: map[string]any{"sub": uri, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "ttl": 1}}
}

// publish signs l and has the test issuer serve it.
func (l *list) publish(ctx context.Context, e *attack.Kit) error {
	packed := make([]byte, len(l.entries)*2/8)
	for i, st := range l.entries {
		packed[i/4] |= st << (i % 4 * 2)
	}
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, _ = zw.Write(packed)
	_ = zw.Close()
	claims := attack.Clone(l.claims)
	claims["status_list"] = map[string]any{"bits": 2, "lst": attack.B64(buf.Bytes())}
	token, err := attack.Sign(l.key.Signer, l.key.Algorithm, map[string]any{"alg": l.key.Algorithm, "kid": l.key.ID, "typ": "statuslist+jwt"}, claims)
	if err != nil {
		return err
	}
	return e.SetStatusList(ctx, l.name, token)
}

// withStatus is a valid token for rs pointing at l's entry.
func withStatus(ctx context.Context, e *attack.Kit, rs *target.ResourceServer, l *list) (string, error) {
	return tokenWithStatus(ctx, e, rs, l.uri, l.index)
}

func tokenWithStatus(ctx context.Context, e *attack.Kit, rs *target.ResourceServer, uri string, index int) (string, error) {
	_, h, c, err := e.Base(ctx, rs)
	if err != nil {
		return "", err
	}
	c["status"] = map[string]any{"status_list": map[string]any{"idx": index, "uri": uri}}
	return e.Forge(h, c)
}

// sendWithStatus publishes l and sends one token pointing into it.
func sendWithStatus(ctx context.Context, e *attack.Kit, rs *target.ResourceServer, l *list, label string) attack.Verdict {
	if err := l.publish(ctx, e); err != nil {
		return attack.Verdict{Status: attack.Fail, Reason: "could not publish a status list at the test issuer: " + err.Error()}
	}
	tok, err := withStatus(ctx, e, rs, l)
	if err != nil {
		return attack.SkipOrFail(err)
	}
	return attack.Judge(e.Expect, []attack.Observation{e.Send(ctx, rs, attack.Bearer(label, tok))})
}

// checkRevokedMidRun is STL-02: accepted while valid, then refused once
// revoked, within the declared staleness; each presentation is a fresh
// token (a single-use server refuses a second one for another reason).
func checkRevokedMidRun(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
	l := newList(e, "STL-02")
	if err := l.publish(ctx, e); err != nil {
		return attack.Verdict{Status: attack.Fail, Reason: "could not publish a status list at the test issuer: " + err.Error()}
	}
	tok, err := withStatus(ctx, e, rs, l)
	if err != nil {
		return attack.SkipOrFail(err)
	}
	if o := e.Send(ctx, rs, attack.Bearer("before the revocation", tok)); o.Status < 200 || o.Status >= 300 {
		return attack.Verdict{Status: attack.Fail, Outcome: attack.RefusedValid, Reason: fmt.Sprintf("refused before its revocation (%d %s)", o.Status, o.Error),
			Observations: []attack.Observation{o}}
	}
	l.entries[listEntry] = statusRevoked
	if err := l.publish(ctx, e); err != nil {
		return attack.Verdict{Status: attack.Fail, Reason: "could not publish a status list at the test issuer: " + err.Error()}
	}
	maxStale := rs.StatusLists.Stale()
	start := time.Now()
	for {
		tok, err := withStatus(ctx, e, rs, l)
		if err != nil {
			return attack.SkipOrFail(err)
		}
		o := e.Send(ctx, rs, attack.Bearer("after the revocation", tok))
		switch {
		case o.Status >= 500 || o.Status == 0:
			return attack.Judge(attack.Refuse, []attack.Observation{o})
		case o.Status < 200 || o.Status >= 300:
			return attack.Verdict{Status: attack.Pass, Reason: fmt.Sprintf("revoked token refused %s after its revocation (declared max_stale %s)",
				time.Since(start).Round(100*time.Millisecond), maxStale), Observations: []attack.Observation{o}}
		case time.Since(start) > maxStale:
			return attack.Verdict{Status: attack.Fail, Outcome: attack.Accepted,
				Reason:       fmt.Sprintf("the revoked token is still accepted %s after its revocation (declared max_stale %s)", time.Since(start).Round(100*time.Millisecond), maxStale),
				Observations: []attack.Observation{o}}
		}
		select {
		case <-ctx.Done():
			return attack.Verdict{Status: attack.Fail, Reason: ctx.Err().Error()}
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// checkForeignStatusURI is STL-04.
func checkForeignStatusURI(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
	if e.Issuer == nil || e.Hits == nil {
		return attack.SkipOrFail(attack.ErrNeedsTestIssuer)
	}
	// The attacker's server is the test issuer under another name: a URL
	// outside the trusted issuer's, whose fetch the suite still sees.
	origin := otherName(e.IssuerURL)
	if origin == "" {
		return attack.Verdict{Status: attack.Skip, Reason: "the test issuer's URL has no second name the suite can reach it by (127.0.0.1 or localhost)"}
	}
	path := fmt.Sprintf(testissuer.AttackerPath+"statuslist-%s-%s", rs.Name, attack.RandomID()[:6])
	tok, err := tokenWithStatus(ctx, e, rs, origin+path, listEntry)
	if err != nil {
		return attack.SkipOrFail(err)
	}
	v := attack.Judge(attack.Refuse, []attack.Observation{e.Send(ctx, rs, attack.Bearer("status uri → attacker", tok))})
	h, err := e.ReadHits(ctx)
	if err != nil {
		return attack.Verdict{Status: attack.Fail, Reason: "cannot read the issuer's fetch log: " + err.Error(), Observations: v.Observations}
	}
	if h.HasPath(path) {
		v.Status, v.Reason = attack.Fail, attack.JoinReason(v.Reason, "the server FETCHED the status list at "+origin+path)
	}
	return v
}

// otherName is base with 127.0.0.1 and localhost swapped, or "".
func otherName(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	switch u.Hostname() {
	case "127.0.0.1":
		u.Host = strings.Replace(u.Host, "127.0.0.1", "localhost", 1)
	case "localhost":
		u.Host = strings.Replace(u.Host, "localhost", "127.0.0.1", 1)
	default:
		return ""
	}
	return u.String()
}
