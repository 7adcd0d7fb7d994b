package permissions

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// registry is a literal test registry shaped like the runbook's commands:
// its levels and approvals are written here, not taken from commands/.
func registry() []*bot.Command {
	run := func(context.Context, bot.Request) (bot.Message, error) { return bot.Message{}, nil }
	obj := func(o string) func(bot.Args) string { return func(bot.Args) string { return o } }
	return []*bot.Command{
		{Name: "whoami", Level: bot.LevelNone, Run: run},
		{Name: "health", Level: bot.Level1, Run: run},
		{Name: "logs", Level: bot.Level1, Run: run},
		{Name: "restart", Object: func(a bot.Args) string { return "restart:" + a.First() }, Level: bot.Level1, Run: run},
		// deploy and rollback as commands/deploy.go declares them.
		{Name: "deploy", Object: func(a bot.Args) string { return "deploy:" + a.First() }, Level: bot.Level2, Approval: true, Run: run},
		{Name: "rollback", Object: func(a bot.Args) string {
			if a.First() == "" {
				return "rollback"
			}
			return "rollback:" + a.First()
		}, Level: bot.Level2, Approval: true, Run: run},
		{Name: "cache flush", Object: obj("cache:flush"), Level: bot.Level2, Approval: true, Run: run},
		{Name: "db kill", Object: obj("db:kill-long-running"), Level: bot.Level2, Approval: true, Run: run},
		{Name: "backup restore", Object: obj("backup:restore"), Level: bot.Level3, Approval: true, Run: run},
		{Name: "audit", Object: obj("audit"), Level: bot.Level1, Run: run},
		{Name: "audit verify", Object: obj("audit:verify"), Level: bot.Level3, Run: run},
		{Name: "backup create", Object: obj("backup:create"), Level: bot.Level1, Run: run},
		{Name: "backup verify", Object: obj("backup:verify"), Level: bot.Level1, Run: run},
		{Name: "backup prune", Object: obj("backup:prune"), Level: bot.Level2, Approval: true, Run: run},
		{Name: "cleanup", Level: bot.Level2, Approval: true, Run: run},
		{Name: "db test", Object: obj("db:test"), Level: bot.Level1, Run: run},
		// db and cache (issue 5: PostgreSQL and Redis)
		{Name: "db status", Object: obj("db:status"), Level: bot.Level1, Run: run},
		{Name: "db long-running", Object: obj("db:long-running"), Level: bot.Level1, Run: run},
		{Name: "db vacuum", Object: obj("db:vacuum"), Level: bot.Level2, Approval: true, Run: run},
		{Name: "db indexes", Object: obj("db:indexes"), Level: bot.Level1, Run: run},
		{Name: "db indexes --create", Object: obj("db:indexes:create"), Level: bot.Level3, Approval: true, Run: run},
		{Name: "db settings --apply", Object: obj("db:settings:apply"), Level: bot.Level3, Approval: true, Run: run},
		{Name: "cache status", Object: obj("cache:status"), Level: bot.Level1, Run: run},
		{Name: "cache flush --all", Object: obj("cache:flush:all"), Level: bot.Level3, Approval: true, Run: run},
	}
}

func byName(name string) *bot.Command {
	for _, c := range registry() {
		if c.Name == name {
			return c
		}
	}
	panic("no command " + name)
}

const basePolicy = `
g, console:*, level1
g, slack:UL1, level1
g, slack:UL2, level2
g, slack:UL3, level3
g, slack:UGRP, slack-group:oncall-dev
g, slack-group:oncall-dev, level2
p2, restart:postgres, level2, -
`

// flipped turns every approval around and moves some levels.
const flipped = basePolicy + `
p2, health, -, approval
p2, rollback, -, no-approval
p2, db:*, level3, no-approval
p2, restart:*, -, approval
p2, backup:restore, level3, no-approval
p2, cache:flush, level1, -
p2, audit:verify, -, approval
p2, deploy:*, level3, no-approval
`

// subjects, in the order of the columns below.
var subjects = []string{"slack:UNOBODY", "slack:UL1", "slack:UL2", "slack:UL3", "console:alice"}

type want struct {
	cmd      string
	arg      string
	level    bot.Level
	approval bool
	allowed  string // one letter per subject above: Y allowed, n refused
}

