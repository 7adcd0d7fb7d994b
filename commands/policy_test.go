package commands

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/shiftwise/shiftwise-bot/bot"
)

func TestPolicyShow(t *testing.T) {
	a := newAuthz(t, testPolicy+"p, slack:UBOB, backup:*\np2, rollback, -, no-approval\n")
	e := engine(t, a, nil)
	ctx := context.Background()
	if r := e.Handle(ctx, bot.Request{Subject: "slack:UNOBODY", Text: "policy show"}); r.Outcome != bot.OutcomeDenied || !strings.Contains(r.Message.Text, "needs Level 1") {
		t.Errorf("unknown user: %v %s", r.Outcome, text(r.Message))
	}
	r := e.Handle(ctx, bot.Request{Subject: "console:alice", Text: "/shiftwise policy show"})
	if r.Outcome != bot.OutcomeOK {
		t.Fatalf("policy show: %v %s", r.Outcome, text(r.Message))
	}
	m := r.Message
	fields := map[string]string{}
	for _, f := range m.Fields {
		fields[f.Name] = f.Value
	}
	if fields[bot.Level1.String()] != "console:*" || fields[bot.Level2.String()] != "slack:UDEV" || fields[bot.Level3.String()] != "slack:UARCH" {
		t.Errorf("levels: %v", fields)
	}
	table := code(m, "Commands")
	rows := map[string][]string{}
	for _, l := range strings.Split(table, "\n")[1:] {
		f := strings.Fields(l)
		rows[f[0]+" "+f[1]] = f
	}
	for key, want := range map[string]string{
		"health health":            "health health L1/no L1 no L1+",
		"restart restart:":         "restart restart: L1/no L1 no L1+",
		"restart restart:postgres": "restart restart:postgres L1/no L2 no L2+",
		"rollback rollback":        "rollback rollback L2/yes L2 no L2+",
		"backup restore":           "backup restore backup:restore L3/yes L3 yes L3+, slack:UBOB",
		"whoami whoami":            "whoami whoami anyone/no anyone no anyone",
		"policy show":              "policy show policy:show L1/no L1 no L1+",
		"policy reload":            "policy reload policy:reload L3/no L3 no L3+",
	} {
		if got := strings.Join(rows[key], " "); got != want {
			t.Errorf("row %q = %q, want %q\n%s", key, got, want, table)
		}
	}
	over := code(m, "Overrides in force")
	if !strings.Contains(over, "restart:postgres ← line 5: p2, restart:postgres, level2, -") || !strings.Contains(over, "rollback ← line 7: p2, rollback, -, no-approval") {
		t.Errorf("overrides:\n%s", over)
	}
}

