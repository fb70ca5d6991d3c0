package conformance

import (
	"context"
	"fmt"
	"sync"
)

func replayCases() []Case {
	return []Case{
		{ID: "RPL-01", Category: "replay", Severity: High, Expect: Refuse, SingleUseOnly: true, Source: "RFC 7519 §4.1.7; seed scenario",
			Title:   "The same token presented twice",
			Explain: "A single-use service remembers each jti until the token expires. The second presentation of a token, however valid, is a replay: someone copied the request.",
			check: func(ctx context.Context, e *env, rs *ResourceServer) verdict {
				raw, _, _, err := e.base(ctx, rs)
				if err != nil {
					return skipOrFail(err)
				}
				first := e.send(ctx, rs, bearer("first use", raw))
				if first.Status < 200 || first.Status >= 300 {
					return verdict{Fail, fmt.Sprintf("inconclusive: first use refused (%d %s)", first.Status, first.Error), []Observation{first}}
				}
				v := judge(Refuse, []Observation{e.send(ctx, rs, bearer("second use", raw))})
				v.observations = append([]Observation{first}, v.observations...)
				return v
			}},
		{ID: "RPL-02", Category: "replay", Severity: High, Expect: Refuse, SingleUseOnly: true, Source: "TOCTOU; seed scenario",
			Title:   "16 parallel presentations of one token: exactly one accepted",
			Explain: "A check-then-store replay guard has a window: two requests both see the jti as new, then both store it. The check and the store must be one atomic step.",
			check: func(ctx context.Context, e *env, rs *ResourceServer) verdict {
				raw, _, _, err := e.base(ctx, rs)
				if err != nil {
					return skipOrFail(err)
				}
				const n = 16
				obs := make([]Observation, n)
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range n {
					wg.Go(func() {
						<-start
						obs[i] = e.send(ctx, rs, bearer(fmt.Sprintf("parallel %d", i+1), raw))
					})
				}
				close(start)
				wg.Wait()
				accepted, refused := 0, 0
				v := verdict{status: Pass}
				for _, o := range obs {
					switch {
					case o.Status >= 200 && o.Status < 300:
						accepted++
					case o.Status >= 400 && o.Status < 500:
						refused++
					default:
						v.status, v.reason = Fail, joinReason(v.reason, fmt.Sprintf("%s: %d %s", o.Label, o.Status, o.Error))
					}
				}
				if accepted != 1 {
					v.status, v.reason = Fail, joinReason(v.reason, fmt.Sprintf("%d of %d parallel presentations accepted", accepted, n))
				}
				v.observations = obs[:2]
				return v
			}},
	}
}
