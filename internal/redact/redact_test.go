package redact

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

func TestRedact(t *testing.T) {
	r := New("hunter2-literal")
	cases := []struct{ in, want string }{
		{"postgres://shiftwise:s3cr3t@db:5432/shiftwise", "postgres://shiftwise:[REDACTED]@db:5432/shiftwise"},
		{"redis://:pa55word@127.0.0.1:6379/0", "redis://:[REDACTED]@127.0.0.1:6379/0"},
		{"token xoxb-1234-5678-abcdEFGH here", "token [REDACTED] here"},
		{"app xapp-1-A0123-456-abcdef", "app [REDACTED]"},
		{"POSTGRES_PASSWORD=topsecret rest", "POSTGRES_PASSWORD=[REDACTED] rest"},
		{"JWT_SECRET: abc123xyz", "JWT_SECRET: [REDACTED]"},
		{`{"api_token": "abcdef123"}`, `{"api_token": "[REDACTED]"}`},
		{"Authorization: Bearer abcdefghijklmnop", "Authorization: Bearer [REDACTED]"},
		{"jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end", "jwt [REDACTED] end"},
		{"the literal hunter2-literal leaks", "the literal [REDACTED] leaks"},
		{"plain text with no secrets: health PASSED", "plain text with no secrets: health PASSED"},
		{"http://127.0.0.1:13000/health", "http://127.0.0.1:13000/health"},
	}
	for _, c := range cases {
		if got := r.Redact(c.in); got != c.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestHookRedactsLogEntries(t *testing.T) {
	var buf bytes.Buffer
	l := logrus.New()
	l.Out = &buf
	l.AddHook(Hook{R: New()})
	l.WithField("url", "postgres://u:pw1234@h/db").WithField("error", errors.New("auth xoxb-111-222-abc failed")).Info("connect SHIFTWISE_TOKEN=abcdef")
	out := buf.String()
	for _, leak := range []string{"pw1234", "xoxb-111", "abcdef"} {
		if strings.Contains(out, leak) {
			t.Errorf("log line leaks %q: %s", leak, out)
		}
	}
	if !strings.Contains(out, Mask) {
		t.Errorf("log line has no mask: %s", out)
	}
}

func TestRedactHintsAreCaseInsensitive(t *testing.T) {
	r := New()
	for in, want := range map[string]string{
		"DB_PASSWORD=x1y2z3":               "DB_PASSWORD=" + Mask,
		"Authorization: BEARER abcdefghij": "Authorization: BEARER " + Mask,
		"API-KEY: abc123":                  "API-KEY: " + Mask,
		"POSTGRES://U:PW1234@H/DB":         "POSTGRES://U:" + Mask + "@H/DB",
	} {
		if got := r.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactSQLPasswordLiterals(t *testing.T) {
	r := New()
	for in, want := range map[string]string{
		"ALTER ROLE app PASSWORD 'hunter2'":                     "ALTER ROLE app PASSWORD '[REDACTED]'",
		"create user x with encrypted password 'it''s secret';": "create user x with encrypted password '[REDACTED]';",
		"ALTER ROLE app PASSWORD NULL":                          "ALTER ROLE app PASSWORD NULL",
	} {
		if got := r.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
