package conformance

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/conformance/target"
)

func headerCases() []Case {
	hc := func(id, title, explain, source string, sev Severity, change func(h, c map[string]any)) Case {
		return Case{About: About{ID: id, Category: "type and header", Severity: sev, Expect: Refuse, Source: source,
			Title:   title,
			Explain: explain},
			Run: requests(forged(func(_ *testIssuer, h, c map[string]any) { change(h, c) }))}
	}
	return []Case{
		hc("HDR-01", "An ID token where an access token is expected (typ JWT)",
			"An OpenID Connect ID token says who a user is, to a client; it is not permission to call an API. RFC 9068's typ at+jwt is what tells the two apart, so a token typed JWT with ID-token claims is refused.",
			"RFC 9068 §4; RFC 8725 §3.11", High, func(h, c map[string]any) {
				h["typ"] = "JWT"
				c["nonce"], c["auth_time"], c["azp"] = "n-0S6_WzA2Mj", time.Now().Unix(), "some-client"
			}),
		hc("HDR-02", "typ missing", "Without typ, an access token cannot be told from any other signed JWT the issuer makes.",
			"RFC 9068 §4", High, func(h, _ map[string]any) { delete(h, "typ") }),
		hc("HDR-03", "Unknown critical header (crit)", "crit lists extensions the verifier MUST understand. If it does not, it must refuse, not ignore them.",
			"RFC 7515 §4.1.11", Medium, func(h, _ map[string]any) {
				h["crit"], h["x-conformance-ext"] = []string{"x-conformance-ext"}, true
			}),
		{About: About{ID: "HDR-04", Category: "type and header", Severity: Medium, Expect: Refuse, Source: "RFC 7797; RFC 8725bis",
			Title:   "Unencoded payload (b64: false) with a detached signature",
			Explain: "RFC 7797 lets a JWS sign the payload unencoded. Verifiers that do not support it must refuse such a token, or they check a signature over different bytes than they read."},
			Run: requests(func(ctx context.Context, e *env, rs *target.ResourceServer) ([]attempt, error) {
				if e.issuer == nil {
					return nil, errNeedsTestIssuer
				}
				_, h, c, err := e.base(ctx, rs)
				if err != nil {
					return nil, err
				}
				h["b64"], h["crit"] = false, []string{"b64"}
				hdr, _ := marshalSegment(h)
				payload, _ := json.Marshal(c)
				k := e.issuer.primary
				full, err := signSegments(k.Signer, k.Algorithm, hdr, string(payload))
				if err != nil {
					return nil, err
				}
				sig := full[strings.LastIndex(full, ".")+1:]
				return []attempt{bearer("b64=false, detached", hdr+".."+sig)}, nil
			})},
		{About: About{ID: "HDR-05", Category: "type and header", Severity: Medium, Expect: Refuse, Source: "RFC 7519 §5.2; RFC 8725 §2.8",
			Title:   "Nested JWT (cty: JWT) around a token for another service",
			Explain: "A signed envelope (cty: JWT) whose payload is a genuine token, but one for another service. A verifier that unwraps nested JWTs and trusts the inner token without checking it (its aud here) accepts what its issuer meant for someone else; one that refuses nesting, or checks the inner token fully, refuses it."},
			Run: requests(func(ctx context.Context, e *env, rs *target.ResourceServer) ([]attempt, error) {
				if e.issuer == nil {
					return nil, errNeedsTestIssuer
				}
				inner, _, _, err := e.baseFor(ctx, rs, "some-other-service")
				if err != nil {
					return nil, err
				}
				h := e.issuer.header(e.issuer.primary)
				h["cty"] = "JWT"
				hdr, _ := marshalSegment(h)
				k := e.issuer.primary
				tok, err := signSegments(k.Signer, k.Algorithm, hdr, b64([]byte(inner)))
				return []attempt{bearer("cty JWT around a token for some-other-service", tok)}, err
			})},
		{About: About{ID: "HDR-06", Category: "type and header", Severity: Medium, Expect: Refuse, Source: "RFC 7516 §4.1.3; RFC 8725bis",
			Title:   "zip on a JWS (compressed payload)",
			Explain: "zip belongs to JWE only. A verifier that inflates a JWS payload invites decompression bombs and parses bytes the signature was not meant to cover as claims."},
			Run: requests(forgedPayload("zip DEF", func(_ string, h, c map[string]any) string {
				h["zip"] = "DEF"
				plain, _ := json.Marshal(c)
				var buf bytes.Buffer
				w, _ := flate.NewWriter(&buf, flate.BestCompression)
				_, _ = w.Write(plain)
				_ = w.Close()
				return b64(buf.Bytes())
			}))},
	}
}

// forgedPayload is forged for tokens whose payload segment is not the
// claims as JSON: build returns the encoded payload from the base token
// (and may change its header); the result is signed with the trusted key.
func forgedPayload(label string, build func(inner string, header, claims map[string]any) string) func(context.Context, *env, *target.ResourceServer) ([]attempt, error) {
	return func(ctx context.Context, e *env, rs *target.ResourceServer) ([]attempt, error) {
		if e.issuer == nil {
			return nil, errNeedsTestIssuer
		}
		inner, h, c, err := e.base(ctx, rs)
		if err != nil {
			return nil, err
		}
		payload := build(inner, h, c)
		hdr, err := marshalSegment(h)
		if err != nil {
			return nil, err
		}
		k := e.issuer.primary
		tok, err := signSegments(k.Signer, k.Algorithm, hdr, payload)
		return []attempt{bearer(label, tok)}, err
	}
}
