// Package docgen renders the commands reference, docs/commands.md, from the
// bot's registry: every command's usage, default level, approval, risk,
// policy object, flags and help text, and the permissions matrix.
//
// The matrix is not written by hand and not computed by a second copy of
// the engine's rules: each cell is what a bot.Engine answers when a person
// holding that level types the line, with every command's own defaults (a
// policy that names the four people and overrides nothing), each command's
// Run, Preview and Pin replaced by no-ops and an in-memory approvals store.
// The approve/deny cells are decisions of real requests in that store.
//
// cmd/shiftwise-bot wires the registry exactly as main does and calls
// Render; `go generate ./cmd/shiftwise-bot` rewrites the file and a test
// there fails when the file and the registry differ. This package imports
// the core, the permissions and the redactor only, never commands/.
package docgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/permissions"
)

// Regenerate is the command that rewrites the reference, for messages.
const Regenerate = "go generate ./cmd/shiftwise-bot"

// The subjects the matrix asks as: one with no level (a Slack user the
// policy does not name), one at each level, and a requester whose
// requests the approve/deny row decides.
const (
	subjNone      = "slack:UDOCSNOLEVEL"
	subjRequester = "console:docs-requester"
)

var levelSubjects = []struct {
	subject string
	level   bot.Level
	column  string
}{
	{subjNone, bot.LevelNone, "no level"},
	{"console:docs-level1", bot.Level1, "Level 1"},
	{"console:docs-level2", bot.Level2, "Level 2"},
	{"console:docs-level3", bot.Level3, "Level 3"},
}

// policy names the subjects and overrides nothing: the matrix shows the
// commands' own defaults. (The level chain is built in.)
const policy = `g, console:docs-level1, level1
g, console:docs-level2, level2
g, console:docs-level3, level3
g, console:docs-requester, level3
`

// form is one line the matrix asks about: a command, or a command with an
// argument that changes what it needs (restart postgres).
type form struct {
	cmd   *bot.Command
	label string // what the matrix shows
	line  string // what is typed
}

// Render returns the Markdown reference for cmds, the registry of the
// fully wired engine (bot.Engine.Registry().Commands(), the engine's own
// approve and deny included).
func Render(cmds []*bot.Command) ([]byte, error) {
	own, err := engineOwn()
	if err != nil {
		return nil, err
	}
	var app []*bot.Command
	for _, c := range cmds {
		if !own[c.Name] {
			app = append(app, c)
		}
	}
	sim, err := newSimulation(app)
	if err != nil {
		return nil, err
	}
	forms, err := sim.forms(app)
	if err != nil {
		return nil, err
	}

	var b bytes.Buffer
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Commands reference\n\n")
	w("<!-- Generated from the bot's registry by `%s` (internal/docgen). Do not edit: change the command, then regenerate. -->\n\n", Regenerate)
	w("Every command of the fully wired bot (every integration and the bot's database configured), as `help <command>` explains it. ")
	w("Type them as in Slack — `/shiftwise health` — or at the console and in one-shot mode without the prefix. ")
	w("The levels are the runbook's escalation levels; the policy (`SHIFTWISE_POLICY`, see `policy show`) may raise or lower a command's level and approval per permission object, ")
	w("so what is below are the defaults the commands declare. `help` itself is open to anyone.\n\n")

	w("## Commands\n\n")
	w("| command | default level | approval | risk |\n|---|---|---|---|\n")
	for _, c := range cmds {
		w("| [`%s`](#%s) | %s | %s | %s |\n", cell(c.UsageLine()), anchor(c.Name), levelShort(c.Level), yesNo(c.Approval), risk(c.Risk))
	}
	w("\n")

	if err := sim.matrix(&b, forms, own, cmds); err != nil {
		return nil, err
	}

	w("## Reference\n")
	for _, c := range cmds {
		w("\n### %s\n\n", c.Name)
		if c.Summary != "" {
			w("%s\n\n", prose(c.Summary))
		}
		if c.Help != "" {
			w("%s\n\n", prose(c.Help))
		}
		w("- Usage: `%s`\n", code(c.UsageLine()))
		w("- Default level: %s\n", c.Level)
		if own[c.Name] {
			w("- The engine's own command: it decides a request; the decider must hold the level the request's command needs (see the matrix)\n")
		}
		for _, f := range forms {
			if f.cmd == c && f.label != c.Name {
				lvl, ap := sim.requirement(f)
				w("  - `%s`: %s%s\n", code(f.label), lvl, map[bool]string{true: ", with approval", false: ""}[ap])
			}
		}
		w("- Approval: %s\n", map[bool]string{true: "yes, a second person approves it", false: "no"}[c.Approval])
		w("- Risk: %s\n", risk(c.Risk))
		if !own[c.Name] {
			w("- Policy object: %s\n", objects(c))
		}
		if c.MaxArgs != 0 || c.MinArgs != 0 {
			w("- Arguments: %s\n", argCount(c))
		}
		if len(c.Flags) > 0 {
			w("- Flags:\n")
			for _, f := range c.Flags {
				w("  - `--%s`", code(f.Name))
				if f.Kind != bot.FlagBool {
					w(" %s", kind(f.Kind))
				}
				if f.Usage != "" {
					w(": %s", prose(f.Usage))
				}
				switch r := f.Range(); {
				case r != "" && f.Default != "":
					w(" (%s; default `%s`)", r, code(f.Default))
				case r != "":
					w(" (%s)", r)
				case f.Default != "":
					w(" (default `%s`)", code(f.Default))
				}
				w("\n")
			}
		}
	}
	return b.Bytes(), nil
}

