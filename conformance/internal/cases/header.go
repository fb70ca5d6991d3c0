package cases

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/target"
)

func headerCases() []attack.Case {
	hc := func(id, title, explain, source string, sev attack.Severity, change func(h, c map[string]any)) attack.Case {
		return attack.Case{About: attack.About{ID: id, Category: "type and header", Severity: sev, Expect: attack.Refuse, Source: source,
			Title:   title,
			Explain: explain},
			Run: attack.Requests(attack.Forged(func(_ *attack.Issuer, h, c map[string]any) { change(h, c) }))}
	}
	return []attack.Case{
		hc("HDR-01", "An ID token where an access token is expected (typ JWT)",
			"An OpenID Connect ID token says who a user is, to a client; it is not permission to call an API. RFC 9068's typ at+jwt is what tells the two apart, so a token typed JWT with ID-token claims is refused.",
			"RFC 9068 §4; RFC 8725 §3.11", attack.High, func(h, c map[string]any) {
				h["typ"] = "JWT"
				c["nonce"], c["auth_time"], c["azp"] = "n-0S6_WzA2Mj", time.Now().Unix(), "some-client"
			}),
		hc("HDR-02", "typ missing", "Without typ, an access token cannot be told from any other signed JWT the issuer makes.",
			"RFC 9068 §4", attack.High, func(h, _ map[string]any) { delete(h, "typ") }),
		hc("HDR-03", "Unknown critical header (crit)", "crit lists extensions the verifier MUST understand. If it does not, it must refuse, not ignore them.",
			"RFC 7515 §4.1.11", attack.Medium, func(h, _ map[string]any) {
				h["crit"], h["x-conformance-ext"] = []string{"x-conformance-ext"}, true
			}),
		{About: attack.About{ID: "HDR-04", Category: "type and header", Severity: attack.Medium, Expect: attack.Refuse, Source: "RFC 7797; RFC 8725bis",
			Title:   "Unencoded payload (b64: false) with a detached signature",
			Explain: "RFC 7797 lets a JWS sign the payload unencoded. Verifiers that do not support it must refuse such a token, or they check a signature over different bytes than they read."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				if e.Issuer == nil {
					return nil, attack.ErrNeedsTestIssuer
				}
				_, h, c, err := e.Base(ctx, rs)
				if err != nil {
					return nil, err
				}
				h["b64"], h["crit"] = false, []string{"b64"}
				hdr, _ := attack.MarshalSegment(h)
				payload, _ := json.Marshal(c)
				k := e.Issuer.Primary
				full, err := attack.SignSegments(k.Signer, k.Algorithm, hdr, string(payload))
				if err != nil {
					return nil, err
				}
				sig := full[strings.LastIndex(full, ".")+1:]
				return []attack.Attempt{attack.Bearer("b64=false, detached", hdr+".."+sig)}, nil
			})},
		{About: attack.About{ID: "HDR-05", Category: "type and header", Severity: attack.Medium, Expect: attack.Refuse, Source: "RFC 7519 §5.2; RFC 8725 §2.8",
			Title:   "Nested JWT (cty: JWT) around a token for another service",
			Explain: "A signed envelope (cty: JWT) whose payload is a genuine token, but one for another service. A verifier that unwraps nested JWTs and trusts the inner token without checking it (its aud here) accepts what its issuer meant for someone else; one that refuses nesting, or checks the inner token fully, refuses it."},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				if e.Issuer == nil {
					return nil, attack.ErrNeedsTestIssuer
				}
				inner, _, _, err := e.BaseFor(ctx, rs, "some-other-service")
				if err != nil {
					return nil, err
				}
				h := e.Issuer.Header(rs, e.Issuer.Primary)
				h["cty"] = "JWT"
				hdr, _ := attack.MarshalSegment(h)
				k := e.Issuer.Primary
				tok, err := attack.SignSegments(k.Signer, k.Algorithm, hdr, attack.B64([]byte(inner)))
				return []attack.Attempt{attack.Bearer("cty JWT around a token for some-other-service", tok)}, err
			})},
		{About: attack.About{ID: "HDR-06", Category: "type and header", Severity: attack.Medium, Expect: attack.Refuse, Source: "RFC 7516 §4.1.3; RFC 8725bis",
			Title:   "zip on a JWS (compressed payload)",
			Explain: "zip belongs to JWE only. A verifier that inflates a JWS payload invites decompression bombs and parses bytes the signature was not meant to cover as claims."},
			Run: attack.Requests(forgedPayload("zip DEF", func(_ string, h, c map[string]any) string {
				h["zip"] = "DEF"
				plain, _ := json.Marshal(c)
				var buf bytes.Buffer
				w, _ := flate.NewWriter(&buf, flate.BestCompression)
				_, _ = w.Write(plain)
				_ = w.Close()
				return attack.B64(buf.Bytes())
			}))},
	}
}

// forgedPayload is forged for tokens whose payload segment is not the
// claims as JSON: build returns the encoded payload from the base token
// (and may change its header); the result is signed with the trusted key.
func forgedPayload(label string, build func(inner string, header, claims map[string]any) string) func(context.Context, *attack.Kit, *target.ResourceServer) ([]attack.Attempt, error) {
	return func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
		if e.Issuer == nil {
			return nil, attack.ErrNeedsTestIssuer
		}
		inner, h, c, err := e.Base(ctx, rs)
		if err != nil {
			return nil, err
		}
		payload := build(inner, h, c)
		hdr, err := attack.MarshalSegment(h)
		if err != nil {
			return nil, err
		}
		k := e.Issuer.Primary
		tok, err := attack.SignSegments(k.Signer, k.Algorithm, hdr, payload)
		return []attack.Attempt{attack.Bearer(label, tok)}, err
	}
}
