package authn

import (
	"fmt"
	"slices"
)

// MaxActorChain bounds the act claim (RFC 8693 §4.1): the current actor
// and every prior one nested in it. Each exchange adds one; four hops
// is more than any call chain here needs, and a bound keeps a token's
// history from growing with every hop (Identity refuses the exchange that
// would pass it).
const MaxActorChain = 4

// Actor is one party of a delegated token's act claim (RFC 8693 §4.1):
// who is acting for the token's sub. Members other than sub and act are
// allowed and not read.
type Actor struct {
	Subject string `json:"sub"`
	// Prior is the actor this one acted after, nested. It is history:
	// access control looks at the current actor only (RFC 8693 §4.1).
	Prior *Actor `json:"act,omitempty"`
}

// Actors returns the chain in call order: the first actor for the token's
// sub first, the current actor (act.sub) last. Empty for a token that is
// not delegated.
func (c *Claims) Actors() []string {
	var chain []string
	for a := c.Actor; a != nil; a = a.Prior {
		chain = append(chain, a.Subject)
	}
	slices.Reverse(chain)
	return chain
}

// actor reads an act claim at nesting depth (1 for the outermost),
// refusing what is not an object with a string sub, and a chain longer
// than MaxActorChain.
func actor(value []byte, depth int) (*Actor, error) {
	if depth > MaxActorChain {
		return nil, fmt.Errorf("%w: act nested deeper than %d", ErrMalformed, MaxActorChain)
	}
	if value[0] != '{' {
		return nil, fmt.Errorf("%w: act is not an object", ErrMalformed)
	}
	a := &Actor{}
	err := scanObject(value, []string{"sub", "act"}, func(name string, v []byte) (err error) {
		switch name {
		case "sub":
			a.Subject, err = jsonString("act.sub", v)
		case "act":
			a.Prior, err = actor(v, depth+1)
		}
		return err
	})
	if err == nil && a.Subject == "" {
		err = fmt.Errorf("%w: act without a sub", ErrMalformed)
	}
	return a, err
}

// checkActor admits a delegated token only when its current actor is one
// this service accepts (Config.Actors). Prior actors are not judged: RFC
// 8693 §4.1 makes them informational, so a chain is not refused for a
// party that no longer acts.
func (v *Verifier) checkActor(c *Claims) error {
	if c.Actor == nil || slices.Contains(v.cfg.Actors, c.Actor.Subject) {
		return nil
	}
	return fmt.Errorf("%w: %q", ErrActor, c.Actor.Subject)
}
