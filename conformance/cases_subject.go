package conformance

func subjectCases() []Case {
	sc := func(id, title, explain string, sev Severity, value any) Case {
		return Case{About: About{ID: id, Category: "subject", Severity: sev, Expect: Refuse, Source: "RFC 9068 §2.2; RFC 7519 §4.1.2",
			Title:   title,
			Explain: explain},
			Run: requests(forged(func(_ *testIssuer, _, c map[string]any) {
				if value == nil {
					delete(c, "sub")
				} else {
					c["sub"] = value
				}
			}))}
	}
	return []Case{
		sc("SUB-01", "sub missing", "sub says who is calling; Logging records it as the source of every entry. A token that names nobody cannot be audited.", High, nil),
		sc("SUB-02", "sub is empty", "An empty sub names no caller: Logging would record an entry from nobody, and no audit could say who wrote it.", High, ""),
		sc("SUB-03", "sub is a number", "sub is a string; a number is a malformed token, whatever it would stringify to.", Medium, 12345),
	}
}
