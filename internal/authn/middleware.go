package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/s2sjwt/s2sjwt/internal/httpx"
	"github.com/s2sjwt/s2sjwt/internal/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
)

// ReplayGuard remembers token ids. Use reports whether this is the first use
// of jti; it must be atomic, so that of N concurrent calls with one jti
// exactly one gets true, and must remember jti at least until forgetAfter.
type ReplayGuard interface {
	Use(ctx context.Context, jti string, forgetAfter time.Time) (first bool, err error)
}

type claimsKey struct{}

// ClaimsFromContext returns the claims Authenticate stored for this request.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}

// ContextWithClaims returns ctx carrying c, for handlers tested without the
// middleware.
func ContextWithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

type tokenKey struct{}

// TokenFromContext returns the token the request presented, once
// Authenticate accepted it: what a service sends as subject_token to
// exchange it for a token on its caller's behalf (RFC 8693). It is a
// credential: never log it or keep it past the request.
func TokenFromContext(ctx context.Context) (string, bool) {
	t, ok := ctx.Value(tokenKey{}).(string)
	return t, ok
}

// Option configures Authenticate.
type Option func(*middleware)

// WithSingleUse makes every token single-use: a jti already seen is refused
// with ErrReplayed. Without it a token can be replayed until it expires.
func WithSingleUse(g ReplayGuard) Option { return func(m *middleware) { m.replay = g } }

// WithLogger logs each rejection with its reason, never the token.
func WithLogger(l *slog.Logger) Option { return func(m *middleware) { m.logger = l } }

// DPoPConfig configures WithDPoP.
type DPoPConfig struct {
	// Replay makes each proof single-use; required.
	Replay ReplayGuard
	// Required refuses bearer tokens too: every request needs a bound
	// token and its proof.
	Required bool
	// BaseURL is this service as its clients address it (scheme and host);
	// a proof's htu must name it. Required: taken from the request's Host
	// header instead, a proof made for another host name would pass
	// wherever a request names that host.
	BaseURL *url.URL
}

// WithDPoP accepts "Authorization: DPoP" with a DPoP proof (RFC 9449).
// Without it, a request with the DPoP scheme has no usable credentials. A
// DPoP-bound token presented as a bearer token is refused either way.
// Authenticate panics if cfg has no BaseURL or no Replay: a configuration
// error, found when the server is built.
func WithDPoP(cfg DPoPConfig) Option { return func(m *middleware) { m.dpop = &cfg } }

// tracer makes the verification spans.
var tracer = otel.Tracer("github.com/s2sjwt/s2sjwt/internal/authn")

// outcomeAttributes describe a decision for its span: a closed set of
// values, as the metrics' labels.
func outcomeAttributes(err error) []attribute.KeyValue {
	if err == nil {
		return []attribute.KeyValue{attribute.String("authn.result", "accepted")}
	}
	return []attribute.KeyValue{attribute.String("authn.result", "refused"), attribute.String("authn.reason", Reason(err))}
}

type middleware struct {
	verifier  *Verifier
	replay    ReplayGuard
	dpop      *DPoPConfig
	wimse     *WIMSEConfig
	workloads *workloadChecker // when wimse is set
	logger    *slog.Logger
	metrics   *Metrics
}

