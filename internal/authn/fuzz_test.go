package authn_test

import (
	"context"
	"strings"
	"testing"
)

// FuzzVerifier_Verify feeds arbitrary tokens, built around a valid one, to
// the verifier: it must never panic, and it must never accept anything but
// the untouched valid token.
func FuzzVerifier_Verify(f *testing.F) {
	fx := newFixture(f)
	valid := fx.token(f, validHeader(), validClaims())
	parts := strings.Split(valid, ".")
	f.Add(parts[0], parts[1], parts[2])
	f.Add(seg(f, `{"alg":"EdDSA","typ":"at+jwt","kid":"key-1","x":[{"a":"\"}"}]}`), parts[1], parts[2])
	f.Add(seg(f, `{"alg":"EdDSA" , "kid" : "key-1"  }`), seg(f, `{"aud":["a","b"],"exp":1e400}`), "")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, header, payload, sig string) {
		token := header + "." + payload + "." + sig
		_, err := fx.v.Verify(context.Background(), token)
		if err == nil && token != valid {
			t.Fatalf("accepted a token that is not the signed one: %q", token)
		}
	})
}