// engineOwn names the commands a bot.Engine adds to any registry.
func engineOwn() (map[string]bool, error) {
	reg, err := bot.NewRegistry()
	if err != nil {
		return nil, err
	}
	authz, err := permissions.New(policy, nil)
	if err != nil {
		return nil, err
	}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: authz, Redactor: redact.New()})
	if err != nil {
		return nil, err
	}
	own := map[string]bool{}
	for _, c := range e.Registry().Commands() {
		own[c.Name] = true
	}
	return own, nil
}

// simulation is an engine over no-op copies of the commands.
type simulation struct {
	engine    *bot.Engine
	noDB      *bot.Engine // the same without the bot's database
	reg       *bot.Registry
	approvals *memApprovals
}

func newSimulation(app []*bot.Command) (*simulation, error) {
	noop := func(context.Context, bot.Request) (bot.Message, error) { return bot.Message{Text: "ok"}, nil }
	copies := make([]bot.Command, 0, len(app))
	for _, c := range app {
		cp := *c
		cp.Run, cp.Preview, cp.Pin = noop, nil, nil
		copies = append(copies, cp)
	}
	reg, err := bot.NewRegistry(copies...)
	if err != nil {
		return nil, fmt.Errorf("docgen: %w", err)
	}
	authz, err := permissions.New(policy, nil)
	if err != nil {
		return nil, fmt.Errorf("docgen: %w", err)
	}
	ap := &memApprovals{byID: map[string]bot.Approval{}}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: authz, Redactor: redact.New(), Approvals: ap})
	if err != nil {
		return nil, fmt.Errorf("docgen: %w", err)
	}
	noDB, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: authz, Redactor: redact.New()})
	if err != nil {
		return nil, fmt.Errorf("docgen: %w", err)
	}
	return &simulation{engine: e, noDB: noDB, reg: reg, approvals: ap}, nil
}

// placeholders fills a command's required arguments.
func placeholders(c *bot.Command, n int) string {
	line := c.Name
	for i := 1; i <= n; i++ {
		line += fmt.Sprintf(" <arg%d>", i)
	}
	return line
}

