package permissions

import (
	"context"
	"strings"
	"testing"

	"github.com/shiftwise/shiftwise-bot/bot"
)

func cmds() []*bot.Command {
	run := func(context.Context, bot.Request) (bot.Message, error) { return bot.Message{}, nil }
	return []*bot.Command{
		{Name: "health", Level: bot.Level1, Run: run},
		{Name: "rollback", Level: bot.Level2, Run: run},
		{Name: "backup restore", Level: bot.Level3, Run: run},
		{Name: "whoami", Level: bot.LevelNone, Run: run},
	}
}

func TestExamplePolicy(t *testing.T) {
	a, err := New(ExamplePolicy, cmds())
	if err != nil {
		t.Fatal(err)
	}
	c := cmds()
	cases := []struct {
		subject string
		cmd     *bot.Command
		allowed bool
	}{
		{"console:alice", c[0], true},
		{"console:alice", c[1], false},
		{"console:alice", c[2], false},
		{"slack:U999", c[0], false}, // unknown Slack users: nothing but level-free commands
		{"slack:U999", c[3], true},
	}
	for _, tc := range cases {
		d := a.Authorize(context.Background(), tc.subject, tc.cmd, bot.Args{})
		if d.Allowed != tc.allowed {
			t.Errorf("%s %s: allowed=%v, want %v (%s)", tc.subject, tc.cmd.Name, d.Allowed, tc.allowed, d.Reason)
		}
		if !d.Allowed && (!strings.Contains(d.Reason, tc.cmd.Level.String()) || !strings.Contains(d.Reason, "Escalate to")) {
			t.Errorf("refusal %q does not name the level and whom to escalate to", d.Reason)
		}
	}
	if l := a.Level("console:alice"); l != bot.Level1 {
		t.Errorf("console level = %v", l)
	}
	if l := a.Level("slack:U999"); l != bot.LevelNone {
		t.Errorf("unknown slack level = %v", l)
	}
}

func TestHierarchyAndGroups(t *testing.T) {
	policy := ExamplePolicy + `
g, slack:UDEV, level2
g, slack:UARCH, level3
g, slack:UGRP, slack-group:oncall-dev
g, slack-group:oncall-dev, level2
`
	a, err := New(policy, cmds())
	if err != nil {
		t.Fatal(err)
	}
	c := cmds()
	for _, tc := range []struct {
		subject string
		cmd     *bot.Command
		allowed bool
	}{
		{"slack:UDEV", c[0], true}, {"slack:UDEV", c[1], true}, {"slack:UDEV", c[2], false},
		{"slack:UARCH", c[2], true}, {"slack:UGRP", c[1], true}, {"slack:UGRP", c[2], false},
	} {
		if d := a.Authorize(context.Background(), tc.subject, tc.cmd, bot.Args{}); d.Allowed != tc.allowed {
			t.Errorf("%s %s: allowed=%v, want %v", tc.subject, tc.cmd.Name, d.Allowed, tc.allowed)
		}
	}
	if a.Level("slack:UGRP") != bot.Level2 || a.Level("slack:UARCH") != bot.Level3 {
		t.Errorf("levels: grp=%v arch=%v", a.Level("slack:UGRP"), a.Level("slack:UARCH"))
	}
}

func TestBadPolicy(t *testing.T) {
	if _, err := New("x, y, z", cmds()); err == nil || !strings.Contains(err.Error(), "line 1") || !strings.Contains(err.Error(), "starts with g, p or p2") {
		t.Errorf("err = %v", err)
	}
	if _, err := LoadPolicy("/nonexistent/policy.csv"); err == nil || !strings.Contains(err.Error(), "/nonexistent/policy.csv") {
		t.Errorf("err = %v", err)
	}
}
