package careergpt

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.opentelemetry.io/otel"

	"github.com/s2sjwt/s2sjwt/internal/authn"
	"github.com/s2sjwt/s2sjwt/internal/telemetry"
	"github.com/s2sjwt/s2sjwt/internal/tokenclient"
)

// Lanes of the sequence: who sends, who receives.
const (
	LaneCareerGPT    = "careergpt"
	LaneIdentity     = "identity"
	LaneLogging      = "logging"
	LaneNotification = "notification"
)

// Expected and observed results of a step.
const (
	Accepted = "accepted"
	Refused  = "refused"
	Failed   = "error" // the step could not be played (a service down, say)
)

// Outcome is one run of the scenario or of a single action.
type Outcome struct {
	Action   string    `json:"action"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Steps    []Step    `json:"steps"`
	// Passed is true when every step ended as expected.
	Passed bool `json:"passed"`
}

// tracer makes a span per scenario step.
var tracer = otel.Tracer("github.com/s2sjwt/s2sjwt/careergpt")

// Step is one request of the scenario and how it ended.
type Step struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Story   string `json:"story"`
	From    string `json:"from"`
	To      string `json:"to"`
	Request string `json:"request"`
	Expect  string `json:"expect"`
	Result  string `json:"result"`
	Status  int    `json:"status"`
	Reason  string `json:"reason,omitempty"` // the receiver's error_description
	// Code is the receiver's reason code (authn.Reason), by which the
	// scenario tells one refusal from another.
	Code   string `json:"code,omitempty"`
	Detail string `json:"detail,omitempty"`
	Passed bool   `json:"passed"`
	// TraceID is the step's trace: every service it reached continued it.
	TraceID string     `json:"trace_id,omitempty"`
	Token   *TokenView `json:"token,omitempty"`
	// Proof is the DPoP proof or WIMSE WPT sent with the token, decoded,
	// if any; WIT the WIMSE workload identity token.
	Proof  *TokenView `json:"proof,omitempty"`
	WIT    *TokenView `json:"wit,omitempty"`
	Checks []Check    `json:"checks,omitempty"`
}

// TokenView is a token's decoded header and claims. The signature, and so
// the usable token, is never part of it.
type TokenView struct {
	JTI    string         `json:"jti"`
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
}

// Check is one check a receiving service makes, with its verdict for a token.
type Check struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
}

// Actions the API and the page can fire; "scenario" plays them all.
var Actions = []string{"scenario", "stolen", "replay", "replay-earlier", "unknown-issuer", "expired"}

// Play runs an action and remembers its outcome.
// Start implements runner.Starter: with Config.PlayOnStart it plays the
// scenario once the other services answer, and tells it on stdout.
func (s *Server) Start(ctx context.Context, stdout io.Writer) {
	if !s.cfg.PlayOnStart {
		return
	}
	peers := append([]string{s.cfg.IdentityURL, s.cfg.LoggingURL, s.cfg.NotificationURL}, s.cfg.NotificationReplicas...)
	if err := WaitHealthy(ctx, s.cfg.PeersTimeout, peers...); err != nil {
		s.deps.Logger.Error("scenario not played", "err", err)
		return
	}
	out, err := s.Play(ctx, "scenario")
	if err != nil {
		s.deps.Logger.Error("scenario failed", "err", err)
		return
	}
	Narrate(stdout, out)
	s.deps.Logger.Info("scenario played", "passed", out.Passed, "steps", len(out.Steps))
}

func (s *Server) Play(ctx context.Context, action string) (*Outcome, error) {
	select {
	case s.runs <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.runs }()
	out := &Outcome{Action: action, Started: s.deps.Now().UTC()}
	switch action {
	case "scenario":
		s.playScenario(ctx, out)
	case "stolen":
		if tok := s.issueStep(ctx, out, LoggingAudience, scopeLogsWrite, 0); tok != nil {
			s.show(ctx, out, s.stolen(tok))
		}
	case "replay":
		if tok := s.issueStep(ctx, out, NotificationAudience, scopeNotify, 0); tok != nil {
			s.showAll(ctx, out, s.notificationTokenSteps(ctx, tok)[:2])
		}
	case "replay-earlier":
		// The last Notification token already used, presented again: after a
		// restart of Notification this shows its memory of jti is durable.
		if tok := s.usedNotificationToken(); tok != nil {
			s.show(ctx, out, s.replay(tok))
		} else {
			s.finish(out, Step{ID: "replay-refused", Title: "No Notification token used yet", From: LaneCareerGPT,
				To: LaneNotification, Expect: Refused, Result: Failed, Reason: "play the scenario or the replay action first"})
		}
	case "unknown-issuer":
		s.unknownIssuerStep(ctx, out)
	case "expired":
		s.expiredSteps(ctx, out)
	default:
		return nil, fmt.Errorf("careergpt: unknown action %q", action)
	}
	out.Finished = s.deps.Now().UTC()
	out.Passed = len(out.Steps) > 0
	for _, st := range out.Steps {
		out.Passed = out.Passed && st.Passed
	}
	s.mu.Lock()
	s.last = out
	s.mu.Unlock()
	return out, nil
}

func (s *Server) playScenario(ctx context.Context, out *Outcome) {
	s.workloadIdentityStep(ctx, out)
	loggingToken := s.issueStep(ctx, out, LoggingAudience, scopeLogsWrite, 0)
	if loggingToken != nil {
		s.showAll(ctx, out, s.loggingTokenSteps(loggingToken))
	}
	if tok := s.issueStep(ctx, out, NotificationAudience, scopeNotify, 0); tok != nil {
		s.showAll(ctx, out, s.notificationTokenSteps(ctx, tok))
	}
	if loggingToken != nil {
		s.exchangeProbeSteps(ctx, out, loggingToken)
	}
	if loggingToken != nil && s.cfg.AdminSecret != "" {
		s.revocationSteps(ctx, out, loggingToken)
	}
	s.unknownIssuerStep(ctx, out)
	s.expiredSteps(ctx, out)
}

// presentation is a step that presents a token to a service: the step as
// the page shows it, where the request goes with what, and, for a step
// expected to be accepted, what more to make of the answer.
type presentation struct {
	Step
	url      string
	body     any
	cred     credential
	receiver string
	accepted func(st *Step, answer []byte) // when accepted as expected
	// followUp, when the step was accepted as expected, adds the steps
	// that follow from the answer.
	followUp func(ctx context.Context, out *Outcome, answer []byte)
}

// show plays p: it presents the token, judges the answer and records the step.
func (s *Server) show(ctx context.Context, out *Outcome, p presentation) {
	st := p.Step
	ctx, span := tracer.Start(ctx, "step "+st.ID) // one trace per step, across every service it reaches
	defer span.End()
	st.TraceID = telemetry.TraceID(ctx)
	answer := s.present(ctx, &st, p.url, p.body, p.cred, p.receiver)
	if p.accepted != nil && st.Result == Accepted {
		p.accepted(&st, answer)
	}
	s.finish(out, st)
	if p.followUp != nil && st.Result == Accepted {
		p.followUp(ctx, out, answer)
	}
}

func (s *Server) showAll(ctx context.Context, out *Outcome, steps []presentation) {
	for _, p := range steps {
		s.show(ctx, out, p)
	}
}

// loggingTokenSteps are what CareerGPT's Logging token meets: accepted at
// Logging, useless at Notification, and, bound to CareerGPT's key (DPoP),
// useless at Logging too in a thief's hands.
func (s *Server) loggingTokenSteps(tok *tokenclient.Token) []presentation {
	logs := s.cfg.LoggingURL + "/v1/logs"
	steps := []presentation{{
		Step: Step{ID: "logging-accepts", From: LaneCareerGPT, To: LaneLogging, Expect: Accepted,
			Title: "Logging accepts its own token",
			Story: "CareerGPT writes a log entry with the Logging token. Logging checks issuer, audience, expiry and " +
				"signature, then records the caller's sub as the entry's source."},
		url: logs, cred: s.own(tok), receiver: LoggingAudience,
		body:     map[string]any{"level": "info", "message": "career advice served", "attributes": map[string]string{"step": "logging-accepts"}},
		accepted: sourceIsCaller,
	}, s.stolen(tok)}
	if tok.Type != "DPoP" {
		return steps
	}
	_, thief, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return steps
	}
	thiefBody := map[string]any{"message": "written by a thief"}
	return append(steps, presentation{
		Step: Step{ID: "stolen-token-at-logging-refused", From: LaneCareerGPT, To: LaneLogging, Expect: Refused,
			Title: "A stolen Logging token is useless even at Logging",
			Story: "The thief now takes the stolen Logging token to Logging itself, where its aud is right, and signs a " +
				"DPoP proof with a key of its own. The token is bound to CareerGPT's DPoP key (cnf.jkt), so Logging " +
				"refuses it: aud keeps a token to its service, DPoP keeps it to its holder."},
		url: logs, body: thiefBody, cred: credential{token: tok.AccessToken, dpop: thief}, receiver: LoggingAudience,
	}, presentation{
		Step: Step{ID: "bearer-downgrade-refused", From: LaneCareerGPT, To: LaneLogging, Expect: Refused,
			Title: "The stolen token as a plain bearer token",
			Story: "The thief drops DPoP and presents the token as a bearer token, with no proof at all. A bound token " +
				"never works as a bearer token, so Logging refuses it too."},
		url: logs, body: thiefBody, cred: bearer(tok.AccessToken), receiver: LoggingAudience,
	})
}

// sourceIsCaller checks Logging's stored entry: its source is the token's
// sub, never anything the request said.
func sourceIsCaller(st *Step, answer []byte) {
	var entry struct {
		Source string `json:"source"`
	}
	if json.Unmarshal(answer, &entry) == nil {
		st.Detail = fmt.Sprintf("Logging stored the entry with source=%q, taken from the token's sub, not from the request body.", entry.Source)
		if entry.Source != ClientID {
			st.Result = Failed
		}
	}
}

func (s *Server) stolen(tok *tokenclient.Token) presentation {
	return presentation{
		Step: Step{ID: "stolen-token-refused", From: LaneCareerGPT, To: LaneNotification, Expect: Refused,
			Title: "A Logging token is useless at Notification",
			Story: "The same Logging token is sent to Notification, as a thief who stole it would. Its aud says " +
				"logging-service, so Notification refuses it: a token only works where it was meant to."},
		url: s.cfg.NotificationURL + "/v1/notifications", body: notificationBody(), cred: bearer(tok.AccessToken), receiver: NotificationAudience,
	}
}

// notificationTokenSteps are what a Notification token meets: accepted
// once, refused when presented again, at the same replica and at another;
// and, where CareerGPT calls Notification with WIMSE credentials, what a
// thief makes of the WIT and WPT it copied.
func (s *Server) notificationTokenSteps(ctx context.Context, tok *tokenclient.Token) []presentation {
	target := s.notificationURL() + "/v1/notifications"
	captured, err := s.workloadFor(ctx, target)
	if err == nil && captured != nil {
		// The accepted request's WPT, made here so the thief's steps can
		// replay exactly what it carried.
		captured.wpt, err = tokenclient.WorkloadProof(captured.key, target, captured.wit, tok.AccessToken, s.deps.Now())
	}
	if err != nil {
		captured = nil // the accepted step meets the same error and shows it
	}
	story := "CareerGPT sends a notification with a token for notification-service. Notification accepts it, " +
		"marks its jti as used, and logs the notification to Logging on CareerGPT's behalf."
	if captured != nil {
		story += " Notification takes WIMSE calls only: with the token go CareerGPT's WIT and a WPT, signed by the " +
			"WIT's key for this very request (aud its URI, wth the WIT's hash, ath the token's, a 30-second exp)."
	}
	steps := []presentation{{
		Step: Step{ID: "notification-accepts", From: LaneCareerGPT, To: LaneNotification, Expect: Accepted,
			Title: "Notification accepts its own token",
			Story: story},
		url: target, body: notificationBody(), cred: credential{token: tok.AccessToken, workload: captured}, receiver: NotificationAudience,
		accepted: func(st *Step, answer []byte) { s.auditLogged(tok, st, answer) },
		followUp: func(ctx context.Context, out *Outcome, answer []byte) {
			var r struct {
				ID         int64      `json:"id"`
				AuditToken *TokenView `json:"audit_token"` // the demo's Notification shows it
			}
			_ = json.Unmarshal(answer, &r)
			if r.AuditToken != nil {
				r.AuditToken.JTI, _ = r.AuditToken.Claims["jti"].(string)
			}
			s.notificationCallSteps(ctx, out, r.ID, r.AuditToken)
		},
	}, s.replay(tok)}
	if len(s.cfg.NotificationReplicas) >= 2 {
		steps = append(steps, presentation{
			Step: Step{ID: "replica-replay-refused", From: LaneCareerGPT, To: LaneNotification, Expect: Refused,
				Title: "The same token at another Notification replica",
				Story: "The token used at Notification's first replica is presented at its second one. The replicas share " +
					"one store of used jtis (PostgreSQL), so the second refuses it too: a service with many processes is " +
					"still one service, and a token is single-use for all of it."},
			url: s.cfg.NotificationReplicas[1] + "/v1/notifications", body: notificationBody(), cred: bearer(tok.AccessToken), receiver: NotificationAudience,
		})
	}
	if captured != nil {
		steps = append(steps, s.workloadThiefSteps(tok, captured)...)
	}
	return steps
}

func (s *Server) replay(tok *tokenclient.Token) presentation {
	return presentation{
		Step: Step{ID: "replay-refused", From: LaneCareerGPT, To: LaneNotification, Expect: Refused,
			Title: "The same Notification token, again",
			Story: "The Notification token is presented a second time. Notification remembers every jti until the " +
				"token expires, so a copied request cannot be replayed."},
		url: s.notificationURL() + "/v1/notifications", body: notificationBody(), cred: bearer(tok.AccessToken), receiver: NotificationAudience,
	}
}

// auditLogged reads whether Notification's audit entry reached Logging,
// and remembers the used token for the replay-earlier action.
func (s *Server) auditLogged(tok *tokenclient.Token, st *Step, answer []byte) {
	s.mu.Lock()
	s.lastUsed = tok // kept in memory only, never shown
	s.mu.Unlock()
	var r struct {
		Logged bool `json:"logged"`
	}
	if json.Unmarshal(answer, &r) != nil {
		return
	}
	st.Detail = "Notification's own audit entry reached Logging: " + map[bool]string{true: "yes", false: "no"}[r.Logged] + "."
	if !r.Logged {
		st.Result = Failed
	}
}

// notificationURL is where the notification steps go: the first replica
// when replicas are listed, so that the replica step knows where the token
// was used.
func (s *Server) notificationURL() string {
	if len(s.cfg.NotificationReplicas) >= 2 {
		return s.cfg.NotificationReplicas[0]
	}
	return s.cfg.NotificationURL
}

func (s *Server) issueStep(ctx context.Context, out *Outcome, audience, scope string, ttl time.Duration) *tokenclient.Token {
	st := Step{
		ID: "issue-" + audience, From: LaneCareerGPT, To: LaneIdentity, Expect: Accepted,
		Request: "POST /oauth2/token",
		Title:   "Token for " + audience,
		Story: fmt.Sprintf("CareerGPT proves who it is with an assertion signed by its own key (private_key_jwt) "+
			"and asks Identity for a token whose aud is %s.", audience),
	}
	if ttl > 0 {
		st.ID += "-short-lived"
		st.Title = fmt.Sprintf("A %s token for %s", ttl, audience)
	}
	bind := audience == LoggingAudience && s.deps.DPoPKey != nil
	if bind {
		st.Story += " It also sends a DPoP proof signed by a second key of its own, so the token is bound to that key (cnf.jkt)."
	}
	ctx, span := tracer.Start(ctx, "step "+st.ID)
	defer span.End()
	st.TraceID = telemetry.TraceID(ctx)
	tok, err := s.tokens.Token(ctx, tokenclient.Request{Audience: audience, Scope: scope, ExpiresIn: ttl, DPoP: bind})
	switch {
	case failedRequest(&st, err):
	case decodeToken(tok.AccessToken) == nil:
		st.Result, st.Reason = Failed, "Identity answered with a token that is not a JWT"
	default:
		st.Result, st.Status = Accepted, http.StatusOK
		st.Token = decodeToken(tok.AccessToken)
		st.Detail = fmt.Sprintf("Identity signed it: sub=%s, aud=%s, valid for %s.",
			st.Token.Claims["sub"], st.Token.Claims["aud"], tok.ExpiresAt.Sub(s.deps.Now()).Round(time.Second))
	}
	s.finish(out, st)
	if st.Result != Accepted {
		return nil
	}
	return tok
}

// failedRequest records a failed token request in st: refused by Identity
// (RFC 6749 §5.2), or not answered. It reports whether err was one.
func failedRequest(st *Step, err error) bool {
	var terr *tokenclient.Error
	switch {
	case errors.As(err, &terr):
		st.Result, st.Status, st.Reason = Refused, terr.Status, terr.Description
	case err != nil:
		st.Result, st.Reason = Failed, err.Error()
	}
	return err != nil
}

func (s *Server) unknownIssuerStep(ctx context.Context, out *Outcome) {
	p := presentation{
		Step: Step{ID: "unknown-issuer-refused", From: LaneCareerGPT, To: LaneLogging, Expect: Refused,
			Title: "A token from an unknown issuer",
			Story: "CareerGPT mints a token itself, signed by a key Identity never published and naming another " +
				"issuer. Logging trusts only Identity, so it is refused, however right its sub and aud look."},
		url: s.cfg.LoggingURL + "/v1/logs", body: map[string]any{"message": "forged"}, receiver: LoggingAudience,
	}
	raw, err := s.rogue.mint(s.deps.Now())
	if err != nil {
		p.Result, p.Reason = Failed, err.Error()
		s.finish(out, p.Step)
		return
	}
	p.cred = bearer(raw)
	s.show(ctx, out, p)
}

func (s *Server) expiredSteps(ctx context.Context, out *Outcome) {
	tok := s.issueStep(ctx, out, LoggingAudience, scopeLogsWrite, time.Second)
	if tok == nil {
		return
	}
	wait := tok.ExpiresAt.Sub(s.deps.Now()) + s.cfg.PeerLeeway + time.Second
	if err := s.deps.Sleep(ctx, wait); err != nil {
		return
	}
	s.show(ctx, out, presentation{
		Step: Step{ID: "expired-refused", From: LaneCareerGPT, To: LaneLogging, Expect: Refused,
			Title: "An expired token",
			Story: fmt.Sprintf("CareerGPT asked for a 1-second token and waited %s, past its exp and the %s clock-skew "+
				"leeway. Logging refuses it: a token's power ends at exp.", wait.Round(time.Second), s.cfg.PeerLeeway)},
		url: s.cfg.LoggingURL + "/v1/logs", body: map[string]any{"message": "too late"}, cred: s.own(tok), receiver: LoggingAudience,
	})
}

func (s *Server) usedNotificationToken() *tokenclient.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastUsed
}

func (s *Server) finish(out *Outcome, st Step) {
	st.Passed = st.Result == st.Expect
	out.Steps = append(out.Steps, st)
	s.deps.Logger.Debug("scenario step", "id", st.ID, "result", st.Result, "status", st.Status)
}

func notificationBody() map[string]any {
	return map[string]any{"channel": "email", "to": "candidate@example.com", "message": "Your career advice is ready."}
}

// rogueIssuer mints tokens no one should trust: its own key, its own iss.
type rogueIssuer struct{ key ed25519.PrivateKey }

// RogueIssuer is the "iss" of the unknown-issuer step's forged token.
const RogueIssuer = "https://rogue-identity.invalid"

func (r rogueIssuer) mint(now time.Time) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss": RogueIssuer, "sub": ClientID, "aud": LoggingAudience, "client_id": ClientID,
		"scope": scopeLogsWrite, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti": "rogue-" + fmt.Sprint(now.UnixNano()),
	})
	t.Header["typ"] = authn.AccessTokenType
	t.Header["kid"] = "rogue-key"
	return t.SignedString(r.key)
}