// The expected outcomes, written by hand from the runbook's levels.
var matrix = map[string][]want{
	"defaults": {
		//                                            none L1 L2 L3 console
		{"whoami", "", bot.LevelNone, false /*    */, "YYYYY"},
		{"health", "", bot.Level1, false /*       */, "nYYYY"},
		{"logs", "", bot.Level1, false /*         */, "nYYYY"},
		{"restart", "api", bot.Level1, false /*   */, "nYYYY"},
		{"restart", "postgres", bot.Level2, false, "nnYYn"},
		{"deploy", "api", bot.Level2, true /*     */, "nnYYn"},
		{"rollback", "", bot.Level2, true /*      */, "nnYYn"},
		{"rollback", "api", bot.Level2, true /*   */, "nnYYn"},
		{"cache flush", "", bot.Level2, true /*   */, "nnYYn"},
		{"db kill", "", bot.Level2, true /*       */, "nnYYn"},
		{"backup restore", "", bot.Level3, true /**/, "nnnYn"},
		{"audit", "", bot.Level1, false /*        */, "nYYYY"},
		{"audit verify", "", bot.Level3, false /* */, "nnnYn"},
		{"backup create", "", bot.Level1, false /**/, "nYYYY"},
		{"backup verify", "", bot.Level1, false /**/, "nYYYY"},
		{"backup prune", "", bot.Level2, true /*  */, "nnYYn"},
		{"cleanup", "", bot.Level2, true /*       */, "nnYYn"},
		{"db test", "", bot.Level1, false /*      */, "nYYYY"},
		// db and cache (issue 5)
		{"db status", "", bot.Level1, false /*     */, "nYYYY"},
		{"db long-running", "", bot.Level1, false, "nYYYY"},
		{"db vacuum", "", bot.Level2, true /*      */, "nnYYn"},
		{"db indexes", "", bot.Level1, false /*    */, "nYYYY"},
		{"db indexes --create", "", bot.Level3, true, "nnnYn"},
		{"db settings --apply", "", bot.Level3, true, "nnnYn"},
		{"cache status", "", bot.Level1, false /*  */, "nYYYY"},
		{"cache flush --all", "", bot.Level3, true, "nnnYn"},
	},
	"flipped": {
		{"whoami", "", bot.LevelNone, false /*    */, "YYYYY"},
		{"health", "", bot.Level1, true /*        */, "nYYYY"},
		{"logs", "", bot.Level1, false /*         */, "nYYYY"},
		{"restart", "api", bot.Level1, true /*    */, "nYYYY"},
		{"restart", "postgres", bot.Level2, false, "nnYYn"}, // exact beats restart:*
		{"deploy", "api", bot.Level3, false /*    */, "nnnYn"},
		{"rollback", "", bot.Level2, false /*     */, "nnYYn"}, // p2 rollback names the bare object only
		{"rollback", "api", bot.Level2, true /*   */, "nnYYn"},
		{"cache flush", "", bot.Level1, true /*   */, "nYYYY"},
		{"db kill", "", bot.Level3, false /*      */, "nnnYn"},
		{"backup restore", "", bot.Level3, false /**/, "nnnYn"},
		{"audit", "", bot.Level1, false /*        */, "nYYYY"},
		{"audit verify", "", bot.Level3, true /*  */, "nnnYn"},
		{"backup create", "", bot.Level1, false /**/, "nYYYY"},
		{"backup verify", "", bot.Level1, false /**/, "nYYYY"},
		{"backup prune", "", bot.Level2, true /*  */, "nnYYn"},
		{"cleanup", "", bot.Level2, true /*       */, "nnYYn"},
		{"db test", "", bot.Level3, false /*      */, "nnnYn"}, // p2, db:*, level3, no-approval
		// db and cache (issue 5): db:* moves every db object to Level 3
		// without approval; cache:flush:all is not cache:flush.
		{"db status", "", bot.Level3, false /*     */, "nnnYn"},
		{"db long-running", "", bot.Level3, false, "nnnYn"},
		{"db vacuum", "", bot.Level3, false /*     */, "nnnYn"},
		{"db indexes", "", bot.Level3, false /*    */, "nnnYn"},
		{"db indexes --create", "", bot.Level3, false, "nnnYn"},
		{"db settings --apply", "", bot.Level3, false, "nnnYn"},
		{"cache status", "", bot.Level1, false /*  */, "nYYYY"},
		{"cache flush --all", "", bot.Level3, true, "nnnYn"},
	},
}

