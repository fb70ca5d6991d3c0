package careergpt

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/telemetry"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

// WIMSE steps: CareerGPT's workload identity token, and what a thief makes
// of a copied WIMSE call to Notification.

// workloadIdentityStep shows CareerGPT getting its WIMSE workload identity
// token, where it calls Notification with one.
func (s *Server) workloadIdentityStep(ctx context.Context, out *Outcome) {
	if s.deps.WorkloadKey == nil {
		return
	}
	st := Step{ID: "issue-workload-identity", From: LaneCareerGPT, To: LaneIdentity, Expect: Accepted, Request: "POST /oauth2/token",
		Title: "A workload identity token (WIT)",
		Story: "CareerGPT proves who it is as for any token and sends a DPoP proof signed by a third key of its own, " +
			"asking for a WIT (requested_token_type). Identity signs one: typ wit+jwt, sub the workload's URI " +
			"wimse://trust-domain/careergpt-backend, no aud, and cnf.jwk the key proved. It is not a bearer token: " +
			"every request carries a proof (WPT) made with that key."}
	ctx, span := tracer.Start(ctx, "step "+st.ID)
	defer span.End()
	st.TraceID = telemetry.TraceID(ctx)
	wit, err := s.cached.Token(ctx, tokenclient.Request{WIT: true})
	switch {
	case failedRequest(&st, err):
	case decodeToken(wit.AccessToken) == nil:
		st.Result, st.Reason = Failed, "Identity answered with a WIT that is not a JWT"
	default:
		st.Result, st.Status, st.WIT = Accepted, http.StatusOK, decodeToken(wit.AccessToken)
		st.Detail = fmt.Sprintf("Identity signed it: sub=%v, valid for %s; CareerGPT keeps it and renews it before it expires.",
			st.WIT.Claims["sub"], wit.ExpiresAt.Sub(s.deps.Now()).Round(time.Second))
	}
	s.finish(out, st)
}

// workloadThiefSteps are what a thief does with a copy of CareerGPT's
// WIMSE call to Notification (its token, WIT and WPT) and without the key
// the WIT names: each is refused, for its own reason.
func (s *Server) workloadThiefSteps(tok *tokenclient.Token, captured *workloadCred) []presentation {
	target := s.notificationURL() + "/v1/notifications"
	witAlone := &workloadCred{wit: captured.wit, noWPT: true}
	return []presentation{{
		Step: Step{ID: "wimse-wit-alone-refused", From: LaneCareerGPT, To: LaneNotification, Expect: Refused,
			Title: "A copied WIT alone, without a proof",
			Story: "A thief who copied CareerGPT's call to Notification sends its Workload Identity Token on its own. " +
				"A WIT says who the workload is and which key it holds (cnf.jwk); it proves nothing without a " +
				"Workload-Proof-Token signed by that key, which never left CareerGPT. Notification refuses it, 400 with problem details."},
		url: target, body: notificationBody(), cred: credential{workload: witAlone}, receiver: NotificationAudience,
	}, {
		Step: Step{ID: "wimse-wit-as-bearer-refused", From: LaneCareerGPT, To: LaneNotification, Expect: Refused,
			Title: "The WIT as a bearer token",
			Story: "The thief puts the WIT in Authorization, as if it were an access token. A WIT is never a bearer " +
				"token: it has no audience, and its typ (wit+jwt) tells it from one. Refused."},
		url: target, body: notificationBody(), cred: credential{token: captured.wit, plain: true}, receiver: NotificationAudience,
	}, {
		Step: Step{ID: "wimse-wpt-at-logging-refused", From: LaneCareerGPT, To: LaneLogging, Expect: Refused,
			Title: "A WPT made for Notification, replayed at Logging",
			Story: "The thief replays the whole request (token, WIT and WPT) at Logging, which takes WIMSE credentials " +
				"too. The WPT's aud is the URI of the Notification request it was made for, so Logging refuses it before " +
				"it looks at the token: per request, the proof says which service it is for."},
		url: s.cfg.LoggingURL + "/v1/logs", body: map[string]any{"message": "written by a thief"}, cred: credential{token: tok.AccessToken, workload: captured},
		receiver: LoggingAudience,
	}, {
		Step: Step{ID: "wimse-wpt-replayed-refused", From: LaneCareerGPT, To: LaneNotification, Expect: Refused,
			Title: "The copied request again, at Notification",
			Story: "Last, the thief replays the request where everything in it is right: at Notification. A WPT's jti " +
				"works once, so Notification refuses the second use, whatever the token."},
		url: target, body: notificationBody(), cred: credential{token: tok.AccessToken, workload: captured}, receiver: NotificationAudience,
	}}
}