// forms lists the lines the matrix asks about: each command once with its
// required arguments as placeholders; a command whose permission targets
// depend on its argument (restart, start) once per argument that the
// targets name (its services, and all).
func (s *simulation) forms(app []*bot.Command) ([]form, error) {
	// The arguments the targets know: what "all" expands to in any
	// command, plus "all".
	argSet := map[string]bool{}
	for _, c := range app {
		if c.Targets == nil {
			continue
		}
		_, args, err := s.reg.Parse(c.Name + " all")
		if err != nil {
			continue
		}
		cmd := s.reg.Lookup(c.Name)
		argSet["all"] = true
		for _, t := range cmd.Requirements(args) {
			if _, arg, ok := strings.Cut(t.Object, ":"); ok && arg != "" {
				argSet[arg] = true
			}
		}
	}
	targetArgs := make([]string, 0, len(argSet))
	for a := range argSet {
		targetArgs = append(targetArgs, a)
	}
	sort.Slice(targetArgs, func(i, j int) bool {
		// "all" last: after the services it stands for.
		if (targetArgs[i] == "all") != (targetArgs[j] == "all") {
			return targetArgs[j] == "all"
		}
		return targetArgs[i] < targetArgs[j]
	})

	var forms []form
	for _, c := range app {
		added := false
		if c.Targets != nil && c.MaxArgs != 0 {
			for _, a := range targetArgs {
				line := c.Name + " " + a
				if _, _, err := s.reg.Parse(line); err == nil {
					forms = append(forms, form{cmd: c, label: line, line: line})
					added = true
				}
			}
		}
		if !added {
			forms = append(forms, form{cmd: c, label: c.Name, line: placeholders(c, c.MinArgs)})
		}
	}
	for _, f := range forms {
		if _, _, err := s.reg.Parse(f.line); err != nil {
			return nil, fmt.Errorf("docgen: %q does not parse: %w", f.line, err)
		}
	}
	return forms, nil
}

// requirement is a form's default level and approval.
func (s *simulation) requirement(f form) (bot.Level, bool) {
	cmd, args, err := s.reg.Parse(f.line)
	if err != nil {
		return f.cmd.Level, f.cmd.Approval
	}
	return cmd.DefaultRequirement(args)
}

// ask types line as subject and says what the engine did.
func (s *simulation) ask(subject, line string) (bot.Reply, error) {
	return answer(s.engine, subject, line)
}

func answer(e *bot.Engine, subject, line string) (bot.Reply, error) {
	r := e.Handle(context.Background(), bot.Request{Subject: subject, Channel: "docs", Text: line})
	switch r.Outcome {
	case bot.OutcomeOK, bot.OutcomePending, bot.OutcomeDenied:
		return r, nil
	}
	return r, fmt.Errorf("docgen: %q as %s: unexpected answer %q: %s", line, subject, r.Message.Title, r.Message.Text)
}

