package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// PolicyShow returns `policy show` (Level 1): the effective policy, per
// permission object its command's default level and approval, what the
// policy makes of them, and who may run it; and who holds each level.
func PolicyShow(p Policy, cmds func() []*bot.Command) bot.Command {
	return bot.Command{
		Name:    "policy show",
		Summary: "the effective permissions: each command's level and approval, and who holds each level",
		Help: "DEFAULT is what the command declares; LEVEL and APPROVAL are in force after the policy's " +
			"p2 overrides (the line is named). WHO is the lowest level that may run it (a higher level holds " +
			"everything below it), plus anyone granted the object by a p line.",
		MaxArgs: 0,
		Object:  func(bot.Args) string { return "policy:show" },
		Level:   bot.Level1,
		Risk:    bot.ReadOnly,
		Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			return policyShow(p, cmds()), nil
		},
	}
}

func short(l bot.Level) string {
	if l == bot.LevelNone {
		return "anyone"
	}
	return fmt.Sprintf("L%d", int(l))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func policyShow(p Policy, cmds []*bot.Command) bot.Message {
	m := bot.Message{Title: "Effective policy"}
	holders := p.Holders()
	for l := bot.Level1; l <= bot.Level3; l++ {
		v := strings.Join(holders[l], ", ")
		if v == "" {
			v = "nobody named"
		}
		m.Fields = append(m.Fields, bot.Field{Name: l.String(), Value: v})
	}
	rows := p.Table(cmds)
	var b strings.Builder
	fmt.Fprintf(&b, "%-22s %-26s %-7s %-7s %-8s %s\n", "COMMAND", "OBJECT", "DEFAULT", "LEVEL", "APPROVAL", "WHO")
	var overrides []string
	for _, r := range rows {
		atLevel := map[string]bool{}
		for l := r.Level; l <= bot.Level3; l++ {
			for _, h := range holders[l] {
				atLevel[h] = true
			}
		}
		who := short(r.Level)
		if r.Level != bot.LevelNone {
			who += "+"
			for _, h := range r.Holders {
				if !atLevel[h] {
					who += ", " + h
				}
			}
		}
		name, def := r.Command, short(r.Default)+"/"+yesNo(r.DefaultApproval)
		if name == "" {
			name, def = "(no command)", "-"
		}
		fmt.Fprintf(&b, "%-22s %-26s %-7s %-7s %-8s %s\n", name, r.Object, def, short(r.Level), yesNo(r.Approval), who)
		if r.Override != "" {
			overrides = append(overrides, r.Object+" ← "+r.Override)
		}
	}
	m.Code = append(m.Code, bot.CodeBlock{Title: "Commands (DEFAULT is level/approval as the command declares it)", Text: strings.TrimRight(b.String(), "\n")})
	if len(overrides) > 0 {
		m.Code = append(m.Code, bot.CodeBlock{Title: "Overrides in force", Text: strings.Join(overrides, "\n")})
	}
	m.Summary = "A higher level holds everything below it. `help <command>` explains one; `whoami` shows yours."
	return m
}

// PolicyReload returns `policy reload` (Level 3): it re-reads the policy
// through load (main passes SHIFTWISE_POLICY, or the embedded example),
// swaps it in when it is valid and says what changed; a bad file changes
// nothing and the error names its line.
func PolicyReload(p Policy, load func() (string, error)) bot.Command {
	return bot.Command{
		Name:    "policy reload",
		Summary: "re-read the policy file (SHIFTWISE_POLICY) without a restart",
		Help: "The new policy is checked completely before it replaces the old one: a bad line leaves the " +
			"old policy in force, and the answer names the line. SIGHUP to the bot does the same.",
		MaxArgs: 0,
		Object:  func(bot.Args) string { return "policy:reload" },
		Level:   bot.Level3,
		Risk:    bot.Changes,
		Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			if load == nil {
				return bot.Message{}, errors.New("policy reload: this bot was started without a way to read the policy")
			}
			text, err := load()
			if err == nil {
				before := p.Rules()
				if err = p.Reload(text); err == nil {
					return reloaded(before, p.Rules()), nil
				}
			}
			return bot.Message{Title: "Policy not reloaded", Status: bot.StatusFailed,
				Text: "The policy in force is unchanged. " + err.Error()}, nil
		},
	}
}

// reloaded says what changed between two normalized rule lists.
func reloaded(before, after []string) bot.Message {
	count := func(rules []string) map[string]int {
		n := map[string]int{}
		for _, r := range rules {
			kind, _, _ := strings.Cut(r, ",")
			n[kind]++
		}
		return n
	}
	set := func(rules []string) map[string]bool {
		s := map[string]bool{}
		for _, r := range rules {
			s[r] = true
		}
		return s
	}
	b, a := count(before), count(after)
	inBefore, inAfter := set(before), set(after)
	var added, removed []string
	for _, r := range after {
		if !inBefore[r] {
			added = append(added, "+ "+r)
		}
	}
	for _, r := range before {
		if !inAfter[r] {
			removed = append(removed, "- "+r)
		}
	}
	m := bot.Message{Title: "Policy reloaded", Status: bot.StatusOK}
	m.Fields = []bot.Field{
		{Name: "People and groups at levels (g)", Value: fmt.Sprintf("%d → %d", b["g"], a["g"])},
		{Name: "Rights to objects (p)", Value: fmt.Sprintf("%d → %d", b["p"], a["p"])},
		{Name: "Overrides (p2)", Value: fmt.Sprintf("%d → %d", b["p2"], a["p2"])},
	}
	m.Summary = fmt.Sprintf("%d rules added, %d removed.", len(added), len(removed))
	if len(added)+len(removed) == 0 {
		m.Summary = "No rule changed."
	} else {
		m.Code = []bot.CodeBlock{{Title: "Changes", Text: strings.Join(append(removed, added...), "\n")}}
	}
	return m
}
