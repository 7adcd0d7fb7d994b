// Package redact removes secrets from text before it is shown, logged,
// audited or put on a timeline: Slack tokens, passwords in URLs, values of
// *_PASSWORD / *_SECRET / *_TOKEN settings, bearer tokens and JWTs, plus
// any literal secret the bot was configured with.
package redact

import (
	"regexp"
	"sort"
	"strings"

	"github.com/sirupsen/logrus"
)

// Mask replaces every secret.
const Mask = "[REDACTED]"

// patterns are tried only when their hints occur in the lower-cased text:
// most output holds no secret, and five regular expressions over every
// line of a long log would cost more than the command that produced it.
var patterns = []struct {
	hints []string
	re    *regexp.Regexp
	repl  string
}{
	// scheme://user:password@host -> scheme://user:[REDACTED]@host
	{[]string{"://"}, regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*):[^@\s/]+@`), "${1}:" + Mask + "@"},
	// Slack tokens: xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe-, xapp-
	{[]string{"xox", "xapp-"}, regexp.MustCompile(`\b(xox[abeprs]|xapp)-[A-Za-z0-9-]+`), Mask},
	// JWTs: three base64url parts, the first two JSON objects.
	{[]string{"eyj"}, regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`), Mask},
	// Authorization: Bearer/Basic <credential>
	{[]string{"bearer", "basic"}, regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}`), "${1} " + Mask},
	// SQL: ALTER ROLE app [ENCRYPTED] PASSWORD 'literal', as pg_stat_activity
	// and pg_stat_statements may show it.
	{[]string{"passw"}, regexp.MustCompile(`(?i)\b(password\s+)'(?:[^']|'')*'`), "${1}'" + Mask + "'"},
	// NAME_PASSWORD=value, DB_SECRET: value, "api_token": "value", password=value
	{[]string{"passw", "secret", "token", "key"}, regexp.MustCompile(`(?i)\b([A-Za-z0-9_.-]*(?:password|passwd|secret|token|api[_-]?key)["']?\s*[=:]\s*["']?)([^\s"'&,;]+)`), "${1}" + Mask},
}

// Redactor redacts the built-in patterns and the literal secrets it was
// given. It is safe for concurrent use once built.
type Redactor struct {
	literals []string
}

// New returns a Redactor that also removes each literal secret (values
// shorter than 4 characters are ignored: they would mask ordinary text).
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		if len(s) >= 4 {
			r.literals = append(r.literals, s)
		}
	}
	// Longest first, so a secret containing another is masked whole.
	sort.Slice(r.literals, func(i, j int) bool { return len(r.literals[i]) > len(r.literals[j]) })
	return r
}

// Redact returns s without secrets.
func (r *Redactor) Redact(s string) string {
	if s == "" {
		return s
	}
	for _, l := range r.literals {
		s = strings.ReplaceAll(s, l, Mask)
	}
	lower := strings.ToLower(s)
	for _, p := range patterns {
		for _, h := range p.hints {
			if strings.Contains(lower, h) {
				s = p.re.ReplaceAllString(s, p.repl)
				break
			}
		}
	}
	return s
}

// Hook is a logrus hook that redacts the message and every string field
// of each entry before it is written.
type Hook struct{ R *Redactor }

// Levels returns all levels: every entry is redacted.
func (h Hook) Levels() []logrus.Level { return logrus.AllLevels }

// Fire redacts the entry in place.
func (h Hook) Fire(e *logrus.Entry) error {
	e.Message = h.R.Redact(e.Message)
	for k, v := range e.Data {
		switch x := v.(type) {
		case string:
			e.Data[k] = h.R.Redact(x)
		case error:
			e.Data[k] = h.R.Redact(x.Error())
		}
	}
	return nil
}