// matrix writes the permissions matrix: one row per form, one column per
// level, each cell what the engine answered.
func (s *simulation) matrix(b *bytes.Buffer, forms []form, own map[string]bool, cmds []*bot.Command) error {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("## Permissions matrix\n\n")
	w("What the bot does when someone holding each level types the command, with the commands' default levels and approvals ")
	w("(no policy overrides) and the bot's database configured. Each cell is the engine's answer to that line, not a second copy of its rules:\n\n")
	w("- **runs**: it runs at once.\n")
	w("- **request (L*n*+)**: nothing runs yet; an approval request is posted, and it runs once someone else holding Level *n* or higher approves it ")
	w("(an escalation when the asker holds less than Level *n*).\n")
	w("- **refused**: nothing runs and nothing is recorded for later.\n\n")
	w("Without the bot's database (`SHIFTWISE_DATABASE_URL` unset) every **request** cell is refused instead (nothing runs, nothing waits; exit 3 in one-shot mode): approvals live in that database. ")
	w("\"no level\" is anyone the policy does not name, such as a Slack user not yet added; console users are Level 1 in the example policy. ")
	w("A higher level holds everything below it.\n\n")
	w("| command |")
	for _, ls := range levelSubjects {
		w(" %s |", ls.column)
	}
	w("\n|---|")
	for range levelSubjects {
		w("---|")
	}
	w("\n| `help [command]` | runs | runs | runs | runs |\n")

	var pending []bot.Approval // one per form that became a request, for the decide row
	seen := map[string]bool{}
	for _, f := range forms {
		w("| `%s` |", cell(f.label))
		for _, ls := range levelSubjects {
			r, err := s.ask(ls.subject, f.line)
			if err != nil {
				return err
			}
			// What the text says of a bot without its database must hold:
			// what runs still runs, nothing else does.
			nr, err := answer(s.noDB, ls.subject, f.line)
			if err != nil {
				return err
			}
			if (r.Outcome == bot.OutcomeOK) != (nr.Outcome == bot.OutcomeOK) {
				return fmt.Errorf("docgen: %q as %s: %q with the bot's database but %q without it; the matrix's text says otherwise",
					f.line, ls.subject, r.Message.Title, nr.Message.Title)
			}
			switch r.Outcome {
			case bot.OutcomeOK:
				w(" runs |")
			case bot.OutcomeDenied:
				w(" refused |")
			case bot.OutcomePending:
				a, ok := s.approvals.last()
				if !ok {
					return fmt.Errorf("docgen: %q as %s: pending, but no request was recorded", f.line, ls.subject)
				}
				w(" request (L%d+) |", int(a.Level))
				if !seen[f.line] {
					seen[f.line] = true
					pending = append(pending, a)
				}
			}
		}
		w("\n")
	}
	for _, c := range cmds {
		if !own[c.Name] {
			continue
		}
		w("| `%s` |", cell(c.UsageLine()))
		for _, ls := range levelSubjects {
			text, err := s.decides(c.Name, ls.subject, pending)
			if err != nil {
				return err
			}
			w(" %s |", text)
		}
		w("\n")
	}
	ownText, err := s.ownRequest(pending)
	if err != nil {
		return err
	}
	w("\nThe `approve` and `deny` cells say which requests a person at that level may decide: someone else's, ")
	w("for a command they could run themselves. %s\n\n", ownText)
	return nil
}

// ownRequest says what the requester may do with their own request, as
// the engine answers it.
func (s *simulation) ownRequest(pending []bot.Approval) (string, error) {
	if len(pending) == 0 {
		return "", nil
	}
	did := map[string]bool{}
	for _, verb := range []string{"approve", "deny"} {
		p := pending[0]
		a, err := s.approvals.Create(context.Background(), bot.Approval{
			Command: p.Command, Text: p.Text, Object: p.Object, Level: p.Level,
			Requester: subjRequester, Channel: "docs", CreatedAt: time.Now(),
		}, time.Hour)
		if err != nil {
			return "", err
		}
		r, err := s.ask(subjRequester, verb+" "+a.ID)
		if err != nil {
			return "", err
		}
		did[verb] = r.Outcome == bot.OutcomeOK
	}
	switch {
	case did["approve"]:
		return "", fmt.Errorf("docgen: a requester approved their own request")
	case did["deny"]:
		return "The requester never approves their own request; their `deny` of it withdraws it.", nil
	}
	return "The requester never decides their own request.", nil
}

// decides asks verb (approve or deny) as subject of a fresh copy of each
// pending request, made by someone else, and says up to which level the
// subject decides.
func (s *simulation) decides(verb, subject string, pending []bot.Approval) (string, error) {
	byLevel := map[bot.Level]bool{}
	for _, p := range pending {
		a, err := s.approvals.Create(context.Background(), bot.Approval{
			Command: p.Command, Text: p.Text, Object: p.Object, Level: p.Level,
			Requester: subjRequester, Channel: "docs", CreatedAt: time.Now(),
		}, time.Hour)
		if err != nil {
			return "", err
		}
		r, err := s.ask(subject, verb+" "+a.ID)
		if err != nil {
			return "", err
		}
		ok := r.Outcome == bot.OutcomeOK
		if prev, seen := byLevel[p.Level]; seen && prev != ok {
			return "", fmt.Errorf("docgen: %s as %s: decides some requests at %s and not others", verb, subject, p.Level)
		}
		byLevel[p.Level] = ok
	}
	var levels []string
	top := bot.LevelNone
	for l := bot.Level1; l <= bot.Level3; l++ {
		if byLevel[l] {
			levels = append(levels, fmt.Sprintf("L%d", int(l)))
			top = l
		}
	}
	switch {
	case len(levels) == 0:
		return "refused", nil
	case len(levels) == int(top):
		return fmt.Sprintf("decides requests up to L%d", int(top)), nil
	}
	return "decides " + strings.Join(levels, ", ") + " requests", nil
}

