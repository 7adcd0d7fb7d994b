package commands

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/permissions"
)

// Policy is what whoami and the policy commands need of the authorizer
// (*permissions.Authorizer implements it; tests may fake it).
type Policy interface {
	bot.Authorizer
	// Requirement is the level a command needs and whether it needs
	// approval: its defaults, overridden by the policy.
	Requirement(cmd *bot.Command, args bot.Args) (bot.Level, bool)
	// Level is the highest level the subject holds.
	Level(subject string) bot.Level
	// Table is the effective policy for the commands.
	Table(cmds []*bot.Command) []permissions.Row
	// Holders are the subjects and groups the policy puts at each level.
	Holders() map[bot.Level][]string
	// Reload swaps in a new policy, or keeps the old one and says why.
	Reload(policy string) error
	// Rules are the loaded policy's rules, normalized.
	Rules() []string
}

// Whoami returns the `whoami` command: anyone, even a Slack user the policy
// does not name, may ask who the bot thinks they are, their level, what
// they may run and what they may only request. cmds lists the registered
// commands (All passes its own list).
func Whoami(p Policy, cmds func() []*bot.Command) bot.Command {
	return bot.Command{
		Name:    "whoami",
		Summary: "who you are to the bot: your level, what you may run and what you may request",
		Help: "Shows your identity as the bot sees it (slack:<user id> or console:<user>), the highest level " +
			"the policy gives you, the commands you may run now, those that also need a second person's " +
			"approval, and those above your level that you may only request (an approver at the level decides).",
		MaxArgs: 0,
		Level:   bot.LevelNone,
		Risk:    bot.ReadOnly,
		Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			return whoami(ctx, p, cmds(), req.Subject), nil
		},
	}
}

func whoami(ctx context.Context, p Policy, cmds []*bot.Command, subject string) bot.Message {
	level := p.Level(subject)
	m := bot.Message{Title: "whoami"}
	have := level.String()
	if level == bot.LevelNone {
		have = "none: the policy does not name you"
	}
	m.Fields = []bot.Field{{Name: "You", Value: subject}, {Name: "Level", Value: have}}

	byName := map[string]*bot.Command{}
	for _, c := range cmds {
		byName[c.Name] = c
	}
	may := []string{fmt.Sprintf("%-28s %s", "help", "anyone")}
	var withApproval, request []string
	for _, r := range p.Table(cmds) {
		c := byName[r.Command]
		if c == nil {
			continue
		}
		label := c.Name
		if r.Object != c.PermissionObject(bot.Args{}) {
			label = fmt.Sprintf("%s (%s)", c.Name, r.Object)
		}
		fixed := *c
		obj := r.Object
		fixed.Object = func(bot.Args) string { return obj }
		fixed.Targets = nil // the row's object alone
		need, approval := p.Requirement(&fixed, bot.Args{})
		d := p.Authorize(ctx, subject, &fixed, bot.Args{})
		needs := need.String()
		switch {
		case d.Allowed && !approval:
			may = append(may, fmt.Sprintf("%-28s %s", label, needs))
		case d.Allowed:
			withApproval = append(withApproval, fmt.Sprintf("%-28s %s, approved by another person at that level", label, needs))
		case level != bot.LevelNone:
			request = append(request, fmt.Sprintf("%-28s needs %s: %s", label, needs, permissions.Contacts[need]))
		}
	}
	sort.Strings(may)
	m.Code = append(m.Code, bot.CodeBlock{Title: "You may run", Text: strings.Join(may, "\n")})
	if len(withApproval) > 0 {
		m.Code = append(m.Code, bot.CodeBlock{Title: "You may run with a second person's approval", Text: strings.Join(withApproval, "\n")})
	}
	if len(request) > 0 {
		m.Code = append(m.Code, bot.CodeBlock{Title: "You may request (an approver at the level decides)", Text: strings.Join(request, "\n")})
	}
	if level == bot.LevelNone {
		m.Text = fmt.Sprintf("You may use the commands open to anyone. To do more, ask %s to add `%s` to the policy at a level.",
			permissions.Contacts[bot.Level1], subject)
	}
	return m
}

// listOf returns stable pointers to copies of the commands, sorted by name.
func listOf(cmds []bot.Command) []*bot.Command {
	out := make([]*bot.Command, len(cmds))
	for i := range cmds {
		c := cmds[i]
		out[i] = &c
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
