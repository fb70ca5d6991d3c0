package authn

import (
	"encoding/base64"
	"encoding/json"
	"testing"
)

// FuzzParseClaims_AgreesWithEncodingJSON: whatever claims the member scan
// reads from a payload, encoding/json reads the same from it (or the scan
// refused the payload). A reader that takes a claim for something else
// than another reader does is where a check and its use part ways.
func FuzzParseClaims_AgreesWithEncodingJSON(f *testing.F) {
	for _, seed := range []string{
		`{"iss":"https://issuer.example","sub":"careergpt-backend","aud":["logging-service"],"jti":"a","scope":"logs:write"}`,
		"{\"scope\":\"\x93\"}", // a byte that is no UTF-8
		`{"sub":"a\u00e9\"b","aud":"x"}`,
		`{"iss":"\ud800"}`,
		`{"ISS":"upper","iss":"lower"}`,
		"{\"aud\":[\"a\",\"\xff\"]}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		c, err := parseClaims(base64.RawURLEncoding.EncodeToString([]byte(payload)))
		if err != nil {
			return // refused: nothing read to disagree about
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal([]byte(payload), &members); err != nil {
			t.Fatalf("the scan accepted %q, encoding/json does not: %v", payload, err)
		}
		for name, got := range map[string]string{"iss": c.Issuer, "sub": c.Subject, "jti": c.ID, "client_id": c.ClientID, "scope": c.Scope} {
			var want string
			if raw, ok := members[name]; ok {
				if err := json.Unmarshal(raw, &want); err != nil {
					t.Fatalf("%s: the scan read %q from %s, encoding/json refuses it: %v", name, got, raw, err)
				}
			}
			if got != want {
				t.Fatalf("%s: the scan read %q, encoding/json %q, from %q", name, got, want, payload)
			}
		}
		if raw, ok := members["aud"]; ok {
			var one string
			var list []string
			if json.Unmarshal(raw, &one) == nil {
				list = []string{one}
			} else if err := json.Unmarshal(raw, &list); err != nil {
				t.Fatalf("aud: the scan read %q from %s, encoding/json refuses it", c.Audience, raw)
			}
			if len(list) != len(c.Audience) {
				t.Fatalf("aud: the scan read %q, encoding/json %q", c.Audience, list)
			}
			for i := range list {
				if list[i] != c.Audience[i] {
					t.Fatalf("aud: the scan read %q, encoding/json %q", c.Audience, list)
				}
			}
		}
	})
}
