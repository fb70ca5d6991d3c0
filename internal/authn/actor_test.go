package authn_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/s2sjwt/s2sjwt/internal/authn"
)

// chain nests act claims: chain("a", "b") is b acting after a, the current
// actor b outermost.
func chain(subs ...string) map[string]any {
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

func TestVerifier_Actor(t *testing.T) {
	f := newFixture(t)
	v, err := authn.NewVerifier(authn.Config{
		Issuer: testIssuer, Audience: testAudience, KeySet: f.keys,
		Now: func() time.Time { return testNow }, Actors: []string{"notification-backend"},
	})
	require.NoError(t, err)
	deep := make([]string, authn.MaxActorChain+1)
	for i := range deep {
		deep[i] = "notification-backend"
	}
	tests := []struct {
		name       string
		act        any
		wantErr    error
		wantActors []string
	}{
		{"OK/NotDelegated", nil, nil, nil},
		{"OK/OneActor", chain("notification-backend"), nil, []string{"notification-backend"}},
		// Prior actors are history (RFC 8693 §4.1): one this service does
		// not list does not refuse the chain.
		{"OK/PriorActorNotListed", chain("some-gateway", "notification-backend"), nil, []string{"some-gateway", "notification-backend"}},
		{"OK/AtTheBound", chain(deep[1:]...), nil, deep[1:]},
		{"OK/OtherMembers", map[string]any{"sub": "notification-backend", "iss": "https://identity.test"}, nil, []string{"notification-backend"}},
		{"ErrActor/NotListed", chain("intruder"), authn.ErrActor, nil},
		// The current actor is the outermost one: a listed actor nested
		// inside does not vouch for an unlisted one outside.
		{"ErrActor/ListedOnlyInside", chain("notification-backend", "intruder"), authn.ErrActor, nil},
		{"ErrMalformed/String", "notification-backend", authn.ErrMalformed, nil},
		{"ErrMalformed/Array", []any{map[string]any{"sub": "notification-backend"}}, authn.ErrMalformed, nil},
		{"ErrMalformed/NoSub", map[string]any{"iss": "x"}, authn.ErrMalformed, nil},
		{"ErrMalformed/SubNumber", map[string]any{"sub": 7}, authn.ErrMalformed, nil},
		{"ErrMalformed/EmptySub", map[string]any{"sub": ""}, authn.ErrMalformed, nil},
		{"ErrMalformed/NestedNotObject", map[string]any{"sub": "notification-backend", "act": "x"}, authn.ErrMalformed, nil},
		{"ErrMalformed/TooDeep", chain(deep...), authn.ErrMalformed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := validClaims()
			if tt.act != nil {
				claims["act"] = tt.act
			}
			got, err := v.Verify(context.Background(), f.token(t, validHeader(), claims))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantActors, got.Actors())
		})
	}
}

func TestVerifier_ActorDuplicateMember(t *testing.T) {
	f := newFixture(t)
	v, err := authn.NewVerifier(authn.Config{Issuer: testIssuer, Audience: testAudience, KeySet: f.keys,
		Now: func() time.Time { return testNow }, Actors: []string{"notification-backend"}})
	require.NoError(t, err)
	payload := strings.Replace(string(mustJSON(t, with(validClaims(), "act", chain("notification-backend")))),
		`{"sub":"notification-backend"}`, `{"sub":"intruder","sub":"notification-backend"}`, 1)
	_, err = v.Verify(context.Background(), sign(t, f.priv, "EdDSA", seg(t, validHeader()), seg(t, payload)))
	require.ErrorIs(t, err, authn.ErrDuplicateMember)
}

// A service that lists no actors takes no delegated token at all.
func TestVerifier_ActorRefusedByDefault(t *testing.T) {
	f := newFixture(t)
	_, err := f.v.Verify(context.Background(), f.token(t, validHeader(), with(validClaims(), "act", chain("notification-backend"))))
	require.ErrorIs(t, err, authn.ErrActor)
}
