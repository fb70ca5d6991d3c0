package careergpt

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

// own presents tok as CareerGPT does: with a proof from its DPoP key when
// the token is bound to it.
func (s *Server) own(tok *tokenclient.Token) credential {
	if tok.Type == "DPoP" {
		return credential{token: tok.AccessToken, dpop: s.deps.DPoPKey}
	}
	return bearer(tok.AccessToken)
}

// present POSTs body with token to target, records the answer in st, and
// returns the response body.
func (s *Server) present(ctx context.Context, st *Step, target string, body any, cred credential, receiver string) []byte {
	if u, err := url.Parse(target); err == nil {
		st.Request = "POST " + u.Path
	}
	st.Token = decodeToken(cred.token)
	status, respBody, sent, err := s.post(ctx, target, body, cred)
	st.Proof, st.WIT = decodeToken(sent.proof), decodeToken(sent.wit)
	if err != nil {
		st.Result, st.Reason = Failed, err.Error()
		return nil
	}
	st.Status = status
	switch {
	case status < 300:
		st.Result = Accepted
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusBadRequest:
		// 400 is a refused WIMSE credential (RFC 9457 problem details).
		st.Result = Refused
		var e struct {
			Description string `json:"error_description"`
			Title       string `json:"title"`
			Reason      string `json:"reason"`
		}
		_ = json.Unmarshal(respBody, &e)
		st.Reason, st.Code = cmp.Or(e.Description, e.Title), e.Reason
	default:
		st.Result, st.Reason = Failed, http.StatusText(status)
	}
	if st.Token != nil {
		st.Checks = append(s.checks(ctx, st.Token, receiver, st.Code), proofChecks(st.Token, st.Proof)...)
	}
	st.Checks = append(st.Checks, workloadChecks(st.WIT, st.Proof, target, st.Code)...)
	return respBody
}

// credential is how a request presents its token: as a bearer token, or
// with the DPoP scheme and a proof signed by dpop (RFC 9449); and, to a
// service CareerGPT calls with WIMSE credentials, with its WIT and a WPT.
type credential struct {
	token string
	dpop  crypto.Signer
	// workload, if set, are the WIMSE credentials sent; nil: CareerGPT's
	// own where it calls with them (workloadFor), unless plain.
	workload *workloadCred
	plain    bool // the token alone, as a thief without the key sends it
}

// workloadCred is a WIT, its key, and the WPT to send: one signed for
// the request, a captured one (wpt), or none (noWPT).
type workloadCred struct {
	wit   string
	key   crypto.Signer
	wpt   string
	noWPT bool
}

func bearer(token string) credential { return credential{token: token} }

// sent is what a request carried besides its token: the DPoP proof or WPT,
// and the WIT.
type sent struct{ proof, wit string }

// post sends body as JSON with cred's token the one way every client here
// does (tokenclient.Authorize: Bearer, or DPoP with a proof by cred.dpop
// for this very request; with WIMSE credentials,
// tokenclient.AddWorkloadProof); it returns the answer and what it sent.
func (s *Server) post(ctx context.Context, target string, body any, cred credential) (status int, answer []byte, out sent, err error) {
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(data))
	if err != nil {
		return 0, nil, out, err
	}
	req.Header.Set("Content-Type", "application/json")
	if cred.workload == nil && !cred.plain {
		if cred.workload, err = s.workloadFor(ctx, target); err != nil {
			return 0, nil, out, err
		}
	}
	if out, err = s.authorize(req, cred); err != nil {
		return 0, nil, out, err
	}
	resp, err := s.deps.HTTP.Do(req)
	if err != nil {
		return 0, nil, out, err
	}
	defer resp.Body.Close()
	answer, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, answer, out, err
}

// authorize puts cred on req.
func (s *Server) authorize(req *http.Request, cred credential) (sent, error) {
	w := cred.workload
	if w == nil {
		tok := &tokenclient.Token{AccessToken: cred.token, Type: "Bearer"}
		if cred.dpop != nil {
			tok.Type = "DPoP"
		}
		err := tokenclient.Authorize(req, tok, cred.dpop)
		return sent{proof: req.Header.Get("DPoP")}, err
	}
	if cred.token != "" {
		req.Header.Set("Authorization", "Bearer "+cred.token)
	}
	switch {
	case w.wpt != "": // a captured one, replayed
		req.Header.Set(authn.WITHeader, w.wit)
		req.Header.Set(authn.WPTHeader, w.wpt)
	case w.noWPT:
		req.Header.Set(authn.WITHeader, w.wit)
	default:
		if err := tokenclient.AddWorkloadProof(req, &tokenclient.Token{AccessToken: w.wit}, w.key, cred.token); err != nil {
			return sent{}, err
		}
	}
	return sent{proof: req.Header.Get(authn.WPTHeader), wit: w.wit}, nil
}

// workloadFor is CareerGPT's WIMSE credentials for a call to target: its
// WIT (cached, renewed before it expires) and key, for Notification when
// it has a workload key; nil elsewhere.
func (s *Server) workloadFor(ctx context.Context, target string) (*workloadCred, error) {
	if s.deps.WorkloadKey == nil || !s.isNotification(target) {
		return nil, nil
	}
	wit, err := s.cached.Token(ctx, tokenclient.Request{WIT: true})
	if err != nil {
		return nil, fmt.Errorf("careergpt: workload identity token: %w", err)
	}
	return &workloadCred{wit: wit.AccessToken, key: s.deps.WorkloadKey}, nil
}

// isNotification is whether target is at Notification or a replica.
func (s *Server) isNotification(target string) bool {
	for _, base := range append([]string{s.cfg.NotificationURL}, s.cfg.NotificationReplicas...) {
		if strings.HasPrefix(target, strings.TrimSuffix(base, "/")+"/") {
			return true
		}
	}
	return false
}
