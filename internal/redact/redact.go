// Package redact removes secrets from text before it is shown, logged,
// audited, put on a timeline or written to a file: the credential formats
// of gitleaks's default rules (AWS, GitHub, GitLab, Stripe, Slack, Google,
// npm, SendGrid, Twilio, JWTs, PEM private keys and more), values of
// password / pwd / pass / passphrase / auth / credential / secret / token /
// api_key / access_key settings in any quoting or percent-encoding,
// Authorization headers, URL userinfo of any shape, SQL password literals,
// plus any literal secret the bot was configured with.
//
// It is one pass over the text: a table of trigger bytes (= : % _ - . A J K
// space, line ends and the clip mark …) selects the few places where a rule
// can start, and each rule checks its literal prefix or key word there. Most
// log text holds no secret and costs one table lookup a byte.
//
// Callers redact before they clip or match anything a user typed: a clipped
// secret is no longer recognisable, and a --grep run on raw text would tell
// a secret's characters apart. The clip mark "…" is honoured anyway: a known
// prefix or a URL password directly before it is masked however short.
package redact

import (
	"net/url"
	"sort"
	"strings"

	"github.com/sirupsen/logrus"
)

// Mask replaces every secret.
const Mask = "[REDACTED]"

// clipMark is what the bot's clipping helpers append.
const clipMark = "…"

// Redactor redacts the built-in rules and the literal secrets it was
// given. It is safe for concurrent use once built.
type Redactor struct {
	literals []string
}

// New returns a Redactor that also removes each literal secret, raw and
// percent-encoded (values shorter than 4 characters are ignored: they
// would mask ordinary text; so are values found inside the mask itself).
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	seen := map[string]bool{}
	add := func(s string) {
		if len(s) >= 4 && !seen[s] && !strings.Contains(Mask, s) && !strings.Contains(URLMask, s) {
			seen[s] = true
			r.literals = append(r.literals, s)
		}
	}
	for _, s := range secrets {
		add(s)
		add(url.QueryEscape(s))
		add(url.PathEscape(s))
	}
	// Longest first, so a secret containing another is masked whole.
	sort.Slice(r.literals, func(i, j int) bool { return len(r.literals[i]) > len(r.literals[j]) })
	return r
}

// Redact returns s without secrets. Redact(Redact(s)) == Redact(s).
func (r *Redactor) Redact(s string) string {
	out, _ := r.redact(s)
	return out
}

// redact also says whether s ends inside a private key block (its BEGIN
// line seen, its END not), for Stream.
func (r *Redactor) redact(s string) (string, bool) {
	if s == "" {
		return s, false
	}
	// A mask can join what was apart (a key block swallows line ends, a
	// quoted value blanks): text that was masked is scanned again until a
	// pass changes nothing, so that Redact(Redact(s)) == Redact(s). Text
	// without secrets takes one pass.
	open := false
	for range 8 {
		for _, l := range r.literals {
			if strings.Contains(s, l) {
				s = strings.ReplaceAll(s, l, Mask)
			}
		}
		sc := scanner{s: s, lits: r.literals}
		sc.run()
		open = open || sc.open
		if sc.b == nil {
			break
		}
		s = sc.result()
		if !sc.joined {
			break
		}
	}
	return s, open
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

// Stream redacts the lines of one log in order. A private key block spans
// lines: once a line opens one, the following lines are masked whole until
// its END line. Lines that are nothing but base64 of 40 characters or more
// (a key whose BEGIN line was before the window read) are masked by Redact
// itself. A Stream is not safe for concurrent use; use one per log.
type Stream struct {
	redact func(string) string
	inKey  bool
}

// Stream returns a new line redactor.
func (r *Redactor) Stream() *Stream { return NewStream(r.Redact) }

// NewStream returns a line redactor over any redacting function (nil: the
// built-in rules alone).
func NewStream(redact func(string) string) *Stream {
	if redact == nil {
		redact = builtin.Redact
	}
	return &Stream{redact: redact}
}

var builtin = New()

// Builtin redacts with the built-in rules alone, for callers that have no
// configured Redactor at hand.
func Builtin(s string) string { return builtin.Redact(s) }

// Line returns line redacted.
func (st *Stream) Line(line string) string {
	if st.inKey {
		e := strings.Index(line, "-----END")
		if e < 0 {
			if strings.TrimSpace(line) == "" {
				return line
			}
			return Mask
		}
		z := len(line)
		if c := strings.Index(line[e+8:], "-----"); c >= 0 {
			z = e + 8 + c + 5
		}
		st.inKey = false
		line = line[z:]
		st.inKey = opensKey(line)
		return Mask + st.redact(line)
	}
	st.inKey = opensKey(line)
	return st.redact(line)
}

// opensKey reports whether line has a BEGIN … PRIVATE KEY line with no END
// after it.
func opensKey(line string) bool {
	b := strings.LastIndex(line, "-----BEGIN")
	if b < 0 {
		return false
	}
	rest := line[b+10:]
	c := strings.Index(rest, "-----")
	return c >= 0 && strings.Contains(rest[:c], "PRIVATE KEY") && !strings.Contains(rest[c:], "-----END")
}