func TestMatrix(t *testing.T) {
	ctx := context.Background()
	for name, policy := range map[string]string{"defaults": basePolicy, "flipped": flipped} {
		a, err := New(policy, nil)
		if err != nil {
			t.Fatal(name, err)
		}
		covered := map[string]bool{}
		for _, w := range matrix[name] {
			covered[w.cmd] = true
			c := byName(w.cmd)
			args := bot.Args{}
			if w.arg != "" {
				args.Positional = []string{w.arg}
			}
			lv, ap := a.Requirement(c, args)
			if lv != w.level || ap != w.approval {
				t.Errorf("%s: %s %s: requirement = %v, approval %v; want %v, %v", name, w.cmd, w.arg, lv, ap, w.level, w.approval)
			}
			for i, s := range subjects {
				d := a.Authorize(ctx, s, c, args)
				if d.Allowed != (w.allowed[i] == 'Y') {
					t.Errorf("%s: %s %s as %s: allowed = %v, want %c (%s)", name, w.cmd, w.arg, s, d.Allowed, w.allowed[i], d.Reason)
				}
				if d.Level != w.level && w.level != bot.LevelNone {
					t.Errorf("%s: %s as %s: decision level %v, want %v", name, w.cmd, s, d.Level, w.level)
				}
				if !d.Allowed && (!strings.Contains(d.Reason, w.level.String()) || !strings.Contains(d.Reason, "Escalate to "+Contacts[w.level])) {
					t.Errorf("%s: refusal %q does not name %v and its contact", name, d.Reason, w.level)
				}
			}
		}
		for _, c := range registry() {
			if !covered[c.Name] {
				t.Errorf("%s: command %q has no expected outcome", name, c.Name)
			}
		}
	}
}

func TestGroupMember(t *testing.T) {
	a, err := New(basePolicy, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Level("slack:UGRP") != bot.Level2 {
		t.Errorf("group member level = %v", a.Level("slack:UGRP"))
	}
	if !a.Authorize(context.Background(), "slack:UGRP", byName("rollback"), bot.Args{}).Allowed ||
		a.Authorize(context.Background(), "slack:UGRP", byName("backup restore"), bot.Args{}).Allowed {
		t.Error("group member: rollback must be allowed, backup restore refused")
	}
}

func TestOverrideParsing(t *testing.T) {
	good := []struct {
		line     string
		obj      string
		level    bot.Level
		approval bool
	}{
		{"p2, restart:api, level2, approval", "restart:api", bot.Level2, true},
		{"p2, db:kill-long-running, level3, no-approval", "db:kill-long-running", bot.Level3, false},
		{"p2, restart:*, level2, -", "restart:api", bot.Level2, true}, // approval: the command's default
		{"p2, rollback, -, no-approval", "rollback", bot.Level2, false},
		{`p2, "cache:flush", level1, -`, "cache:flush", bot.Level1, true},
	}
	for _, g := range good {
		a, err := New(g.line, nil)
		if err != nil {
			t.Errorf("%s: %v", g.line, err)
			continue
		}
		c := &bot.Command{Name: "x", Object: func(bot.Args) string { return g.obj }, Level: bot.Level2, Approval: true}
		if lv, ap := a.Requirement(c, bot.Args{}); lv != g.level || ap != g.approval {
			t.Errorf("%s: %v %v, want %v %v", g.line, lv, ap, g.level, g.approval)
		}
	}
	bad := []struct{ policy, want string }{
		{"g, console:*, level1\np2, restart:api, level0, -", `line 2 ("p2, restart:api, level0, -"): "level0" is below Level 1`},
		{"p2, health, none, approval", `line 1 ("p2, health, none, approval"): "none" is below Level 1`},
		{"p2, health, anyone, -", `"anyone" is below Level 1`},
		{"\n\np2, restart:*, level-1, -", `line 3`},
		{"p2, health, level4, -", `line 1 ("p2, health, level4, -"): unknown level "level4"`},
		{"p2, health, admin, -", `unknown level "admin"`},
		{"p2, health, Level 2, -", `unknown level "Level 2"`},
		{"p2, health, level2, maybe", "approval must be"},
		{"p2, health, -, -", "changes nothing"},
		{"p2, health", "an override is"},
		{"p2, health, level2", "all four fields"},
		{"p2, restart:*:x, level2, -", "wildcard may only end"},
		{"p2, health, level2, -\n# c\np2, health, level3, -", "line 3 (\"p2, health, level3, -\"): object \"health\" is already overridden on line 1"},
		{"g, slack:U1, level9", `line 1 ("g, slack:U1, level9"): unknown level "level9"`},
		{"g, slack:U1, level0", `below Level 1`},
		{"g, level1, level3", "levels' order is built in"},
		{"p, level0, health", "below Level 1"},
		{"g, slack:U1", "a g line is"},
		{"g, slack:U1, Level2", `unknown level "Level2"`},
		{"g, alice, level2", `"alice" is not namespaced`},
		{"g, slack:U1, oncall", `"oncall" is neither a level`},
		{"p, bob, health", `"bob" is not namespaced`},
		{"g, slack:U*, level1", "not namespaced"},
		{"g, , level1", "field 2 is empty"},
	}
	for _, b := range bad {
		_, err := New(b.policy, nil)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: err = %v, want it to contain %q", b.policy, err, b.want)
		}
	}
}