// Authenticate returns middleware that admits only requests bearing a token v
// accepts, and answers everything else per RFC 6750.
func Authenticate(v *Verifier, opts ...Option) func(http.Handler) http.Handler {
	m := &middleware{verifier: v, logger: slog.New(slog.DiscardHandler), metrics: v.cfg.Metrics}
	for _, o := range opts {
		o(m)
	}
	if m.dpop != nil && (m.dpop.BaseURL == nil || m.dpop.Replay == nil) {
		panic("authn: WithDPoP needs DPoPConfig.BaseURL and Replay")
	}
	if m.wimse != nil {
		m.workloads = newWorkloadChecker(v, *m.wimse)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ctx, span := tracer.Start(r.Context(), "authn.Authenticate")
			claims, workload, raw, err := m.authenticate(r.WithContext(ctx))
			m.metrics.decision(err, time.Since(start))
			span.SetAttributes(outcomeAttributes(err)...) // the outcome and reason, never the token
			span.End()
			if err != nil {
				m.logger.Info("token rejected", "reason", httpx.LogBounded(err.Error()), "method", r.Method, "path", httpx.LogBounded(r.URL.Path), telemetry.Attr(ctx))
				m.writeError(w, err)
				return
			}
			m.logger.Debug("token accepted", "jti", claims.ID, "sub", claims.Subject, telemetry.Attr(ctx))
			ctx = ContextWithClaims(r.Context(), claims)
			if raw != "" {
				ctx = context.WithValue(ctx, tokenKey{}, raw)
			}
			if workload != nil {
				ctx = context.WithValue(ctx, workloadKey{}, workload)
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// writeError is WriteError, with the DPoP scheme among the challenges to a
// request without credentials where DPoP is on (RFC 9449 §7.1), and the
// only one where it is required: a client is told what would work.
func (m *middleware) writeError(w http.ResponseWriter, err error) {
	realm := m.verifier.Audience()
	switch {
	case wimseRefusal(err) && !unavailable(err):
		writeProblem(w, err)
	case !errors.Is(err, ErrNoToken) || m.dpop == nil:
		WriteError(w, realm, err)
	case m.dpop.Required:
		refusal{http.StatusUnauthorized, "unauthorized", "DPoP-bound token and proof required", ReasonNoToken}.write(w, dpopChallenge(realm, "", ""))
	default:
		refusal{http.StatusUnauthorized, "unauthorized", "bearer token required", ReasonNoToken}.write(w,
			bearerChallenge(bearerError{Realm: realm, Description: "bearer token required"}), dpopChallenge(realm, "", ""))
	}
}

// authenticate returns the request's verified claims, its verified WIT
// when it came with WIMSE credentials, and the access token it presented,
// if any.
func (m *middleware) authenticate(r *http.Request) (*Claims, *Workload, string, error) {
	if m.wimse != nil && (r.Header.Get(WITHeader) != "" || r.Header.Get(WPTHeader) != "") {
		return m.authenticateWorkload(r)
	}
	scheme, raw, err := credentials(r, m.dpop != nil)
	switch {
	case m.wimse != nil && m.wimse.Required && err == nil && isWIT(raw):
		return nil, nil, "", ErrWITAsBearer
	case m.wimse != nil && m.wimse.Required:
		return nil, nil, "", ErrWIMSERequired
	case err != nil:
		return nil, nil, "", err
	}
	claims, err := m.verifier.Verify(r.Context(), raw)
	if errors.Is(err, ErrType) && isWIT(raw) {
		return nil, nil, "", fmt.Errorf("%w: %w", ErrWITAsBearer, err)
	}
	if err != nil {
		return nil, nil, "", err
	}
	if err := m.checkPresentation(r, scheme, raw, claims); err != nil {
		return nil, nil, "", err
	}
	return claims, nil, raw, nil
}

// checkPresentation checks how a verified token came: with its DPoP proof
// when bound, and once when the service is single-use.
func (m *middleware) checkPresentation(r *http.Request, scheme, raw string, claims *Claims) error {
	switch {
	case scheme == schemeDPoP:
		if proofs := r.Header.Values("DPoP"); len(proofs) != 1 {
			return fmt.Errorf("%w: %d DPoP headers, want one", ErrDPoPProof, len(proofs))
		}
		req := DPoPRequest{Proof: r.Header.Get("DPoP"), Method: r.Method, URL: requestURL(r, m.dpop.BaseURL), AccessToken: raw}
		if err := m.verifier.VerifyDPoP(r.Context(), claims, req, m.dpop.Replay); err != nil {
			return err
		}
	case claims.Confirmation.JKT != "":
		return fmt.Errorf("%w: bound to %s, presented as a bearer token", ErrBoundAsBearer, claims.Confirmation.JKT)
	case m.dpop != nil && m.dpop.Required:
		return ErrDPoPRequired
	}
	if m.replay != nil {
		if claims.ID == "" {
			return ErrNoTokenID // a profile where jti is optional, on a single-use server
		}
		forgetAfter := claims.ExpiresAt.Add(m.verifier.Leeway())
		first, err := m.replay.Use(r.Context(), claims.ID, forgetAfter)
		if err != nil {
			return fmt.Errorf("%w: %w", errUnavailable, err)
		}
		if !first {
			return fmt.Errorf("%w: jti %s", ErrReplayed, claims.ID)
		}
	}
	return nil
}

// Authorization schemes, as credentials reports them.
const (
	schemeBearer = "Bearer"
	schemeDPoP   = "DPoP"
)

// credentials returns r's token and its scheme: Bearer, or DPoP (RFC 9449
// §7.1) when allowDPoP.
func credentials(r *http.Request, allowDPoP bool) (scheme, token string, err error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return "", "", ErrNoToken
	}
	if len(values) > 1 {
		return "", "", fmt.Errorf("%w: several Authorization headers", ErrMalformed)
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	switch {
	case !ok:
		return "", "", ErrNoToken
	case strings.EqualFold(scheme, schemeBearer):
		scheme = schemeBearer
	case allowDPoP && strings.EqualFold(scheme, schemeDPoP):
		scheme = schemeDPoP
	default:
		return "", "", ErrNoToken
	}
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", "", fmt.Errorf("%w: %s credentials", ErrMalformed, scheme)
	}
	return scheme, token, nil
}

// requestURL is r's absolute URL as its client addressed it: base's
// scheme and host, r's path.
func requestURL(r *http.Request, base *url.URL) *url.URL {
	u := *r.URL
	u.Scheme, u.Host = base.Scheme, base.Host
	return &u
}

// RequireScope returns middleware that admits only tokens whose scope claim
// holds scope; others get 403 insufficient_scope (RFC 6750 §3.1). It must
// run after Authenticate.
func RequireScope(scope string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			claims, ok := ClaimsFromContext(r.Context())
			if !ok || !claims.HasScope(scope) {
				WriteError(w, "", &scopeError{scope})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// scopeError is ErrInsufficientScope for one scope, which the challenge names.
type scopeError struct{ scope string }

func (e *scopeError) Error() string        { return ErrInsufficientScope.Error() + ": " + e.scope }
func (e *scopeError) Is(target error) bool { return target == ErrInsufficientScope }

// errUnavailable marks failures of this service, not of the token.
var errUnavailable = errors.New("authn: verification unavailable")

// unavailable reports a failure of this service (its replay store, its
// key set), answered 503, not of the token.
func unavailable(err error) bool {
	return errors.Is(err, errUnavailable) || errors.Is(err, ErrKeySetUnavailable) || errors.Is(err, ErrStatusUnavailable)
}

// WriteError answers a failed authentication per RFC 6750 §3: 401 with a
// WWW-Authenticate challenge, 403 for a token without the scope needed, or
// 503 when the failure was this service's. The JSON body's reason is
// Reason(err).
func WriteError(w http.ResponseWriter, realm string, err error) {
	switch {
	case errors.Is(err, ErrNoToken):
		// §3.1: a request without credentials gets a challenge, no error code.
		e := bearerError{Realm: realm, Description: "bearer token required"}
		refusal{http.StatusUnauthorized, "unauthorized", e.Description, ReasonNoToken}.write(w, bearerChallenge(e))
	case errors.Is(err, ErrDPoPProof), errors.Is(err, ErrDPoPBinding), errors.Is(err, ErrDPoPReplayed):
		// RFC 9449 §7.1.
		refusal{http.StatusUnauthorized, "invalid_dpop_proof", Describe(err), Reason(err)}.write(w,
			dpopChallenge(realm, "invalid_dpop_proof", Describe(err)))
	case errors.Is(err, ErrBoundAsBearer), errors.Is(err, ErrDPoPRequired):
		refusal{http.StatusUnauthorized, "invalid_token", Describe(err), Reason(err)}.write(w,
			bearerChallenge(bearerError{Realm: realm, Code: "invalid_token", Description: Describe(err)}), dpopChallenge(realm, "", ""))
	case errors.Is(err, ErrInsufficientScope):
		e := bearerError{Realm: realm, Code: "insufficient_scope", Description: Describe(err)}
		var se *scopeError
		if errors.As(err, &se) {
			e.Scope, e.Description = se.scope, "token lacks scope "+se.scope
		}
		refusal{http.StatusForbidden, e.Code, e.Description, Reason(err)}.write(w, bearerChallenge(e))
	case unavailable(err):
		httpx.Unavailable(w, "token verification is unavailable")
	default:
		e := bearerError{Realm: realm, Code: "invalid_token", Description: Describe(err)}
		refusal{http.StatusUnauthorized, e.Code, e.Description, Reason(err)}.write(w, bearerChallenge(e))
	}
}

type bearerError struct {
	Realm, Code, Description, Scope string
}

func bearerChallenge(e bearerError) string {
	return "Bearer " + authParams([2]string{"realm", e.Realm}, [2]string{"error", e.Code},
		[2]string{"error_description", e.Description}, [2]string{"scope", e.Scope})
}

// dpopChallenge names the proof algorithms this verifier accepts.
func dpopChallenge(realm, code, description string) string {
	return "DPoP " + authParams([2]string{"realm", realm}, [2]string{"error", code},
		[2]string{"error_description", description}, [2]string{"algs", strings.Join(DefaultAlgorithms, " ")})
}

func authParams(params ...[2]string) string {
	var out []string
	for _, p := range params {
		if p[1] != "" {
			out = append(out, fmt.Sprintf("%s=%q", p[0], p[1]))
		}
	}
	return strings.Join(out, ", ")
}

// refusal is a refused request's answer: its status, the RFC 6750 error
// code and description, and the reason code (Reason) in the JSON body.
type refusal struct {
	status                    int
	code, description, reason string
}

func (rf refusal) write(w http.ResponseWriter, challenges ...string) {
	for _, c := range challenges {
		w.Header().Add("WWW-Authenticate", c)
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.Encode(w, rf.status, map[string]string{"error": rf.code, "error_description": rf.description, "reason": rf.reason})
}
