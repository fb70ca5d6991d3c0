package cases

import (
	"context"
	"strconv"

	"github.com/s2sjwt/s2sjwt/conformance/internal/attack"
	"github.com/s2sjwt/s2sjwt/conformance/target"
)

// delegationControlID is the delegated token every delegation refusal
// rests on: a server that refuses every act refuses the attacks too.
const delegationControlID = "ACT-01"

// intruder is an actor no server declares.
const intruder = "conformance-intruder"

// delegationCases vary the act claim (RFC 8693 §4.1) of a delegated token
// for a server that declares the actors it accepts: only the outermost act
// is the current actor, the nested ones are history, and may_act (§4.4)
// says who may become one, not who is.
func delegationCases() []attack.Case {
	dc := func(id, title, explain string, sev attack.Severity, expect attack.Expectation, act func(d *target.Delegation, c map[string]any)) attack.Case {
		c := attack.Case{About: attack.About{ID: id, Category: "delegation", Severity: sev, Expect: expect,
			Source: "RFC 8693 §4.1, §4.4", Title: title, Explain: explain},
			Applies: delegationServers,
			Run: func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) attack.Verdict {
				return attack.Requests(attack.Forged(func(_ *attack.Issuer, _, c map[string]any) { act(rs.Delegation, c) }))(ctx, e, rs)
			}}
		if id != delegationControlID {
			c.RestsOn = []string{delegationControlID}
		}
		return c
	}
	return []attack.Case{
		dc(delegationControlID, "A delegated token for an accepted actor", "The control: sub is the caller, act names an actor the server accepts acting for it, as a token exchange issues. Refused, every refusal below would mean nothing.",
			attack.Medium, attack.Accept, func(d *target.Delegation, c map[string]any) { c["act"] = actChain(d.Actors[0]) }),
		dc("ACT-02", "A chain at the server's bound, earlier actors not accepted", "Only the outermost act is the current actor; the nested ones record who acted before and are informational (RFC 8693 §4.1). A server that judges every actor in the chain refuses a chain that went through a party it does not know, however right the party calling it is.",
			attack.Low, attack.Accept, func(d *target.Delegation, c map[string]any) {
				chain := make([]string, d.Chain())
				for i := range chain[:len(chain)-1] {
					chain[i] = "conformance-prior-" + strconv.Itoa(i+1)
				}
				chain[len(chain)-1] = d.Actors[0]
				c["act"] = actChain(chain...)
			}),
		dc("ACT-03", "An actor the server does not accept", "act names who is acting for sub. A server that accepts any actor lets every service that can get a delegated token act toward it for anyone, which is what accepting only named actors prevents. The actor here starts with an accepted one's name, as a prefix match would let through.",
			attack.High, attack.Refuse, func(d *target.Delegation, c map[string]any) { c["act"] = actChain(d.Actors[0] + "-impostor") }),
		dc("ACT-04", "act is a string, not an object", "act is a JSON object whose sub names the actor (RFC 8693 §4.1). A string is a malformed claim; a server that reads it as the actor's name, or ignores it, takes a delegation nobody issued in that form.",
			attack.Medium, attack.Refuse, func(d *target.Delegation, c map[string]any) { c["act"] = d.Actors[0] }),
		{About: attack.About{ID: "ACT-05", Category: "delegation", Severity: attack.Medium, Expect: attack.Refuse, Source: "RFC 8693 §4.1",
			Title:   "act without a string sub",
			Explain: "An act that names no actor (no sub, or a sub that is not a string) says someone acts for sub without saying who. Treated as no act at all, the token passes as the caller's own and the actor goes unrecorded."},
			Applies: delegationServers, RestsOn: []string{delegationControlID},
			Run: attack.Requests(func(ctx context.Context, e *attack.Kit, rs *target.ResourceServer) ([]attack.Attempt, error) {
				var attempts []attack.Attempt
				for label, act := range map[string]any{"act without sub": map[string]any{"iss": "conformance"}, "act.sub a number": map[string]any{"sub": 7}} {
					a, err := attack.ForgedAs(label, func(_ *attack.Issuer, _, c map[string]any) { c["act"] = act })(ctx, e, rs)
					if err != nil {
						return nil, err
					}
					attempts = append(attempts, a...)
				}
				return attempts, nil
			})},
		dc("ACT-06", "An accepted actor nested inside an unaccepted one", "The current actor is the outermost act; an accepted actor inside it is only history. A server that accepts the token when any actor in the chain is accepted lets an intruder put an accepted name one level down and act as it.",
			attack.High, attack.Refuse, func(d *target.Delegation, c map[string]any) { c["act"] = actChain(d.Actors[0], intruder) }),
		dc("ACT-07", "may_act where act is expected", "may_act says who may become the actor (RFC 8693 §4.4), not who is acting. A token whose act names an intruder but whose may_act names an accepted actor must be refused; a server that reads the actor from may_act accepts it.",
			attack.High, attack.Refuse, func(d *target.Delegation, c map[string]any) {
				c["act"] = actChain(intruder)
				c["may_act"] = map[string]any{"sub": d.Actors[0]}
			}),
		dc("ACT-08", "A chain one longer than the server's bound", "Each exchange nests one more act. Without a bound a token's history grows with every hop, and so does the work of reading it; the server declares how many actors it accepts, and one more is refused.",
			attack.Low, attack.Refuse, func(d *target.Delegation, c map[string]any) {
				chain := make([]string, d.Chain()+1)
				for i := range chain {
					chain[i] = d.Actors[0]
				}
				c["act"] = actChain(chain...)
			}),
	}
}

// actChain nests act claims in call order: actChain("a", "b") is b acting
// after a, b the current actor, outermost.
func actChain(subs ...string) map[string]any {
	var act map[string]any
	for _, sub := range subs {
		next := map[string]any{"sub": sub}
		if act != nil {
			next["act"] = act
		}
		act = next
	}
	return act
}

func delegationServers(rs *target.ResourceServer) string {
	if rs.Delegation == nil {
		return "the target does not declare that this server accepts delegated tokens (resource_servers[].delegation)"
	}
	return ""
}
