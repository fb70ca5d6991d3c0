package careergpt

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"io"
	"net/http"
	"net/url"

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
	status, respBody, proof, err := s.post(ctx, target, body, cred)
	st.Proof = decodeToken(proof)
	if err != nil {
		st.Result, st.Reason = Failed, err.Error()
		return nil
	}
	st.Status = status
	switch {
	case status < 300:
		st.Result = Accepted
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		st.Result = Refused
		var e struct {
			Description string `json:"error_description"`
			Reason      string `json:"reason"`
		}
		_ = json.Unmarshal(respBody, &e)
		st.Reason, st.Code = e.Description, e.Reason
	default:
		st.Result, st.Reason = Failed, http.StatusText(status)
	}
	st.Checks = append(s.checks(ctx, st.Token, receiver, st.Code), proofChecks(st.Token, st.Proof)...)
	return respBody
}

// credential is how a request presents its token: as a bearer token, or
// with the DPoP scheme and a proof signed by dpop (RFC 9449).
type credential struct {
	token string
	dpop  crypto.Signer
}

func bearer(token string) credential { return credential{token: token} }

// post sends body as JSON with cred's token the one way every client here
// does (tokenclient.Authorize: Bearer, or DPoP with a proof by cred.dpop
// for this very request); it returns the answer and the proof it sent.
func (s *Server) post(ctx context.Context, target string, body any, cred credential) (status int, answer []byte, proof string, err error) {
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(data))
	if err != nil {
		return 0, nil, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	tok := &tokenclient.Token{AccessToken: cred.token, Type: "Bearer"}
	if cred.dpop != nil {
		tok.Type = "DPoP"
	}
	if err := tokenclient.Authorize(req, tok, cred.dpop); err != nil {
		return 0, nil, "", err
	}
	proof = req.Header.Get("DPoP")
	resp, err := s.deps.HTTP.Do(req)
	if err != nil {
		return 0, nil, proof, err
	}
	defer resp.Body.Close()
	answer, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, answer, proof, err
}
