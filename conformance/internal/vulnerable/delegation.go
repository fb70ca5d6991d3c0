package vulnerable

import (
	"slices"
	"strings"
)

// checkActor judges a delegated token's act claim (RFC 8693 §4.1): an
// object with a string sub, nested at most MaxActorChain deep, whose
// outermost sub (the current actor) is one of Config.Actors. Without
// Actors no delegated token is accepted.
func (s *server) checkActor(c map[string]any) error {
	if s.has(ReadsMayAct) {
		if m, ok := c["may_act"].(map[string]any); ok {
			if sub, ok := m["sub"].(string); ok && slices.Contains(s.cfg.Actors, sub) {
				return nil
			}
		}
	}
	act, delegated := c["act"]
	if !delegated {
		return nil
	}
	if s.has(RefusesDelegation) {
		return errRefused
	}
	chain, err := s.actorChain(act)
	switch {
	case err != nil:
		return err
	case chain == nil: // a flaw's reading: no act after all
		return nil
	case len(chain) > s.maxActorChain() && !s.has(NoChainBound):
		return errRefused
	}
	accepted := func(sub string) bool {
		if s.has(ActorPrefix) {
			return slices.ContainsFunc(s.cfg.Actors, func(a string) bool { return strings.HasPrefix(sub, a) })
		}
		return slices.Contains(s.cfg.Actors, sub)
	}
	var ok bool
	switch {
	case s.has(AcceptsAnyActor):
		ok = true
	case s.has(ChecksAnyActor):
		ok = slices.ContainsFunc(chain, accepted)
	case s.has(ChecksEveryActor):
		ok = !slices.ContainsFunc(chain, func(sub string) bool { return !accepted(sub) })
	default:
		ok = accepted(chain[0])
	}
	if !ok {
		return errRefused
	}
	return nil
}

func (s *server) maxActorChain() int {
	if s.cfg.MaxActorChain == 0 {
		return 4
	}
	return s.cfg.MaxActorChain
}

// actorChain reads act's subs, outermost (the current actor) first.
func (s *server) actorChain(act any) ([]string, error) {
	var chain []string
	for act != nil && len(chain) <= 64 {
		switch a := act.(type) {
		case string:
			if s.has(ActStringAsActor) && chain == nil {
				return []string{a}, nil
			}
			return nil, errRefused
		case map[string]any:
			sub, ok := a["sub"].(string)
			if !ok || sub == "" {
				if s.has(IgnoresActWithoutSub) && chain == nil {
					return nil, nil
				}
				return nil, errRefused
			}
			chain = append(chain, sub)
			act = a["act"]
		default:
			return nil, errRefused
		}
	}
	return chain, nil
}