// memApprovals is an approvals store in memory, enough for the engine to
// record and decide requests.
type memApprovals struct {
	mu     sync.Mutex
	byID   map[string]bot.Approval
	n      int
	lastID string
}

const idAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

func (m *memApprovals) Create(_ context.Context, a bot.Approval, ttl time.Duration) (bot.Approval, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	id := []byte("A-222222")
	for i, n := 7, m.n; n > 0 && i >= 2; i, n = i-1, n/len(idAlphabet) {
		id[i] = idAlphabet[n%len(idAlphabet)]
	}
	a.ID, a.State, a.ExpiresAt = string(id), bot.ApprovalPending, a.CreatedAt.Add(ttl)
	m.byID[a.ID] = a
	m.lastID = a.ID
	return a, nil
}

// last returns the most recent request and forgets that it was the last.
func (m *memApprovals) last() (bot.Approval, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.byID[m.lastID]
	m.lastID = ""
	return a, ok
}

func (m *memApprovals) Decide(_ context.Context, id, approver string, approve bool, now time.Time) (bot.Approval, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.byID[id]
	switch {
	case !ok:
		return bot.Approval{}, bot.ErrApprovalNotFound
	case a.State != bot.ApprovalPending:
		return a, bot.ErrApprovalDecided
	case a.Requester == approver:
		return a, bot.ErrSelfApproval
	}
	a.State, a.Approver, a.DecidedAt = bot.ApprovalDenied, approver, now
	if approve {
		a.State = bot.ApprovalApproved
	}
	m.byID[id] = a
	return a, nil
}

func (m *memApprovals) Withdraw(_ context.Context, id, requester string, now time.Time) (bot.Approval, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.byID[id]
	switch {
	case !ok:
		return bot.Approval{}, bot.ErrApprovalNotFound
	case a.State != bot.ApprovalPending:
		return a, bot.ErrApprovalDecided
	case a.Requester != requester:
		return a, bot.ErrNotRequester
	}
	a.State, a.Approver, a.DecidedAt = bot.ApprovalWithdrawn, requester, now
	m.byID[id] = a
	return a, nil
}

func (m *memApprovals) MarkExecuted(_ context.Context, id, result string, ok bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, found := m.byID[id]
	if !found || a.State != bot.ApprovalApproved {
		return bot.ErrApprovalNotApproved
	}
	a.State, a.Result = bot.ApprovalFailed, result
	if ok {
		a.State = bot.ApprovalExecuted
	}
	m.byID[id] = a
	return nil
}

func (m *memApprovals) Expire(context.Context, time.Time) ([]bot.Approval, error) { return nil, nil }

func (m *memApprovals) Get(_ context.Context, id string) (bot.Approval, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.byID[id]; ok {
		return a, nil
	}
	return bot.Approval{}, bot.ErrApprovalNotFound
}

func (m *memApprovals) SetMessage(context.Context, string, string, string, string) error {
	return nil
}

var _ bot.Approvals = (*memApprovals)(nil)

