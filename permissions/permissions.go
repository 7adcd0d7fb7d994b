// Package permissions decides who may run what, with Casbin: the runbook's
// escalation levels are roles (level3 ⊇ level2 ⊇ level1), people and groups
// are assigned to them by a policy file, and the level a command needs is
// its own default, overridden by the policy's p2 lines. It implements
// bot.Authorizer.
//
// The policy is a Casbin CSV with three kinds of line:
//
//	g, <subject or group>, <group or levelN>   who holds what
//	p, <subject or group or levelN>, <object>  a right to one object (keyMatch)
//	p2, <object>, <levelN|->, <approval|no-approval|->   an override ("-": keep the command's default)
//
// Every line is parsed and checked here first, so an error names its line;
// g and p lines then go to Casbin, p2 lines stay here (the model declares
// p2 so the file is also valid for Casbin's own tools).
package permissions

import (
	"context"
	_ "embed"
	"encoding/csv"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	stringadapter "github.com/casbin/casbin/v2/persist/string-adapter"
	"github.com/casbin/casbin/v2/util"

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

// Authorizer enforces a Casbin policy. Build it with New. It is safe for
// concurrent use, including Reload while requests are authorized: each
// call reads one immutable snapshot of the policy.
type Authorizer struct {
	st atomic.Pointer[state]
}

// state is one loaded policy, never changed after it is built.
type state struct {
	e         *casbin.SyncedEnforcer
	overrides []Override
	assigns   []rule // g lines as written, without the built-in chain
	grants    []rule // p lines as written
}

// rule is one g or p line: a, b as written, and where.
type rule struct {
	a, b string
	line int
}

// Override is one p2 line: it replaces the level and/or the approval of
// the commands whose permission object it matches.
type Override struct {
	Object      string    // exact, or a keyMatch pattern ("restart:*")
	Level       bot.Level // LevelNone: keep the command's level
	Approval    bool
	SetApproval bool // false: keep the command's approval
	Line        int  // 1-based line in the policy text
	Text        string
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

// New builds an Authorizer from policy text. The commands' levels are
// read at each request (Requirement), so cmds is not needed to enforce;
// it is accepted for callers that pass the registry, and ignored.
func New(policy string, cmds []*bot.Command) (*Authorizer, error) {
	_ = cmds
	st, err := build(policy)
	if err != nil {
		return nil, err
	}
	a := &Authorizer{}
	a.st.Store(st)
	return a, nil
}

// Reload replaces the policy. The new policy is built completely first; on
// any error the old one stays in force and the error names the line.
func (a *Authorizer) Reload(policy string) error {
	st, err := build(policy)
	if err != nil {
		return err
	}
	a.st.Store(st)
	return nil
}

// chain is the built-in level hierarchy.
var chain = []rule{{a: "level3", b: "level2"}, {a: "level2", b: "level1"}}

func build(policy string) (*state, error) {
	st, err := parse(policy)
	if err != nil {
		return nil, err
	}
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, fmt.Errorf("permissions model: %w", err)
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	for _, r := range chain {
		_ = w.Write([]string{"g", r.a, r.b})
	}
	for _, r := range st.assigns {
		_ = w.Write([]string{"g", r.a, r.b})
	}
	for _, r := range st.grants {
		_ = w.Write([]string{"p", r.a, r.b})
	}
	w.Flush()
	e, err := casbin.NewSyncedEnforcer(m, stringadapter.NewAdapter(b.String()))
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	st.e = e
	return st, nil
}

// parse checks every line and sorts it into assignments, grants and
// overrides.
func parse(policy string) (*state, error) {
	st := &state{}
	exact := map[string]int{} // override object -> line
	for i, raw := range strings.Split(policy, "\n") {
		n := i + 1
		l := strings.TrimSpace(raw)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		bad := func(format string, a ...any) error {
			return fmt.Errorf("policy line %d (%q): %s", n, clip(l, 80), fmt.Sprintf(format, a...))
		}
		r := csv.NewReader(strings.NewReader(l))
		r.TrimLeadingSpace = true
		f, err := r.Read()
		if err != nil {
			return nil, bad("not a CSV line: %v", err)
		}
		for j := range f {
			f[j] = strings.TrimSpace(f[j])
			if f[j] == "" {
				return nil, bad("field %d is empty", j+1)
			}
		}
		switch f[0] {
		case "g":
			if len(f) != 3 {
				return nil, bad("a g line is `g, <subject or group>, <group or level>`")
			}
			if err := checkAssign(f[1], f[2]); err != nil {
				return nil, bad("%s", err)
			}
			if isLevelRole(f[1]) { // the built-in chain, written for readers
				continue
			}
			st.assigns = append(st.assigns, rule{f[1], f[2], n})
		case "p":
			if len(f) != 3 {
				return nil, bad("a p line is `p, <subject, group or level>, <object>`")
			}
			if isLevelRole(f[1]) {
				if _, _, err := parseLevel(f[1]); err != nil {
					return nil, bad("%s", err)
				}
			} else if !namespaced(f[1]) {
				return nil, bad("%q is not namespaced: write slack:<user id>, slack-group:<group>, console:<user> or a level", f[1])
			}
			st.grants = append(st.grants, rule{f[1], f[2], n})
		case "p2":
			if len(f) != 4 { // all four fields, as Casbin's CSV adapter needs
				return nil, bad("an override is `p2, <object>, <level1|level2|level3|->, <approval|no-approval|->` (all four fields; - keeps the default)")
			}
			o := Override{Object: f[1], Line: n, Text: l}
			if f[2] != "-" {
				lv, _, err := parseLevel(f[2])
				if err != nil {
					return nil, bad("%s", err)
				}
				o.Level = lv
			}
			switch f[3] {
			case "approval":
				o.Approval, o.SetApproval = true, true
			case "no-approval":
				o.SetApproval = true
			case "-":
			default:
				return nil, bad("approval must be `approval`, `no-approval` or `-`, not %q", f[3])
			}
			if o.Level == bot.LevelNone && !o.SetApproval {
				return nil, bad("the override changes nothing: give a level, an approval, or both")
			}
			if strings.Contains(strings.TrimSuffix(o.Object, "*"), "*") {
				return nil, bad("a wildcard may only end the object (keyMatch): %q", o.Object)
			}
			if prev, dup := exact[o.Object]; dup {
				return nil, bad("object %q is already overridden on line %d", o.Object, prev)
			}
			exact[o.Object] = n
			st.overrides = append(st.overrides, o)
		default:
			return nil, bad("a line starts with g, p or p2, not %q", f[0])
		}
	}
	return st, nil
}

// parseLevel reads "level1".."level3". below reports a name that would
// lower a command under Level 1 (level0, none, anyone...).
func parseLevel(s string) (l bot.Level, below bool, err error) {
	switch strings.ToLower(s) {
	case "none", "anyone", "everyone", "public", "nobody":
		return 0, true, fmt.Errorf("%q is below Level 1: the policy cannot open a command to everyone (use level1, level2 or level3)", s)
	}
	if rest, ok := strings.CutPrefix(s, "level"); ok {
		if n, err := strconv.Atoi(rest); err == nil {
			switch {
			case n >= 1 && n <= 3:
				return bot.Level(n), false, nil
			case n < 1:
				return 0, true, fmt.Errorf("%q is below Level 1: the policy cannot open a command to everyone (use level1, level2 or level3)", s)
			}
		}
	}
	return 0, false, fmt.Errorf("unknown level %q (use level1, level2 or level3)", s)
}

// isLevelRole is true for anything spelled like a level ("level2",
// "Level2"); parseLevel then accepts only level1..level3, so a misspelt
// level is an error instead of a group nobody belongs to.
func isLevelRole(s string) bool { return strings.HasPrefix(strings.ToLower(s), "level") }

// namespaced accepts "ns:id" and "ns:*": subjects and groups in the policy
// must name their transport, or they could never match a request.
func namespaced(s string) bool {
	ns, id, ok := strings.Cut(s, ":")
	return ok && ns != "" && id != "" && (id == "*" || !strings.Contains(id, "*"))
}

// checkAssign refuses g lines that would bend the levels: the chain is
// built in, and a level name must be one of the three.
func checkAssign(sub, role string) error {
	if isLevelRole(sub) {
		for _, c := range chain {
			if c.a == sub && c.b == role {
				return nil
			}
		}
		return fmt.Errorf("the levels' order is built in (level3 > level2 > level1); %s cannot be given %s", sub, role)
	}
	if !namespaced(sub) {
		return fmt.Errorf("%q is not namespaced: write slack:<user id>, slack-group:<group> or console:<user>", sub)
	}
	if isLevelRole(role) {
		if _, _, err := parseLevel(role); err != nil {
			return err
		}
	} else if !namespaced(role) {
		return fmt.Errorf("%q is neither a level (level1..level3) nor a namespaced group such as slack-group:oncall-dev", role)
	}
	return nil
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

// validSubject accepts "namespace:id" with no wildcard and no level name,
// so a request can never speak as a whole namespace or as a role.
func validSubject(s string) bool {
	ns, id, ok := strings.Cut(s, ":")
	return ok && ns != "" && id != "" && !strings.Contains(s, "*") && !isLevelRole(ns)
}

// match returns the override that applies to obj: an exact object first,
// else the longest matching wildcard.
func (st *state) match(obj string) *Override {
	var best *Override
	for i := range st.overrides {
		o := &st.overrides[i]
		if o.Object == obj {
			return o
		}
		if strings.HasSuffix(o.Object, "*") && util.KeyMatch(obj, o.Object) &&
			(best == nil || len(o.Object) > len(best.Object)) {
			best = o
		}
	}
	return best
}

func (st *state) requirement(cmd *bot.Command, obj string) (bot.Level, bool, *Override) {
	level, approval := cmd.Level, cmd.Approval
	o := st.match(obj)
	if o != nil {
		if o.Level != bot.LevelNone {
			level = o.Level
		}
		if o.SetApproval {
			approval = o.Approval
		}
	}
	return level, approval, o
}

// target is one target's default, overridden by the policy.
func (st *state) target(t bot.Target) (bot.Level, bool) {
	level, approval := t.Level, t.Approval
	if o := st.match(t.Object); o != nil {
		if o.Level != bot.LevelNone {
			level = o.Level
		}
		if o.SetApproval {
			approval = o.Approval
		}
	}
	return level, approval
}

// Requirement returns the level the command needs for these arguments and
// whether it needs a second person's approval: the command's defaults,
// overridden by the policy. A command acting on several targets (restart
// all) needs the highest level among them, and approval when any needs it.
func (a *Authorizer) Requirement(cmd *bot.Command, args bot.Args) (level bot.Level, approval bool) {
	st := a.st.Load()
	for _, t := range cmd.Requirements(args) {
		l, ap := st.target(t)
		level, approval = max(level, l), approval || ap
	}
	return level, approval
}

// Level returns the highest level the subject holds, directly, through a
// group role, or through its namespace wildcard.
func (a *Authorizer) Level(subject string) bot.Level {
	return a.st.Load().level(subject)
}

func (st *state) level(subject string) bot.Level {
	if !validSubject(subject) {
		return bot.LevelNone
	}
	held := map[string]bool{}
	for _, s := range []string{subject, namespace(subject)} {
		roles, _ := st.e.GetImplicitRolesForUser(s)
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

// Authorize implements bot.Authorizer with the effective level (the
// command's default, overridden by the policy). Whether an allowed command
// still needs approval is Requirement's second result.
//
// A command acting on several targets is allowed when every target is:
// the subject holds each one's level or is granted its object.
func (a *Authorizer) Authorize(_ context.Context, subject string, cmd *bot.Command, args bot.Args) bot.Decision {
	st := a.st.Load()
	var level bot.Level
	allowed := validSubject(subject)
	for _, t := range cmd.Requirements(args) {
		l, _ := st.target(t)
		level = max(level, l)
		if l == bot.LevelNone || !allowed {
			continue
		}
		ok, err := st.e.Enforce(subject, namespace(subject), t.Object, role(l))
		allowed = err == nil && ok
	}
	if level == bot.LevelNone {
		return bot.Decision{Allowed: true}
	}
	if allowed {
		return bot.Decision{Allowed: true, Level: level}
	}
	have := "no level"
	if l := st.level(subject); l != bot.LevelNone {
		have = l.String()
	}
	return bot.Decision{Level: level, Reason: fmt.Sprintf(
		"`%s` needs %s; %s has %s. Nothing was run. Escalate to %s.",
		cmd.Name, level, subject, have, Contacts[level])}
}

// Row is one line of `policy show`: a permission object, what its command
// declares, what the policy makes of it, and who may run it.
type Row struct {
	Command         string // "" when no command's object matches (a p2 line for nothing)
	Object          string
	Default         bot.Level
	DefaultApproval bool
	Level           bot.Level // effective
	Approval        bool      // effective
	Override        string    // "line 12: p2, restart:*, level2, -", or ""
	// Holders may run it, as written in the policy: the subjects and
	// groups assigned the level or a higher one, then those granted the
	// object by a p line. "anyone" for a level-free object.
	Holders []string
}

// Table is the effective policy for cmds: one row per command's object
// (its permission object with no arguments), plus one per override for an
// object no such row covers (restart:postgres), under the command whose
// object is its longest prefix.
func (a *Authorizer) Table(cmds []*bot.Command) []Row {
	st := a.st.Load()
	var rows []Row
	add := func(c *bot.Command, obj string) {
		r := Row{Object: obj}
		if c != nil {
			r.Command, r.Default, r.DefaultApproval = c.Name, c.Level, c.Approval
			var o *Override
			r.Level, r.Approval, o = st.requirement(c, obj)
			if o != nil {
				r.Override = fmt.Sprintf("line %d: %s", o.Line, o.Text)
			}
		} else if o := st.match(obj); o != nil {
			r.Level, r.Approval = o.Level, o.Approval
			r.Override = fmt.Sprintf("line %d: %s", o.Line, o.Text)
		}
		r.Holders = st.holders(r.Level, obj)
		rows = append(rows, r)
	}
	base := map[string]bool{}
	for _, c := range cmds {
		obj := c.PermissionObject(bot.Args{})
		base[obj] = true
		add(c, obj)
	}
	for _, o := range st.overrides {
		if base[o.Object] || strings.HasSuffix(o.Object, "*") && coversAny(o.Object, base) {
			continue
		}
		var owner *bot.Command
		for _, c := range cmds {
			obj := c.PermissionObject(bot.Args{})
			if obj != "" && strings.HasPrefix(o.Object, obj) && (owner == nil || len(obj) > len(owner.PermissionObject(bot.Args{}))) {
				owner = c
			}
		}
		add(owner, o.Object)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Command != rows[j].Command {
			return rows[i].Command < rows[j].Command
		}
		return rows[i].Object < rows[j].Object
	})
	return rows
}

func coversAny(pattern string, objs map[string]bool) bool {
	for obj := range objs {
		if util.KeyMatch(obj, pattern) {
			return true
		}
	}
	return false
}

// holders lists, as written, who holds level or above, then who is
// granted obj by a p line.
func (st *state) holders(level bot.Level, obj string) []string {
	if level == bot.LevelNone {
		return []string{"anyone"}
	}
	var out []string
	seen := map[string]bool{}
	addOnce := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for l := bot.Level3; l >= level; l-- {
		for _, r := range st.assigns {
			if r.b == role(l) {
				addOnce(r.a)
			}
		}
	}
	for _, r := range st.grants {
		if util.KeyMatch(obj, r.b) && !isLevelRole(r.a) {
			addOnce(r.a)
		} else if util.KeyMatch(obj, r.b) {
			if lv, _, err := parseLevel(r.a); err == nil && lv < level {
				addOnce(r.a)
			}
		}
	}
	return out
}

// Holders returns, for each level, the subjects and groups the policy
// assigns to it directly, as written.
func (a *Authorizer) Holders() map[bot.Level][]string {
	out := map[bot.Level][]string{}
	for _, r := range a.st.Load().assigns {
		if lv, _, err := parseLevel(r.b); err == nil && isLevelRole(r.b) {
			out[lv] = append(out[lv], r.a)
		}
	}
	return out
}

// Rules returns the loaded policy's rules, normalized ("g, a, b",
// "p, a, b", "p2, obj, level2, approval"), in file order: what `policy
// reload` compares.
func (a *Authorizer) Rules() []string {
	st := a.st.Load()
	var out []string
	for _, r := range st.assigns {
		out = append(out, "g, "+r.a+", "+r.b)
	}
	for _, r := range st.grants {
		out = append(out, "p, "+r.a+", "+r.b)
	}
	for _, o := range st.overrides {
		lv, ap := "-", "-"
		if o.Level != bot.LevelNone {
			lv = role(o.Level)
		}
		if o.SetApproval {
			ap = "no-approval"
			if o.Approval {
				ap = "approval"
			}
		}
		out = append(out, "p2, "+o.Object+", "+lv+", "+ap)
	}
	return out
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
