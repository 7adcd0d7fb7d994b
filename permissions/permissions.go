// Package permissions decides who may run what, with Casbin: the runbook's
// escalation levels are roles (level3 ⊇ level2 ⊇ level1), people and groups
// are assigned to them by a policy file, and every command's default level
// becomes a policy line. It implements bot.Authorizer.
package permissions

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"strings"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	stringadapter "github.com/casbin/casbin/v2/persist/string-adapter"

	"github.com/shiftwise/shiftwise-bot/bot"
)

//go:embed model.conf
var modelText string

// ExamplePolicy is the policy used when SHIFTWISE_POLICY is unset.
//
//go:embed example-policy.csv
var ExamplePolicy string

// Contacts are the runbook's escalation contacts, named in refusals.
var Contacts = map[bot.Level]string{
	bot.Level1: "the Operations team (ops@company.com)",
	bot.Level2: "the Development team (dev@company.com)",
	bot.Level3: "the System Architects (management@company.com)",
}

// Authorizer enforces a Casbin policy. Build it with New.
type Authorizer struct {
	e *casbin.SyncedEnforcer
}

// LoadPolicy reads the policy text from path, or returns the embedded
// example when path is empty.
func LoadPolicy(path string) (string, error) {
	if path == "" {
		return ExamplePolicy, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read policy %s: %w", path, err)
	}
	return string(b), nil
}

// New builds an Authorizer from policy text and the commands' defaults.
func New(policy string, cmds []*bot.Command) (*Authorizer, error) {
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, fmt.Errorf("permissions model: %w", err)
	}
	var lines []string
	for _, l := range strings.Split(policy, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if !strings.HasPrefix(l, "p,") && !strings.HasPrefix(l, "g,") {
			return nil, fmt.Errorf("policy line %q: must start with p, or g,", l)
		}
		lines = append(lines, l)
	}
	for _, c := range cmds {
		if c.Level == bot.LevelNone {
			continue
		}
		lines = append(lines, fmt.Sprintf("p, %s, %s", role(c.Level), c.PermissionObject(bot.Args{})))
	}
	e, err := casbin.NewSyncedEnforcer(m, stringadapter.NewAdapter(strings.Join(lines, "\n")))
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	return &Authorizer{e: e}, nil
}

func role(l bot.Level) string { return fmt.Sprintf("level%d", int(l)) }

// namespace returns the wildcard subject of a subject's namespace:
// "console:alice" -> "console:*".
func namespace(subject string) string {
	ns, _, ok := strings.Cut(subject, ":")
	if !ok {
		return "*"
	}
	return ns + ":*"
}

// Level returns the highest level the subject holds, directly, through a
// group role, or through its namespace wildcard.
func (a *Authorizer) Level(subject string) bot.Level {
	held := map[string]bool{}
	for _, s := range []string{subject, namespace(subject)} {
		roles, _ := a.e.GetImplicitRolesForUser(s)
		for _, r := range roles {
			held[r] = true
		}
	}
	for l := bot.Level3; l >= bot.Level1; l-- {
		if held[role(l)] {
			return l
		}
	}
	return bot.LevelNone
}

// Authorize implements bot.Authorizer.
func (a *Authorizer) Authorize(_ context.Context, subject string, cmd *bot.Command, args bot.Args) bot.Decision {
	if cmd.Level == bot.LevelNone {
		return bot.Decision{Allowed: true}
	}
	obj := cmd.PermissionObject(args)
	ok, err := a.e.Enforce(subject, namespace(subject), obj)
	if err == nil && ok {
		return bot.Decision{Allowed: true, Level: cmd.Level}
	}
	have := "no level"
	if l := a.Level(subject); l != bot.LevelNone {
		have = l.String()
	}
	return bot.Decision{Level: cmd.Level, Reason: fmt.Sprintf(
		"`%s` needs %s; %s has %s. Nothing was run. Escalate to %s.",
		cmd.Name, cmd.Level, subject, have, Contacts[cmd.Level])}
}
