package cases

import "github.com/s2sjwt/s2sjwt/conformance/internal/attack"

func subjectCases() []attack.Case {
	sc := func(id, title, explain string, sev attack.Severity, value any) attack.Case {
		return attack.Case{About: attack.About{ID: id, Category: "subject", Severity: sev, Expect: attack.Refuse, Source: "RFC 9068 §2.2; RFC 7519 §4.1.2",
			Title:   title,
			Explain: explain},
			Run: attack.Requests(attack.Forged(func(_ *attack.Issuer, _, c map[string]any) {
				if value == nil {
					delete(c, "sub")
				} else {
					c["sub"] = value
				}
			}))}
	}
	return []attack.Case{
		sc("SUB-01", "sub missing", "sub says who is calling; Logging records it as the source of every entry. A token that names nobody cannot be audited.", attack.High, nil),
		sc("SUB-02", "sub is empty", "An empty sub names no caller: Logging would record an entry from nobody, and no audit could say who wrote it.", attack.High, ""),
		sc("SUB-03", "sub is a number", "sub is a string; a number is a malformed token, whatever it would stringify to.", attack.Medium, 12345),
	}
}
