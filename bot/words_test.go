package bot

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

// quoteWords are words as a shell hands them over: every quote character
// people type, typographic ones inside a word, backslashes, white space.
var quoteWords = [][]string{
	{"logs", "api", "--grep", "say “hi” now"},
	{"logs", "api", "--grep", "say ”hi“ now"},
	{"logs", "api", "--grep", "‘quoted’ and ’reversed‘"},
	{"logs", "api", "--grep", "it's"},
	{"logs", "api", "--grep", `"`},
	{"logs", "api", "--grep", `”`},
	{"logs", "api", "--grep", `“`},
	{"logs", "api", "--grep", `’`},
	{"logs", "api", "--grep", `\`},
	{"logs", "api", "--grep", `a\"b\\c`},
	{"logs", "api", "--grep", `C:\path\”x”`},
	{"logs", "api", "--grep", "«guillemets» „low“ ‚single‘ 「corner」 ＂fullwidth＂"},
	{"logs", "api", "--grep", "tab\tinside"},
	{"logs", "api", "--grep", "non\u00a0breaking"},
	{"logs", "api", "--grep", ""},
	{"logs", "api", "--grep", "--follow"},
	{"note", "“unclosed", "and ‘another"},
	{"/shiftwise", "note", "$(id); rm -rf / `x`"},
}

// QuoteWords makes one line that Tokenize reads back as the same words.
func TestQuoteWordsRoundTrips(t *testing.T) {
	for _, words := range quoteWords {
		line := QuoteWords(words)
		got, err := Tokenize(line)
		if err != nil || !reflect.DeepEqual(got, words) {
			t.Errorf("QuoteWords(%q) = %q, Tokenize reads %q, %v", words, line, got, err)
		}
	}
	if got := QuoteWords([]string{"logs", "api", "--tail", "5"}); got != "logs api --tail 5" {
		t.Errorf("plain words are quoted: %q", got)
	}
}

// Words given already split reach the command as they are; the audit
// line is the quoted line, and an approval request re-reads it exactly.
func TestRequestWordsAreNotReTokenized(t *testing.T) {
	var got []string
	var grep string
	reg, err := NewRegistry(Command{Name: "note", MaxArgs: -1, Level: Level1,
		Flags: []Flag{{Name: "grep", Kind: FlagString}, {Name: "follow", Kind: FlagBool}},
		Run: func(_ context.Context, r Request) (Message, error) {
			got, grep = r.Args.Positional, r.Args.String("grep")
			return Message{Title: "ok"}, nil
		}}, Command{Name: "logs", MaxArgs: -1, Level: Level1,
		Flags: []Flag{{Name: "grep", Kind: FlagString}, {Name: "follow", Kind: FlagBool}},
		Run: func(_ context.Context, r Request) (Message, error) {
			got, grep = r.Args.Positional, r.Args.String("grep")
			return Message{Title: "ok"}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	aud := &recordingAuditor{}
	e, err := NewEngine(Options{Registry: reg, Authorizer: allowAll{}, Redactor: noRedact{}, Auditor: aud})
	if err != nil {
		t.Fatal(err)
	}
	for _, words := range quoteWords {
		got, grep = nil, ""
		r := e.Handle(context.Background(), Request{Subject: "console:x", Channel: "console", Words: words})
		if r.Outcome != OutcomeOK {
			t.Errorf("%q: outcome %d: %s", words, r.Outcome, r.Message.Text)
			continue
		}
		rest := stripPrefix(words)[1:]
		var wantPos []string
		wantGrep := ""
		for i := 0; i < len(rest); i++ {
			if rest[i] == "--grep" {
				wantGrep = rest[i+1]
				i++
				continue
			}
			wantPos = append(wantPos, rest[i])
		}
		if grep != wantGrep || !reflect.DeepEqual(got, wantPos) {
			t.Errorf("%q: command got %q and --grep %q", words, got, grep)
		}
		line := aud.last().Args
		if back, err := Tokenize(line); err != nil || !reflect.DeepEqual(back, words) {
			t.Errorf("%q: audit line %q reads back as %q, %v", words, line, back, err)
		}
	}
	// The checks typed text gets apply to words too.
	for _, words := range [][]string{{"note", "esc\x1b[2J"}, {"note", "nul\x00"}, {"note", "bidi\u202e"}, {"note", "bad\xff"}, {"note", strings.Repeat("a", MaxInputBytes)}} {
		if r := e.Handle(context.Background(), Request{Subject: "console:x", Words: words}); r.Outcome != OutcomeUsage {
			t.Errorf("%q: outcome %d, want a usage error", clip(strings.Join(words, " "), 30), r.Outcome)
		}
	}
}

type recordingAuditor struct{ entries []AuditEntry }

func (a *recordingAuditor) Append(_ context.Context, e AuditEntry) error {
	a.entries = append(a.entries, e)
	return nil
}

func (a *recordingAuditor) last() AuditEntry {
	if len(a.entries) == 0 {
		return AuditEntry{}
	}
	return a.entries[len(a.entries)-1]
}

// FuzzTokenize: splitting never panics, and the words it finds, as well as
// any words at all, come back unchanged through QuoteWords and Tokenize
// (the audit line and an approval request's stored line).
func FuzzTokenize(f *testing.F) {
	for _, s := range []string{"logs api --grep \"say “hi” now\"", `note 'it''s' a\ b`, "“", `"\`, "a\tb", "x\x1b[2J", "‘’‘", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if words, err := Tokenize(s); err == nil {
			line := QuoteWords(words)
			back, err := Tokenize(line)
			if err != nil || !equalWords(back, words) {
				t.Fatalf("Tokenize(%q) = %q; QuoteWords = %q reads back as %q, %v", s, words, line, back, err)
			}
		}
		// The same string as words split at '|': arbitrary words.
		words := strings.Split(s, "|")
		line := QuoteWords(words)
		if checkText(line) != nil {
			return // refused as typed text would be
		}
		back, err := Tokenize(line)
		if err != nil || !equalWords(back, words) {
			t.Fatalf("QuoteWords(%q) = %q reads back as %q, %v", words, line, back, err)
		}
	})
}

func equalWords(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}
