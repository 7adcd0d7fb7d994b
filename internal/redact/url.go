package redact

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// URLMask replaces passwords inside URLs, as net/url's Redacted does.
const URLMask = "xxxxx"

// SafeError carries a message already stripped of secrets. It deliberately
// wraps nothing: a driver's error value may keep the raw connection string.
type SafeError struct{ Msg string }

func (e *SafeError) Error() string { return e.Msg }

var passwordParam = regexp.MustCompile(`(?i)(^|[?&\s])((?:ssl)?password)=('[^']*'|[^&\s]*)`)

// URL shows a connection URL with every password masked. A URL that
// does not parse is masked by best effort, erring on masking too much.
func URL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), URLMask)
		}
		u.RawQuery = passwordParam.ReplaceAllString(u.RawQuery, "${1}${2}="+URLMask)
		return u.String()
	}
	out := raw
	for _, s := range urlSecrets(raw) {
		out = strings.ReplaceAll(out, s, URLMask)
	}
	return passwordParam.ReplaceAllString(out, "${1}${2}="+URLMask)
}

// ParseError explains why raw does not parse without showing a secret:
// parse runs again on the redacted URL, and its error (scrubbed once more)
// is the reason given. When only the secret was malformed, the redacted
// URL parses and the reason says where to look.
func ParseError(what, raw string, parse func(string) error) error {
	shown := URL(raw)
	reason := "malformed URL: check the password, whose reserved characters (@ / ? # % :) must be percent-encoded"
	if err := parse(shown); err != nil {
		reason = Scrub(err.Error(), raw)
	}
	return &SafeError{Msg: fmt.Sprintf("parse %s URL %s: %s", what, shown, reason)}
}

// Scrub removes from msg every secret that raw carries.
func Scrub(msg, raw string) string {
	for _, s := range urlSecrets(raw) {
		msg = strings.ReplaceAll(msg, s, URLMask)
	}
	return msg
}

// urlSecrets lists the password-like parts of a connection string, raw and
// percent-decoded: the userinfo password (up to the last '@', so that an
// unescaped '@' or '/' in it cannot hide a part) and password parameters.
func urlSecrets(raw string) []string {
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
