package cases

import (
	"context"
	"fmt"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/target"
)

func replayCases() []attack.Case {
	return []attack.Case{
		{About: attack.About{ID: "RPL-01", Category: "replay", Severity: attack.High, Expect: attack.Refuse, Source: "RFC 7519 §4.1.7; seed scenario",
			Title:   "The same token presented twice",
			Explain: "A single-use service remembers each jti until the token expires. The second presentation of a token, however valid, is a replay: someone copied the request."},
			Applies: singleUseOnly,
			Run: func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
				return replayAfterUse(ctx, e, rs, nil, func(raw string) []attack.Observation {
					return []attack.Observation{e.Send(ctx, rs, attack.Bearer("second use", raw))}
				})
			}},
		{About: attack.About{ID: "RPL-02", Category: "replay", Severity: attack.High, Expect: attack.Refuse, Source: "TOCTOU; seed scenario",
			Title:   "16 simultaneous presentations of one token: exactly one accepted (three rounds)",
			Explain: "A check-then-store replay guard has a window: two requests both see the jti as new, then both store it. The check and the store must be one atomic step. The suite holds each request back by its last byte until all 16 are written, then releases them together, so they land at once however busy the machine sending them is."},
			Applies: singleUseOnly,
			Run: func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
				return parallelUses(ctx, e, rs, []string{rs.URL})
			}},
		{About: attack.About{ID: "RPL-03", Category: "replay", Severity: attack.High, Expect: attack.Refuse, Source: "RFC 7519 §4.1.7; RFC 9449 §11.1",
			Title:   "A token used at one replica is refused at every other, also in parallel",
			Explain: "Single use means single use for the service, not for one of its processes. Replicas that each remember only their own used jtis accept every token once per replica: the replay store must be shared."},
			Applies: singleUseOnly,
			Run: func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
				if len(rs.Replicas) == 0 {
					return attack.Verdict{Status: attack.NotApplicable, Reason: "the target lists no replicas for this server"}
				}
				v := replayAfterUse(ctx, e, rs, nil, func(raw string) []attack.Observation {
					var obs []attack.Observation
					for _, u := range rs.Replicas {
						obs = append(obs, e.SendTo(ctx, rs, u, attack.Bearer("replay at "+u, raw)))
					}
					return obs
				})
				if v.Status != attack.Pass {
					return v
				}
				// And at once: fresh tokens, 16 presentations spread over all of them.
				return parallelUses(ctx, e, rs, rs.URLs())
			}},
		{About: attack.About{ID: "RPL-04", Category: "replay", Severity: attack.High, Expect: attack.Refuse, Source: "RFC 7519 §4.1.7; seed scenario",
			Title:   "A used token is still refused after the server restarts",
			Explain: "A replay store in memory forgets every used jti when the process restarts, and every token still within its lifetime works again. The suite uses a token, restarts the process serving the server, and replays it."},
			Applies: singleUseOnly,
			Run: func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
				if rs.Process == "" || e.Restart == nil {
					return attack.Verdict{Status: attack.NotApplicable, Reason: "the suite does not start this server's process (resource_servers[].process)"}
				}
				restart := func(ctx context.Context) error {
					if err := e.Restart(ctx, rs.Process); err != nil {
						return fmt.Errorf("could not restart %s: %w", rs.Process, err)
					}
					return nil
				}
				return replayAfterUse(ctx, e, rs, restart, func(raw string) []attack.Observation {
					return []attack.Observation{e.Send(ctx, rs, attack.Bearer("replay after a restart", raw))}
				})
			}},
	}
}

// Rounds of parallelUses: a race that a round misses (a small window, a
// server that happens to serialise) gets more chances, each with a fresh
// token; ten rounds of 16 are 160 requests, about a second against a
// correct server, and a racy one is caught in the first few even with
// every core busy.
const (
	parallelPresentations = 16
	parallelRounds        = 10
)

// parallelUses presents a fresh token 16 times at once, spread over urls,
// in up to three rounds: in each exactly one presentation may be accepted.
func parallelUses(ctx context.Context, e *attack.Kit, rs *target.ResourceServer, urls []string) attack.Verdict {
	var v attack.Verdict
	for round := range parallelRounds {
		raw, _, _, err := e.Base(ctx, rs)
		if err != nil {
			return attack.SkipOrFail(err)
		}
		attempts := make([]attack.Attempt, parallelPresentations)
		for i := range attempts {
			attempts[i] = attack.Bearer(fmt.Sprintf("round %d: parallel %d at %s", round+1, i+1, urls[i%len(urls)]), raw)
		}
		if v = judgeParallel(e.SendTogether(ctx, rs, urls, attempts)); v.Status != attack.Pass {
			return v
		}
	}
	v.Reason = fmt.Sprintf("exactly one of %d simultaneous presentations accepted, in each of %d rounds", parallelPresentations, parallelRounds)
	return v
}

// judgeParallel: exactly one acceptance, every other answer a refusal.
func judgeParallel(obs []attack.Observation) attack.Verdict {
	accepted := 0
	v := attack.Verdict{Status: attack.Pass}
	for _, o := range obs {
		switch {
		case o.Status >= 200 && o.Status < 300:
			accepted++
		case o.Status >= 400 && o.Status < 500:
		default:
			v.Status, v.Reason = attack.Fail, attack.JoinReason(v.Reason, fmt.Sprintf("%s: %d %s", o.Label, o.Status, o.Error))
		}
	}
	if accepted != 1 {
		v.Status, v.Reason = attack.Fail, attack.JoinReason(v.Reason, fmt.Sprintf("%d of %d simultaneous presentations accepted", accepted, len(obs)))
	}
	v.Observations = obs[:2]
	return v
}

// replayAfterUse presents a fresh token once, which must be accepted or the
// case proves nothing, runs between (if any), and judges replay's
// presentations of the same token, which must all be refused.
func replayAfterUse(ctx context.Context, e *attack.Kit, rs *target.ResourceServer, between func(context.Context) error, replay func(raw string) []attack.Observation) attack.Verdict {
	raw, _, _, err := e.Base(ctx, rs)
	if err != nil {
		return attack.SkipOrFail(err)
	}
	first := e.Send(ctx, rs, attack.Bearer("first use", raw))
	if first.Status < 200 || first.Status >= 300 {
		return attack.Verdict{Status: attack.Fail, Reason: fmt.Sprintf("inconclusive: first use refused (%d %s)", first.Status, first.Error), Observations: []attack.Observation{first}}
	}
	if between != nil {
		if err := between(ctx); err != nil {
			return attack.Verdict{Status: attack.Fail, Reason: err.Error(), Observations: []attack.Observation{first}}
		}
	}
	v := attack.Judge(attack.Refuse, replay(raw))
	v.Observations = append([]attack.Observation{first}, v.Observations...)
	return v
}
