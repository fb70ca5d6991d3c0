package careergpt

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

// Delegation (RFC 8693): Notification's audit entry for CareerGPT's
// notification, written with a token exchanged for CareerGPT's, and the
// two exchanges Identity refuses Notification.

// notificationCallSteps show Notification's own calls, which CareerGPT
// does not make and so observes in Logging's record of them: the audit
// entry for notification id, written with the token Notification got by
// exchanging CareerGPT's (RFC 8693): CareerGPT's, via Notification. The
// demo's Notification also shows that token's claims (exchanged).
func (s *Server) notificationCallSteps(ctx context.Context, out *Outcome, id int64, exchanged *TokenView) {
	// Entries of the last minute only: a long-running demo's older ones
	// would push this one past the list's limit.
	since := s.deps.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	raw, err := s.loggingEntries(ctx, url.Values{"since": {since}, "limit": {"1000"}})
	var entry *loggingEntry
	for _, r := range raw {
		var e loggingEntry
		if json.Unmarshal(r, &e) == nil && e.Attributes["notification_id"] == strconv.FormatInt(id, 10) {
			entry = &e
			break
		}
	}
	result, reason := Accepted, ""
	switch {
	case err != nil:
		result, reason = Failed, "cannot read Logging's record: "+err.Error()
	case entry == nil:
		result, reason = Failed, "Logging holds no entry for this notification"
	case entry.Source != ClientID || !slices.Equal(entry.Actors, []string{"notification-backend"}):
		result, reason = Failed, fmt.Sprintf("the entry reads source=%s, actors=%v (delegation: %s), not %s via notification-backend",
			entry.Source, entry.Actors, entry.Attributes["delegation"], ClientID)
	}
	for _, st := range []Step{{
		ID: "notification-exchanges-token", From: LaneNotification, To: LaneIdentity, Expect: Accepted, Status: http.StatusOK,
		Request: "POST /oauth2/token (token exchange)", Title: "Notification exchanges CareerGPT's token",
		Story: "To log the notification on CareerGPT's behalf, Notification sends Identity the token CareerGPT presented " +
			"to it (subject_token, RFC 8693), proving who it is with its own client key. The registry lets " +
			"notification-backend act for careergpt-backend with tokens presented to notification-service, toward " +
			"logging-service only. Identity answers with a Logging token whose sub is careergpt-backend (on whose " +
			"behalf) and whose act is {\"sub\": \"notification-backend\"} (who acts), bound to Notification's DPoP key and " +
			"living no longer than CareerGPT's token. Each token is exchanged once. CareerGPT does not see this call; " +
			"it sees its result below.",
		Token: exchanged,
	}, {
		ID: "notification-audit-logged", From: LaneNotification, To: LaneLogging, Expect: Accepted, Status: http.StatusCreated,
		Request: "POST /v1/logs", Title: "Logging records careergpt-backend via notification-backend",
		Story: "Notification writes the audit entry with the exchanged token. Logging accepts notification-backend as an " +
			"actor (ACCEPTED_ACTORS) and records the token's sub as the source and its act as the chain: the entry " +
			"says who asked and who acted, and no hop can claim to be another.",
	}} {
		st.Result, st.Reason = result, reason
		if result != Accepted {
			st.Status = 0
		} else {
			st.Detail = fmt.Sprintf("Seen in Logging's record: notification %d's entry reads %s via %s.", id, entry.Source, strings.Join(entry.Actors, " via "))
		}
		s.finish(out, st)
	}
}

// exchangeProbeSteps show two exchanges Identity refuses Notification:
// CareerGPT hands Notification its Logging token, as a thief or a
// misrouted request would, and Notification's exchange probes (a demo
// endpoint, EXCHANGE_PROBES=on) try to exchange it, and then the token
// CareerGPT presented, for a wider scope.
func (s *Server) exchangeProbeSteps(ctx context.Context, out *Outcome, foreign *tokenclient.Token) {
	tok := s.issueStep(ctx, out, NotificationAudience, scopeNotify, 0)
	if tok == nil {
		return
	}
	issued := &out.Steps[len(out.Steps)-1]
	issued.ID, issued.Title = "issue-notification-service-for-probes", "Another token for notification-service"
	s.show(ctx, out, presentation{
		Step: Step{ID: "exchange-probes", From: LaneCareerGPT, To: LaneNotification, Expect: Accepted,
			Title: "Notification tries two exchanges it must not get",
			Story: "CareerGPT hands Notification its Logging token, as a thief, a compromised caller or a misrouted request " +
				"could, and asks Notification's demo probes to try two token exchanges with Notification's own credentials: " +
				"that Logging token, and the token this very request presents, but for logs:read."},
		url: s.notificationURL() + "/v1/exchange-probes", body: map[string]string{"foreign_token": foreign.AccessToken},
		cred: bearer(tok.AccessToken), receiver: NotificationAudience,
		followUp: func(_ context.Context, out *Outcome, answer []byte) { s.probeSteps(out, answer) },
	})
}

// probeStories are the refused exchanges the probes report.
var probeStories = map[string]Step{
	"exchange-foreign-token": {Title: "Notification exchanges a token not presented to it",
		Story: "Notification sends Identity CareerGPT's Logging token as the subject_token. Its aud is logging-service, not " +
			"Notification's service, so Identity refuses: a token can be exchanged only by the service it was for, and a " +
			"stolen token gets its thief nothing here either."},
	"exchange-wider-scope": {Title: "Notification asks for a wider scope",
		Story: "Notification exchanges the token CareerGPT presented to it, but asks for logs:read at Logging. CareerGPT may not " +
			"read logs through anyone (its registry entry and Notification's may_act rule both bound the scope), so " +
			"Identity refuses with invalid_scope: acting for a caller never gives more than the caller has."},
}

// probeSteps turn the probes' answer into one step per attempted exchange.
func (s *Server) probeSteps(out *Outcome, answer []byte) {
	var r struct {
		Probes []struct {
			ID          string `json:"id"`
			Status      int    `json:"status"`
			Error       string `json:"error"`
			Description string `json:"error_description"`
		} `json:"probes"`
	}
	_ = json.Unmarshal(answer, &r)
	for _, p := range r.Probes {
		st, ok := probeStories[p.ID]
		if !ok {
			continue
		}
		st.ID, st.From, st.To, st.Expect = p.ID+"-refused", LaneNotification, LaneIdentity, Refused
		st.Request, st.Status, st.Reason, st.Code = "POST /oauth2/token (token exchange)", p.Status, p.Description, p.Error
		switch {
		case p.Status == http.StatusOK:
			st.Result = Accepted
		case p.Status >= 400 && p.Status < 500:
			st.Result = Refused
		default:
			st.Result = Failed
		}
		s.finish(out, st)
	}
	if len(r.Probes) == 0 {
		s.finish(out, Step{ID: "exchange-probes-answered", From: LaneNotification, To: LaneIdentity, Expect: Refused, Result: Failed,
			Title: "Notification's probes", Reason: "Notification reported no exchange attempts"})
	}
}
