package authn

import (
	"encoding/json"
	"fmt"
	"strings"
)

// scanObject walks the top-level members of the JSON object in data, calling
// visit with each name and raw value. It refuses what encoding/json silently
// accepts: a member named twice (parsers disagree on which one wins, RFC 8725
// §3.12), also in another letter case, and a known member spelt in another
// case (encoding/json would match "ALG" to "alg").
//
// It only finds member boundaries; the caller still runs json.Unmarshal on
// data, which rejects anything that is not valid JSON. Its cost is one pass
// and no allocation for the usual handful of members.
func scanObject(data []byte, known []string, visit func(name string, value []byte) error) error {
	var names [16]string
	seen := names[:0]
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return trailing(data, i+1)
	}
	for {
		name, value, next, err := member(data, i)
		if err != nil {
			return err
		}
		if err := checkName(name, seen, known); err != nil {
			return err
		}
		seen = append(seen, name)
		if err := visit(name, value); err != nil {
			return err
		}
		i = skipSpace(data, next)
		if i >= len(data) {
			return fmt.Errorf("%w: unterminated object", ErrMalformed)
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return trailing(data, i+1)
		default:
			return fmt.Errorf("%w: ',' or '}' expected", ErrMalformed)
		}
	}
}

// member reads the member at data[i:]: its name, its raw value, and where
// the value ends.
func member(data []byte, i int) (name string, value []byte, end int, err error) {
	if i >= len(data) || data[i] != '"' {
		return "", nil, 0, fmt.Errorf("%w: member name expected", ErrMalformed)
	}
	nameEnd := skipString(data, i)
	if nameEnd < 0 {
		return "", nil, 0, fmt.Errorf("%w: unterminated string", ErrMalformed)
	}
	if name, err = memberName(data[i:nameEnd]); err != nil {
		return "", nil, 0, err
	}
	i = skipSpace(data, nameEnd)
	if i >= len(data) || data[i] != ':' {
		return "", nil, 0, fmt.Errorf("%w: ':' expected", ErrMalformed)
	}
	start := skipSpace(data, i+1)
	stop := skipValue(data, start)
	if stop < 0 || stop == start {
		return "", nil, 0, fmt.Errorf("%w: bad value for %q", ErrMalformed, name)
	}
	return name, data[start:stop], stop, nil
}

// checkName refuses a name seen before in any letter case, and a known
// name spelt in another case.
func checkName(name string, seen, known []string) error {
	for _, s := range seen {
		if strings.EqualFold(s, name) {
			return fmt.Errorf("%w: %q", ErrDuplicateMember, name)
		}
	}
	for _, k := range known {
		if name != k && strings.EqualFold(name, k) {
			return fmt.Errorf("%w: %q is not %q", ErrMalformed, name, k)
		}
	}
	return nil
}

func trailing(data []byte, i int) error {
	if skipSpace(data, i) != len(data) {
		return fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	return nil
}

// memberName returns the unquoted name; escapes are rare, so only then is
// encoding/json asked to decode it.
func memberName(quoted []byte) (string, error) {
	inner := quoted[1 : len(quoted)-1]
	for _, c := range inner {
		if c == '\\' {
			var s string
			if err := json.Unmarshal(quoted, &s); err != nil {
				return "", fmt.Errorf("%w: %w", ErrMalformed, err)
			}
			return s, nil
		}
	}
	return string(inner), nil
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at data[i], or -1.
func skipString(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the value starting at data[i], or -1.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end := skipString(data, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i // number or literal: up to the next delimiter
	for j < len(data) && !strings.ContainsRune(",}] \t\r\n", rune(data[j])) {
		j++
	}
	return j
}