func TestWildcardPrecedence(t *testing.T) {
	a, err := New("p2, db:*, level3, -\np2, db:kill-long-running, level1, -\np2, restart:*, level2, -\np2, restart:post*, level3, -\np2, *, -, approval", nil)
	if err != nil {
		t.Fatal(err)
	}
	for obj, want := range map[string]bot.Level{
		"db:vacuum": bot.Level3, "db:kill-long-running": bot.Level1,
		"restart:api": bot.Level2, "restart:postgres": bot.Level3, "health": bot.Level2,
	} {
		c := &bot.Command{Name: "x", Object: func(bot.Args) string { return obj }, Level: bot.Level2}
		lv, ap := a.Requirement(c, bot.Args{})
		if lv != want {
			t.Errorf("%s: level %v, want %v", obj, lv, want)
		}
		if ap != (obj == "health") { // only "*" sets approval, and it is the least specific
			t.Errorf("%s: approval %v", obj, ap)
		}
	}
}

func TestNamespacesDoNotMix(t *testing.T) {
	a, err := New("g, console:alice, level3\ng, slack:bob, level3\np, slack:carol, backup:restore", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	restore := byName("backup restore")
	for _, tc := range []struct {
		subject string
		allowed bool
		level   bot.Level
	}{
		{"console:alice", true, bot.Level3},
		{"slack:alice", false, bot.LevelNone},
		{"slack:bob", true, bot.Level3},
		{"console:bob", false, bot.LevelNone},
		{"slack:carol", true, bot.LevelNone}, // a grant for one object
		{"console:carol", false, bot.LevelNone},
		{"console:*", false, bot.LevelNone}, // no one speaks as a namespace
		{"level3", false, bot.LevelNone},    // nor as a role
		{"alice", false, bot.LevelNone},
	} {
		if d := a.Authorize(ctx, tc.subject, restore, bot.Args{}); d.Allowed != tc.allowed {
			t.Errorf("%s: allowed = %v, want %v", tc.subject, d.Allowed, tc.allowed)
		}
		if l := a.Level(tc.subject); l != tc.level {
			t.Errorf("%s: level = %v, want %v", tc.subject, l, tc.level)
		}
	}
	// And a wildcard for one namespace does not reach the other.
	b, err := New("g, slack:*, level1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Authorize(ctx, "slack:U1", byName("health"), bot.Args{}).Allowed || b.Authorize(ctx, "console:U1", byName("health"), bot.Args{}).Allowed {
		t.Error("slack:* must cover slack users only")
	}
}

func TestChainIsBuiltIn(t *testing.T) {
	a, err := New("g, slack:UARCH, level3", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Authorize(context.Background(), "slack:UARCH", byName("health"), bot.Args{}).Allowed {
		t.Error("level3 must hold level1 without the chain written in the file")
	}
}

func TestReload(t *testing.T) {
	ctx := context.Background()
	a, err := New(basePolicy, nil)
	if err != nil {
		t.Fatal(err)
	}
	rb := byName("rollback")
	if a.Authorize(ctx, "slack:UL1", rb, bot.Args{}).Allowed {
		t.Fatal("L1 may not roll back")
	}
	if err := a.Reload(basePolicy + "g, slack:UL1, level2\np2, rollback, -, no-approval\n"); err != nil {
		t.Fatal(err)
	}
	if !a.Authorize(ctx, "slack:UL1", rb, bot.Args{}).Allowed {
		t.Error("after reload UL1 is level 2")
	}
	if _, ap := a.Requirement(rb, bot.Args{}); ap {
		t.Error("after reload rollback needs no approval")
	}
	before := a.Rules()
	err = a.Reload("g, slack:UL1, level3\np2, rollback, level0, -\n")
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "below Level 1") {
		t.Fatalf("bad reload: err = %v", err)
	}
	if fmt.Sprint(a.Rules()) != fmt.Sprint(before) || a.Level("slack:UL1") != bot.Level2 {
		t.Error("a failed reload changed the policy in force")
	}
}

func TestReloadWhileAuthorizing(t *testing.T) {
	a, err := New(basePolicy, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	policies := []string{basePolicy, flipped, "p2, health, level9, -"} // the last one fails
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c := registry()[i%len(registry())]
				// Both policies agree on these: the answer never wavers.
				if !a.Authorize(ctx, "slack:UL3", c, bot.Args{Positional: []string{"api"}}).Allowed {
					t.Errorf("L3 refused %s during reload", c.Name)
					return
				}
				if a.Authorize(ctx, "slack:UNOBODY", byName("health"), bot.Args{}).Allowed {
					t.Error("nobody allowed health during reload")
					return
				}
				a.Requirement(c, bot.Args{})
				a.Level("slack:UL2")
				a.Table(registry())
			}
		}()
	}
	for i := 0; i < 200; i++ {
		err := a.Reload(policies[i%len(policies)])
		if (err != nil) != (i%len(policies) == 2) {
			t.Errorf("reload %d: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestTable(t *testing.T) {
	a, err := New(flipped+"p, slack:UBOB, backup:*\np2, restart:nothing-uses-this*, level3, -\np2, nosuch, level2, -\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Row{}
	for _, r := range a.Table(registry()) {
		got[r.Command+"|"+r.Object] = r
	}
	check := func(key string, def, eff bot.Level, ap bool, override string, holders string) {
		t.Helper()
		r, ok := got[key]
		if !ok {
			t.Errorf("no row %s in %v", key, got)
			return
		}
		if r.Default != def || r.Level != eff || r.Approval != ap || !strings.Contains(r.Override, override) || strings.Join(r.Holders, " ") != holders {
			t.Errorf("%s: %+v", key, r)
		}
	}
	check("whoami|whoami", bot.LevelNone, bot.LevelNone, false, "", "anyone")
	check("health|health", bot.Level1, bot.Level1, true, "line 10: p2, health, -, approval",
		"slack:UL3 slack:UL2 slack-group:oncall-dev console:* slack:UL1")
	check("restart|restart:postgres", bot.Level1, bot.Level2, false, "line 8: p2, restart:postgres, level2, -",
		"slack:UL3 slack:UL2 slack-group:oncall-dev")
	check("restart|restart:nothing-uses-this*", bot.Level1, bot.Level3, false, "p2, restart:nothing-uses-this*, level3, -", "slack:UL3")
	check("backup restore|backup:restore", bot.Level3, bot.Level3, false, "backup:restore", "slack:UL3 slack:UBOB")
	check("|nosuch", bot.LevelNone, bot.Level2, false, "nosuch", "slack:UL3 slack:UL2 slack-group:oncall-dev")
	if h := a.Holders(); strings.Join(h[bot.Level1], " ") != "console:* slack:UL1" || strings.Join(h[bot.Level2], " ") != "slack:UL2 slack-group:oncall-dev" {
		t.Errorf("holders = %v", h)
	}
}

// BenchmarkAuthorize measures one Enforce per command of the test registry
// against a policy of 30 people, a group, two grants and seven overrides.
func BenchmarkAuthorize(b *testing.B) {
	policy := flipped + "p, slack:UBOB, backup:*\np, slack-group:dba, db:*\n"
	for i := 0; i < 24; i++ {
		policy += fmt.Sprintf("g, slack:UPERSON%d, level%d\n", i, 1+i%3)
	}
	a, err := New(policy, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range registry() {
		b.Run(strings.ReplaceAll(c.Name, " ", "_"), func(b *testing.B) {
			args := bot.Args{Positional: []string{"postgres"}}
			for b.Loop() {
				a.Authorize(ctx, "slack:UL2", c, args)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/op")
		})
	}
	b.Run("refused", func(b *testing.B) {
		c := byName("backup restore")
		for b.Loop() {
			a.Authorize(ctx, "slack:UNOBODY", c, bot.Args{})
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/op")
	})
}