// objects says which permission object the policy decides on: fixed, or
// built from the arguments (shown as <arg1>).
func objects(c *bot.Command) string {
	var objs []string
	add := func(n int) {
		var a bot.Args
		for i := 1; i <= n; i++ {
			a.Positional = append(a.Positional, fmt.Sprintf("<arg%d>", i))
		}
		o := "`" + code(c.PermissionObject(a)) + "`"
		for _, x := range objs {
			if x == o {
				return
			}
		}
		objs = append(objs, o)
	}
	add(c.MinArgs)
	if c.MaxArgs != 0 && c.MinArgs == 0 {
		add(1)
	}
	s := strings.Join(objs, ", or with an argument ")
	if c.Targets != nil {
		s += " (the policy decides on each target it acts on)"
	}
	return s
}

func argCount(c *bot.Command) string {
	switch {
	case c.MaxArgs < 0:
		return fmt.Sprintf("at least %d", c.MinArgs)
	case c.MinArgs == c.MaxArgs:
		return fmt.Sprintf("exactly %d", c.MinArgs)
	}
	return fmt.Sprintf("%d to %d", c.MinArgs, c.MaxArgs)
}

func levelShort(l bot.Level) string {
	if l == bot.LevelNone {
		return "anyone"
	}
	return fmt.Sprintf("Level %d", int(l))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func risk(r bot.Risk) string {
	switch r {
	case bot.ReadOnly:
		return "read-only"
	case bot.Changes:
		return "changes the stack"
	case bot.Destructive:
		return "destructive"
	}
	return fmt.Sprintf("risk %d", int(r))
}

func kind(k bot.FlagKind) string {
	switch k {
	case bot.FlagDuration:
		return "DURATION"
	case bot.FlagInt:
		return "N"
	}
	return "TEXT"
}

// anchor is the id GitHub gives a "### name" heading.
func anchor(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// code makes s safe inside a `code span` of a table cell or list item.
func code(s string) string {
	return strings.NewReplacer("`", "'", "\n", " ").Replace(s)
}

// cell makes s safe inside a `code span` in a table cell.
func cell(s string) string { return strings.ReplaceAll(code(s), "|", `\|`) }

// prose makes help text safe as a Markdown paragraph: what is between
// backticks stays a code span; elsewhere characters Markdown would take
// for markup are escaped. Text with an unpaired backtick is escaped whole.
func prose(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	esc := strings.NewReplacer(`\`, `\\`, "<", "&lt;", ">", "&gt;", "*", `\*`, "[", `\[`, "]", `\]`, "|", `\|`)
	parts := strings.Split(s, "`")
	if len(parts)%2 == 0 {
		return strings.ReplaceAll(underscores(esc.Replace(s)), "`", "\\`")
	}
	for i := range parts {
		if i%2 == 0 {
			parts[i] = underscores(esc.Replace(parts[i]))
		}
	}
	return strings.Join(parts, "`")
}

// underscores escapes the underscores that could open or close emphasis:
// those not between two letters or digits (SHIFTWISE_DATA_DIR stays as it
// is, _x_ does not become emphasis).
func underscores(s string) string {
	word := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if r == '_' && (i == 0 || i == len(rs)-1 || !word(rs[i-1]) || !word(rs[i+1])) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ErrStale is wrapped by Check when the file differs from the registry.
var ErrStale = errors.New("docs/commands.md differs from what the registry generates")

// Check compares the file's content with what Render makes of cmds and
// names the first line that differs.
func Check(file []byte, cmds []*bot.Command) error {
	want, err := Render(cmds)
	if err != nil {
		return err
	}
	if bytes.Equal(file, want) {
		return nil
	}
	got, exp := strings.Split(string(file), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(got), len(exp)); i++ {
		var g, e string
		if i < len(got) {
			g = got[i]
		}
		if i < len(exp) {
			e = exp[i]
		}
		if g != e {
			return fmt.Errorf("%w (first at line %d):\n  file:      %q\n  generated: %q\nRegenerate it with `%s` and commit the result", ErrStale, i+1, clip(g), clip(e), Regenerate)
		}
	}
	return fmt.Errorf("%w; regenerate it with `%s`", ErrStale, Regenerate)
}

func clip(s string) string {
	if r := []rune(s); len(r) > 160 {
		return string(r[:160]) + "…"
	}
	return s
}
