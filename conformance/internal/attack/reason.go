package attack

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/s2sjwt/s2sjwt/internal/httpx"
)

// maxReasonBytes bounds a server's reason as the report quotes it.
const maxReasonBytes = 200

// serverReason says in a few words why a server refused: the RFC 6750
// challenge's error and error_description, an OAuth-style or other common
// JSON error body, or else the start of the body, bounded and escaped.
func serverReason(challenge string, body []byte) string {
	params := challengeParams(challenge)
	if r := joinCodeAndText(params["error"], params["error_description"]); r != "" {
		return bound(r)
	}
	var doc map[string]any
	if json.Unmarshal(body, &doc) == nil {
		text := func(keys ...string) string {
			for _, k := range keys {
				switch v := doc[k].(type) {
				case string:
					return v
				case map[string]any: // {"error": {"code": …, "message": …}}
					if m, ok := v["message"].(string); ok {
						c, _ := v["code"].(string)
						return joinCodeAndText(c, m)
					}
				}
			}
			return ""
		}
		code, _ := doc["error"].(string)
		if r := joinCodeAndText(code, text("error_description", "message", "detail", "title", "msg", "reason")); r != "" {
			return bound(r)
		}
		if r := text("error"); r != "" {
			return bound(r)
		}
	}
	return QuoteBounded(strings.TrimSpace(string(body)))
}

func joinCodeAndText(code, text string) string {
	switch {
	case code == "" || text == "":
		return code + text
	case strings.Contains(text, code):
		return text
	}
	return code + ": " + text
}

// challengeParams parses the auth-params of a WWW-Authenticate challenge
// (RFC 9110 §11.2), enough for error and error_description.
func challengeParams(challenge string) map[string]string {
	params := map[string]string{}
	_, s, ok := strings.Cut(strings.TrimSpace(challenge), " ")
	if !ok {
		return params
	}
	for s != "" {
		s = strings.TrimLeft(s, " ,")
		name, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		name = strings.ToLower(strings.TrimSpace(name))
		var value string
		if strings.HasPrefix(rest, `"`) {
			end := 1
			for end < len(rest) && rest[end] != '"' {
				if rest[end] == '\\' {
					end++
				}
				end++
			}
			value = strings.ReplaceAll(rest[1:min(end, len(rest))], `\`, "")
			rest = rest[min(end+1, len(rest)):]
		} else {
			value, rest, _ = strings.Cut(rest, ",")
		}
		params[name] = strings.TrimSpace(value)
		s = rest
	}
	return params
}

// bound cuts s to maxReasonBytes on a rune boundary and escapes what a
// terminal must not interpret.
func bound(s string) string {
	q := strconv.Quote(cut(s))
	return q[1 : len(q)-1]
}

// QuoteBounded quotes s, cut to maxReasonBytes, for text a server wrote.
func QuoteBounded(s string) string {
	if s == "" {
		return `""`
	}
	return strconv.Quote(cut(s))
}

func cut(s string) string {
	if c, ok := httpx.Truncate(s, maxReasonBytes); ok {
		return c + "…"
	}
	return s
}
