package careergpt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/telemetry"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

// Revocation (Token Status List): with Config.AdminSecret (the demo's
// operator credentials), the scenario revokes CareerGPT's Logging token at
// Identity and shows Logging refusing it once its copy of the list is
// refreshed, a fresh token still working, and a suspended caller refused
// at the token endpoint until reinstated.

// revocationWait bounds how long the scenario presents a revoked token
// before calling the revocation missed: the list's ttl (10 s), a refresh,
// and room for a busy machine.
const revocationWait = 30 * time.Second

func (s *Server) revocationSteps(ctx context.Context, out *Outcome, tok *tokenclient.Token) {
	view := decodeToken(tok.AccessToken)
	if view == nil || !s.adminStep(ctx, out, Step{ID: "revoke-token", Title: "An operator revokes CareerGPT's Logging token",
		Story: "Say the Logging token leaked. The operator revokes it at Identity by its jti (POST /admin/revoke). Identity flips " +
			"the token's entry in its status list, the signed list every token points into (its status claim).",
		Request: "POST /admin/revoke"}, "/admin/revoke", map[string]string{"jti": view.JTI}) {
		return
	}
	s.revokedTokenStep(ctx, out, tok)
	if fresh := s.issueStep(ctx, out, LoggingAudience, scopeLogsWrite, 0); fresh != nil {
		issued := &out.Steps[len(out.Steps)-1]
		issued.ID, issued.Title = "issue-logging-service-after-revocation", "A fresh Logging token"
		s.show(ctx, out, presentation{
			Step: Step{ID: "fresh-token-accepted", From: LaneCareerGPT, To: LaneLogging, Expect: Accepted,
				Title: "A fresh token still works",
				Story: "Revoking a token withdraws that token, not its caller: CareerGPT's new token, with an entry of its own in the list, is accepted."},
			url: s.cfg.LoggingURL + "/v1/logs", body: map[string]any{"message": "after a revocation"}, cred: s.own(fresh), receiver: LoggingAudience,
		})
	}
	if !s.adminStep(ctx, out, Step{ID: "suspend-caller", Title: "The operator suspends CareerGPT",
		Story: "Now the whole caller is suspect: the operator suspends careergpt-backend (POST /admin/suspend). Every token it holds " +
			"reads suspended in the list, and Identity issues it no new one.",
		Request: "POST /admin/suspend"}, "/admin/suspend", map[string]string{"client_id": ClientID}) {
		return
	}
	s.settle(ctx)
	s.suspendedIssueStep(ctx, out)
	defer s.settle(ctx) // the steps after this use CareerGPT's tokens again
	s.adminStep(ctx, out, Step{ID: "reinstate-caller", Title: "The operator reinstates CareerGPT",
		Story: "The demo goes on: the operator reinstates careergpt-backend (POST /admin/reinstate). A revoked caller, unlike a " +
			"suspended one, could not be.",
		Request: "POST /admin/reinstate"}, "/admin/reinstate", map[string]string{"client_id": ClientID})
}

// clientStatusReach is how long a caller's suspension or reinstatement
// takes to reach every Identity replica (each reads them once a second).
const clientStatusReach = 1100 * time.Millisecond

// settle waits until a change of CareerGPT's status reached every replica.
func (s *Server) settle(ctx context.Context) { _ = s.deps.Sleep(ctx, clientStatusReach) }

// adminStep plays an operator's call to Identity's admin API and reports
// whether it was accepted.
func (s *Server) adminStep(ctx context.Context, out *Outcome, st Step, path string, body any) bool {
	st.From, st.To, st.Expect = LaneCareerGPT, LaneIdentity, Accepted
	ctx, span := tracer.Start(ctx, "step "+st.ID)
	defer span.End()
	st.TraceID = telemetry.TraceID(ctx)
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.IdentityURL+path, bytes.NewReader(data))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth("admin", s.cfg.AdminSecret)
		var resp *http.Response
		if resp, err = s.deps.HTTP.Do(req); err == nil {
			answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
			resp.Body.Close()
			st.Status = resp.StatusCode
			if resp.StatusCode == http.StatusOK {
				st.Result, st.Detail = Accepted, "Identity answered "+string(bytes.TrimSpace(answer))
			} else {
				st.Result, st.Reason = Failed, fmt.Sprintf("Identity answered %d: %s", resp.StatusCode, bytes.TrimSpace(answer))
			}
		}
	}
	if err != nil {
		st.Result, st.Reason = Failed, err.Error()
	}
	s.finish(out, st)
	return st.Result == Accepted
}

// revokedTokenStep presents the revoked token to Logging until Logging
// refuses it, as it does once it refreshes its copy of the list.
func (s *Server) revokedTokenStep(ctx context.Context, out *Outcome, tok *tokenclient.Token) {
	st := Step{ID: "revoked-token-refused", From: LaneCareerGPT, To: LaneLogging, Expect: Refused,
		Title: "Logging refuses the revoked token",
		Story: "CareerGPT keeps presenting the revoked token. Logging checks each token's entry in Identity's list, which it " +
			"fetched, verified with Identity's keys and caches for the list's ttl (10 s); once it refetched the list, the " +
			"token is refused. No call to Identity per request, and a bound on how late a revocation is seen."}
	ctx, span := tracer.Start(ctx, "step "+st.ID)
	defer span.End()
	st.TraceID = telemetry.TraceID(ctx)
	start := s.deps.Now()
	body := map[string]any{"message": "with a revoked token"}
	for {
		s.present(ctx, &st, s.cfg.LoggingURL+"/v1/logs", body, s.own(tok), LoggingAudience)
		if st.Result != Accepted || s.deps.Now().Sub(start) > revocationWait {
			break
		}
		if err := s.deps.Sleep(ctx, 250*time.Millisecond); err != nil {
			st.Result, st.Reason = Failed, err.Error()
			break
		}
	}
	if st.Result == Refused {
		st.Detail = fmt.Sprintf("Refused %s after the revocation (bound: the list's ttl, 10 s, and one refresh).",
			s.deps.Now().Sub(start).Round(100*time.Millisecond))
	}
	s.finish(out, st)
}

// suspendedIssueStep asks for a token as the suspended CareerGPT.
func (s *Server) suspendedIssueStep(ctx context.Context, out *Outcome) {
	st := Step{ID: "suspended-caller-refused", From: LaneCareerGPT, To: LaneIdentity, Expect: Refused,
		Request: "POST /oauth2/token", Title: "A suspended caller gets no token",
		Story: "CareerGPT proves who it is as before, with its own key, and asks for a token. Its credentials are right, but " +
			"Identity refuses a suspended caller (invalid_client), at every replica within a second."}
	ctx, span := tracer.Start(ctx, "step "+st.ID)
	defer span.End()
	st.TraceID = telemetry.TraceID(ctx)
	_, err := s.tokens.Token(ctx, tokenclient.Request{Audience: NotificationAudience, Scope: scopeNotify})
	var terr *tokenclient.Error
	switch {
	case errors.As(err, &terr):
		st.Result, st.Status, st.Reason, st.Code = Refused, terr.Status, terr.Description, terr.Code
	case err != nil:
		st.Result, st.Reason = Failed, err.Error()
	default:
		st.Result, st.Status = Accepted, http.StatusOK
	}
	s.finish(out, st)
}
