package bot

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestTokenize(t *testing.T) {
	cases := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "health", want: []string{"health"}},
		{in: "  /shiftwise   health  ", want: []string{"/shiftwise", "health"}},
		{in: `logs api --grep "connection refused"`, want: []string{"logs", "api", "--grep", "connection refused"}},
		{in: `logs api --grep 'it''s'`, want: []string{"logs", "api", "--grep", "its"}},
		{in: `note "say \"hi\""`, want: []string{"note", `say "hi"`}},
		{in: `note a\ b`, want: []string{"note", "a b"}},
		{in: "note “smart quotes” ok", want: []string{"note", "smart quotes", "ok"}},
		{in: "note ‘single smart’", want: []string{"note", "single smart"}},
		{in: `x ""`, want: []string{"x", ""}},
		{in: "tab\tseparated", want: []string{"tab", "separated"}},
		{in: "; rm -rf / && echo $(id)", want: []string{";", "rm", "-rf", "/", "&&", "echo", "$(id)"}},
		{in: "", want: nil},
		{in: `unclosed "quote`, wantErr: "not closed"},
		{in: `trailing \`, wantErr: "backslash"},
		{in: "bell\a", wantErr: "control character"},
		{in: "nul\x00byte", wantErr: "control character"},
		{in: "esc\x1b[31m", wantErr: "control character"},
		{in: "new\nline", wantErr: "control character"},
		{in: "bidi \u202e override", wantErr: "control character"},
		{in: "bad \xff utf8", wantErr: "UTF-8"},
		{in: strings.Repeat("a", MaxInputBytes+1), wantErr: "limit is 4096"},
	}
	for _, c := range cases {
		got, err := Tokenize(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("Tokenize(%q) error = %v, want one containing %q", clip(c.in, 30), err, c.wantErr)
			}
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Errorf("Tokenize(%q) error is %T, want *UsageError", clip(c.in, 30), err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("Tokenize(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// testRegistry has a single, a grouped and a flagged command.
func testRegistry(t testing.TB, ran *[]string) *Registry {
	run := func(name string) func(context.Context, Request) (Message, error) {
		return func(_ context.Context, r Request) (Message, error) {
			if ran != nil {
				*ran = append(*ran, name+" "+strings.Join(r.Args.Positional, ","))
			}
			return Message{Title: name, Status: StatusOK}, nil
		}
	}
	r, err := NewRegistry(
		Command{Name: "health", Summary: "check", Level: Level1, Run: run("health"),
			Flags: []Flag{{Name: "timeout", Kind: FlagDuration, Default: "5s", MinDuration: time.Millisecond, MaxDuration: 2 * time.Minute}}},
		Command{Name: "logs", Usage: "<service>", MinArgs: 1, MaxArgs: 1, Level: Level1, Run: run("logs"),
			Flags: []Flag{
				{Name: "since", Kind: FlagDuration, Default: "24h", MinDuration: time.Second, MaxDuration: 90 * day},
				{Name: "tail", Kind: FlagInt, Default: "100", Min: 1, Max: 5000},
				{Name: "grep", Kind: FlagString},
				{Name: "follow", Kind: FlagBool},
			}},
		Command{Name: "db status", Level: Level1, Run: run("db status")},
		Command{Name: "db connections", Level: Level1, Run: run("db connections")},
		Command{Name: "restart", Usage: "<service>", MinArgs: 1, MaxArgs: 1, Level: Level2, Run: run("restart")},
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParseArgs(t *testing.T) {
	reg := testRegistry(t, nil)
	cases := []struct {
		line    string
		cmd     string
		pos     []string
		flags   map[string]string
		wantErr string
	}{
		{line: "health", cmd: "health"},
		{line: "/shiftwise health --timeout 2s", cmd: "health", flags: map[string]string{"timeout": "2s"}},
		{line: "HEALTH --timeout=1m", cmd: "health", flags: map[string]string{"timeout": "1m"}},
		{line: "logs api --since 7d --tail 50 --grep 'a b' --follow", cmd: "logs", pos: []string{"api"},
			flags: map[string]string{"since": "7d", "tail": "50", "grep": "a b", "follow": "true"}},
		{line: "logs -- --api", cmd: "logs", pos: []string{"--api"}},
		{line: "db status", cmd: "db status"},
		{line: "db  connections", cmd: "db connections"},
		{line: "health --timeot 2s", wantErr: "Did you mean --timeout?"},
		{line: "health --bogus", wantErr: "has no flag --bogus."},
		{line: "health extra", wantErr: "takes no arguments"},
		{line: "logs", wantErr: "needs an argument"},
		{line: "logs a b", wantErr: "at most 1"},
		{line: "logs api --tail", wantErr: "--tail needs a value"},
		{line: "logs api --tail -3", wantErr: "--tail must be from 1 to 5000, not -3."},
		{line: "logs api --tail x", wantErr: "whole number"},
		{line: "logs api --since yesterday", wantErr: "not a duration"},
		{line: "logs api --since 1h --since 2h", wantErr: "given twice"},
		{line: "logs api --follow=maybe", wantErr: "true/false"},
		{line: "helth", wantErr: `Did you mean "health"?`},
		{line: "restrat api", wantErr: `Did you mean "restart"?`},
		{line: "db", wantErr: `"db" needs a subcommand: db connections, db status.`},
		{line: "db stauts", wantErr: `Did you mean "db status"?`},
		{line: "frobnicate", wantErr: `Unknown command "frobnicate". Type`},
	}
	for _, c := range cases {
		words, err := Tokenize(c.line)
		if err != nil {
			t.Fatalf("%q: %v", c.line, err)
		}
		words = stripPrefix(words)
		cmd, rest := reg.resolve(words)
		if cmd == nil {
			err = reg.unknown(words)
		} else {
			var a Args
			a, err = parseArgs(cmd, rest)
			if err == nil && c.wantErr == "" {
				if cmd.Name != c.cmd {
					t.Errorf("%q: command %q, want %q", c.line, cmd.Name, c.cmd)
				}
				if !reflect.DeepEqual(a.Positional, c.pos) {
					t.Errorf("%q: positional %q, want %q", c.line, a.Positional, c.pos)
				}
				for k, v := range c.flags {
					if a.String(k) != v {
						t.Errorf("%q: --%s = %q, want %q", c.line, k, a.String(k), v)
					}
				}
				continue
			}
		}
		if c.wantErr == "" {
			t.Errorf("%q: unexpected error %v", c.line, err)
		} else if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%q: error %v, want one containing %q", c.line, err, c.wantErr)
		}
	}
}

func TestArgsDefaultsAndTypes(t *testing.T) {
	reg := testRegistry(t, nil)
	cmd := reg.Lookup("logs")
	a, err := parseArgs(cmd, []string{"api", "--since", "30d"})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Duration("since").Hours(); got != 720 {
		t.Errorf("--since 30d = %vh, want 720h", got)
	}
	if a.Int("tail") != 100 || a.Has("tail") {
		t.Errorf("--tail default: Int=%d Has=%v, want 100 false", a.Int("tail"), a.Has("tail"))
	}
	if a.Bool("follow") {
		t.Error("--follow defaults to false")
	}
}

func TestNewRegistryRejectsBadTables(t *testing.T) {
	ok := func(context.Context, Request) (Message, error) { return Message{}, nil }
	cases := map[string][]Command{
		"registered twice":    {{Name: "health", Run: ok}, {Name: "health", Run: ok}},
		"no Run function":     {{Name: "health"}},
		"lower-case words":    {{Name: "Health", Run: ok}},
		"duplicate flag":      {{Name: "x", Run: ok, Flags: []Flag{{Name: "a"}, {Name: "a"}}}},
		"also the first word": {{Name: "db", Run: ok, MaxArgs: 1}, {Name: "db status", Run: ok}},
	}
	for want, cmds := range cases {
		if _, err := NewRegistry(cmds...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewRegistry(%s): error %v, want one containing %q", cmds[0].Name, err, want)
		}
	}
}

// A command without positional arguments may be the first word of others.
func TestRegistryCommandBesideItsSubcommands(t *testing.T) {
	ok := func(context.Context, Request) (Message, error) { return Message{}, nil }
	r, err := NewRegistry(Command{Name: "audit", Run: ok}, Command{Name: "audit verify", Run: ok})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		words []string
		want  string
		rest  int
	}{
		{[]string{"audit"}, "audit", 0},
		{[]string{"audit", "--since", "1h"}, "audit", 2},
		{[]string{"audit", "verify"}, "audit verify", 0},
		{[]string{"AUDIT", "Verify"}, "audit verify", 0},
		{[]string{"audit", "verfy"}, "", 2},
	} {
		got, rest := r.resolve(c.words)
		name := ""
		if got != nil {
			name = got.Name
		}
		if name != c.want || len(rest) != c.rest {
			t.Errorf("resolve(%q) = %q %q, want %q with %d words left", c.words, name, rest, c.want, c.rest)
		}
	}
	if e := r.unknown([]string{"audit", "verfy"}); !strings.Contains(e.Msg, `Did you mean "audit verify"`) {
		t.Errorf("misspelt subcommand: %q", e.Msg)
	}
}

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"health", "health", 0}, {"helth", "health", 1}, {"haelth", "health", 1}, {"restart", "restrat", 1}, {"", "abc", 3}} {
		if got := distance(c.a, c.b); got != c.d {
			t.Errorf("distance(%q,%q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}

// FuzzHandle feeds arbitrary text through the whole engine: it must never
// panic, must answer with a message, must run a command only for text
// that parses, and must never run anything for a usage error.
func FuzzHandle(f *testing.F) {
	for _, s := range []string{"health", "/shiftwise logs api --tail 5", `logs "a b`, "db", "help logs",
		"\x00", "logs api --since=-1h", "“quoted” ‘x’", strings.Repeat("x ", 3000), "restart api; rm -rf /"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var ran []string
		e, err := NewEngine(Options{Registry: testRegistry(t, &ran), Authorizer: allowAll{}, Redactor: noRedact{}})
		if err != nil {
			t.Fatal(err)
		}
		r := e.Handle(context.Background(), Request{Subject: "console:fuzz", Text: s})
		if r.Message.Title == "" {
			t.Fatalf("no title for %q", s)
		}
		if r.Outcome == OutcomeUsage && len(ran) > 0 {
			t.Fatalf("usage error but ran %v for %q", ran, s)
		}
		if len(ran) > 1 {
			t.Fatalf("ran %d commands for one line %q", len(ran), s)
		}
		if _, err := Tokenize(s); err != nil && len(ran) > 0 {
			t.Fatalf("ran %v for untokenizable %q", ran, s)
		}
		if !utf8.ValidString(r.Message.Text) {
			t.Fatalf("reply text is not UTF-8 for %q", s)
		}
	})
}