func TestPolicyReload(t *testing.T) {
	a := newAuthz(t, testPolicy)
	file := testPolicy
	var loadErr error
	e := engine(t, a, func() (string, error) { return file, loadErr })
	ctx := context.Background()
	run := func(subject string) bot.Reply {
		return e.Handle(ctx, bot.Request{Subject: subject, Text: "policy reload"})
	}

	if r := run("slack:UDEV"); r.Outcome != bot.OutcomeDenied || !strings.Contains(r.Message.Text, "needs Level 3") {
		t.Errorf("L2 reload: %v %s", r.Outcome, text(r.Message))
	}
	if r := run("slack:UARCH"); r.Outcome != bot.OutcomeOK || r.Message.Summary != "No rule changed." {
		t.Errorf("same file: %v %s", r.Outcome, text(r.Message))
	}

	file = testPolicy + "g, slack:UOPS, level1\ng, slack:UDEV2, level2\np2, rollback, level3, -\n"
	file = strings.Replace(file, "p2, restart:postgres, level2, -\n", "", 1)
	r := run("slack:UARCH")
	out := text(r.Message)
	if r.Outcome != bot.OutcomeOK || r.Message.Summary != "3 rules added, 1 removed." ||
		!strings.Contains(out, "People and groups at levels (g): 3 → 5") || !strings.Contains(out, "Overrides (p2): 1 → 1") ||
		!strings.Contains(out, "- p2, restart:postgres, level2, -") || !strings.Contains(out, "+ g, slack:UOPS, level1") {
		t.Errorf("reload:\n%s", out)
	}
	if r := e.Handle(ctx, bot.Request{Subject: "slack:UDEV", Text: "rollback"}); r.Outcome != bot.OutcomeDenied || !strings.Contains(r.Message.Text, "needs Level 3") {
		t.Errorf("after reload rollback needs Level 3: %v %s", r.Outcome, text(r.Message))
	}

	// A bad file: the answer names the line, the old policy stays.
	file = "g, slack:UDEV, level3\n\np2, rollback, level0, -\n"
	r = run("slack:UARCH")
	if r.Outcome != bot.OutcomeFailed || !strings.Contains(r.Message.Text, "unchanged") || !strings.Contains(r.Message.Text, "line 3") || !strings.Contains(r.Message.Text, "below Level 1") {
		t.Errorf("bad file: %v %s", r.Outcome, text(r.Message))
	}
	if a.Level("slack:UDEV") != bot.Level2 || a.Level("slack:UOPS") != bot.Level1 {
		t.Error("a bad file changed the policy in force")
	}
	loadErr = errors.New("read policy /etc/shiftwise/policy.csv: permission denied")
	if r := run("slack:UARCH"); r.Outcome != bot.OutcomeFailed || !strings.Contains(r.Message.Text, "permission denied") {
		t.Errorf("unreadable file: %v %s", r.Outcome, text(r.Message))
	}

	noLoader := PolicyReload(a, nil)
	if _, err := noLoader.Run(ctx, bot.Request{}); err == nil {
		t.Error("reload without a loader must fail")
	}
}

func TestAllWiresPolicyCommands(t *testing.T) {
	names := func(cmds []bot.Command) string {
		var n []string
		for _, c := range cmds {
			n = append(n, c.Name)
		}
		return strings.Join(n, ",")
	}
	if got := names(All(Deps{Health: &Health{}})); got != "health" {
		t.Errorf("without an authorizer: %s", got)
	}
	a := newAuthz(t, testPolicy)
	cmds := All(Deps{Health: &Health{}, Authz: a, LoadPolicy: func() (string, error) { return testPolicy, nil }})
	if got := names(cmds); got != "health,whoami,policy show,policy reload" {
		t.Errorf("with an authorizer: %s", got)
	}
	if _, err := bot.NewRegistry(cmds...); err != nil {
		t.Fatal(err)
	}
	// whoami sees the whole list, itself and the policy commands included.
	var who bot.Command
	for _, c := range cmds {
		if c.Name == "whoami" {
			who = c
		}
	}
	m, err := who.Run(context.Background(), bot.Request{Subject: "slack:UARCH"})
	if err != nil {
		t.Fatal(err)
	}
	if run := code(m, "You may run"); !strings.Contains(run, "policy reload") || !strings.Contains(run, "health") || !strings.Contains(run, "whoami") {
		t.Errorf("whoami via All:\n%s", text(m))
	}

	// With the registry's list (main's wiring), whoami sees what it holds.
	var reg *bot.Registry
	cmds = All(Deps{Health: &Health{}, Authz: a, Commands: func() []*bot.Command { return reg.Commands() }})
	reg, err = bot.NewRegistry(append(cmds, bot.Command{Name: "approve", Level: bot.Level1, Run: cmds[0].Run})...)
	if err != nil {
		t.Fatal(err)
	}
	m, err = reg.Lookup("whoami").Run(context.Background(), bot.Request{Subject: "console:alice"})
	if err != nil {
		t.Fatal(err)
	}
	if run := code(m, "You may run"); !strings.Contains(run, "approve") {
		t.Errorf("whoami via the registry:\n%s", text(m))
	}
}
