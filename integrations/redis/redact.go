package redis

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

const mask = "xxxxx"

// urlError carries a message already stripped of secrets. It deliberately
// wraps nothing: the driver's error value keeps the raw connection string.
type urlError struct{ msg string }

func (e *urlError) Error() string { return e.msg }

var passwordParam = regexp.MustCompile(`(?i)(^|[?&\s])((?:ssl)?password)=('[^']*'|[^&\s]*)`)

// redactURL shows a connection URL with every password masked. A URL that
// does not parse is masked by best effort, erring on masking too much.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), mask)
		}
		u.RawQuery = passwordParam.ReplaceAllString(u.RawQuery, "${1}${2}="+mask)
		return u.String()
	}
	out := raw
	for _, s := range secrets(raw) {
		out = strings.ReplaceAll(out, s, mask)
	}
	return passwordParam.ReplaceAllString(out, "${1}${2}="+mask)
}

// parseError explains why raw does not parse without showing a secret:
// parse runs again on the redacted URL, and its error (scrubbed once more)
// is the reason given. When only the secret was malformed, the redacted
// URL parses and the reason says where to look.
func parseError(what, raw string, parse func(string) error) error {
	shown := redactURL(raw)
	reason := "malformed URL: check the password, whose reserved characters (@ / ? # % :) must be percent-encoded"
	if err := parse(shown); err != nil {
		reason = scrub(err.Error(), raw)
	}
	return &urlError{msg: fmt.Sprintf("parse %s URL %s: %s", what, shown, reason)}
}

// scrub removes from msg every secret that raw carries.
func scrub(msg, raw string) string {
	for _, s := range secrets(raw) {
		msg = strings.ReplaceAll(msg, s, mask)
	}
	return msg
}

// secrets lists the password-like parts of a connection string, raw and
// percent-decoded: the userinfo password (up to the last '@', so that an
// unescaped '@' or '/' in it cannot hide a part) and password parameters.
func secrets(raw string) []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s)
		if d, err := url.PathUnescape(s); err == nil && d != s && d != "" {
			out = append(out, d)
		}
		if d, err := url.QueryUnescape(s); err == nil && d != s && d != "" {
			out = append(out, d)
		}
	}
	if _, rest, ok := strings.Cut(raw, "://"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, has := strings.Cut(rest[:at], ":"); has {
				add(pw)
			}
		}
	}
	for _, m := range passwordParam.FindAllStringSubmatch(raw, -1) {
		add(strings.Trim(m[3], "'"))
	}
	// Longest first, so that a secret containing another is masked whole.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && len(out[j]) > len(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
