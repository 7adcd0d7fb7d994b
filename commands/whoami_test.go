package commands

import (
	"context"
	"strings"
	"testing"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/permissions"
)

// testRegistry is a literal registry for the policy commands' tests.
func testRegistry(p Policy, load func() (string, error)) []bot.Command {
	run := func(context.Context, bot.Request) (bot.Message, error) { return bot.Message{}, nil }
	list := []bot.Command{
		{Name: "health", Level: bot.Level1, Run: run},
		{Name: "restart", Usage: "<service>", MinArgs: 1, MaxArgs: 1, Object: func(a bot.Args) string { return "restart:" + a.First() }, Level: bot.Level1, Run: run},
		{Name: "rollback", Level: bot.Level2, Approval: true, Run: run},
		{Name: "backup restore", Object: func(bot.Args) string { return "backup:restore" }, Level: bot.Level3, Approval: true, Run: run},
	}
	cmds := func() []*bot.Command { return listOf(list) }
	list = append(list, Whoami(p, cmds), PolicyShow(p, cmds), PolicyReload(p, load))
	return list
}

const testPolicy = `
g, console:*, level1
g, slack:UDEV, level2
g, slack:UARCH, level3
p2, restart:postgres, level2, -
`

func newAuthz(t testing.TB, policy string) *permissions.Authorizer {
	t.Helper()
	a, err := permissions.New(policy, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

type noRedact struct{}

func (noRedact) Redact(s string) string { return s }

// engine runs the commands through the real core: parse, authorize, run.
func engine(t *testing.T, a *permissions.Authorizer, load func() (string, error)) *bot.Engine {
	t.Helper()
	reg, err := bot.NewRegistry(testRegistry(a, load)...)
	if err != nil {
		t.Fatal(err)
	}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: a, Redactor: noRedact{}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func text(m bot.Message) string {
	var b strings.Builder
	b.WriteString(m.Title + "\n" + m.Text + "\n")
	for _, f := range m.Fields {
		b.WriteString(f.Name + ": " + f.Value + "\n")
	}
	for _, c := range m.Code {
		b.WriteString("## " + c.Title + "\n" + c.Text + "\n")
	}
	return b.String() + m.Summary
}

func code(m bot.Message, title string) string {
	for _, c := range m.Code {
		if c.Title == title || strings.HasPrefix(c.Title, title) && title != "You may run" {
			return c.Text
		}
	}
	return ""
}

func TestWhoamiUnknownSlackUser(t *testing.T) {
	e := engine(t, newAuthz(t, testPolicy), nil)
	r := e.Handle(context.Background(), bot.Request{Subject: "slack:UNOBODY", Channel: "C1", Text: "/shiftwise whoami"})
	if r.Outcome != bot.OutcomeOK {
		t.Fatalf("outcome %v: %s", r.Outcome, text(r.Message))
	}
	m := r.Message
	out := text(m)
	if !strings.Contains(out, "You: slack:UNOBODY") || !strings.Contains(out, "Level: none") || !strings.Contains(m.Text, "`slack:UNOBODY`") {
		t.Errorf("whoami for an unknown user:\n%s", out)
	}
	var runnable []string
	for _, l := range strings.Split(code(m, "You may run"), "\n") {
		runnable = append(runnable, strings.Fields(l)[0])
	}
	if strings.Join(runnable, " ") != "help whoami" {
		t.Errorf("an unknown user may run %v, want help and whoami only:\n%s", runnable, out)
	}
	if code(m, "You may run with") != "" || code(m, "You may request") != "" {
		t.Errorf("an unknown user may neither run with approval nor request:\n%s", out)
	}
}

func TestWhoamiLevels(t *testing.T) {
	a := newAuthz(t, testPolicy)
	ctx := context.Background()
	cmds := testRegistry(a, nil)
	list := listOf(cmds)
	for _, tc := range []struct {
		subject               string
		level                 string
		run, approved, reqest []string
	}{
		{"console:alice", "Level 1 (Operations)",
			[]string{"health", "help", "policy show", "restart", "whoami"}, nil,
			[]string{"backup restore", "policy reload", "restart (restart:postgres)", "rollback"}},
		{"slack:UDEV", "Level 2 (Development)",
			[]string{"health", "help", "policy show", "restart", "restart (restart:postgres)", "whoami"}, []string{"rollback"},
			[]string{"backup restore", "policy reload"}},
		{"slack:UARCH", "Level 3 (System Architects)",
			[]string{"health", "help", "policy reload", "policy show", "restart", "restart (restart:postgres)", "whoami"},
			[]string{"backup restore", "rollback"}, nil},
	} {
		m := whoami(ctx, a, list, tc.subject)
		got := text(m)
		if !strings.Contains(got, "Level: "+tc.level) {
			t.Errorf("%s: %s", tc.subject, got)
		}
		check := func(title string, want []string) {
			t.Helper()
			var have []string
			for _, l := range strings.Split(code(m, title), "\n") {
				if l == "" {
					continue
				}
				// The label ends where the column of two or more spaces starts.
				label, _, _ := strings.Cut(l, "  ")
				have = append(have, label)
			}
			if strings.Join(have, "|") != strings.Join(want, "|") {
				t.Errorf("%s %q: %q, want %q", tc.subject, title, have, want)
			}
		}
		check("You may run", tc.run)
		check("You may run with", tc.approved)
		check("You may request", tc.reqest)
	}
}
