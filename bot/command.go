package bot

import (
	"context"
	"math"
	"time"
)

// Level is a runbook escalation level.
type Level int

// The runbook's escalation levels. LevelNone is for commands anyone may
// run (help, whoami).
const (
	LevelNone Level = iota
	Level1          // Operations
	Level2          // Development
	Level3          // System Architects
)

// String names the level as the runbook does.
func (l Level) String() string {
	switch l {
	case Level1:
		return "Level 1 (Operations)"
	case Level2:
		return "Level 2 (Development)"
	case Level3:
		return "Level 3 (System Architects)"
	}
	return "anyone"
}

// Risk says what a command does to the operated stack.
type Risk int

// Risks, from harmless to destructive.
const (
	ReadOnly    Risk = iota // diagnosis: reads, never changes
	Changes                 // resolution: changes the stack, recoverable
	Destructive             // loses data or takes everything down
)

// FlagKind is the type of a flag's value.
type FlagKind int

// Flag kinds. Bool flags take no value.
const (
	FlagString FlagKind = iota
	FlagBool
	FlagDuration
	FlagInt
)

// Flag declares a --flag a command accepts.
type Flag struct {
	Name    string // without dashes
	Kind    FlagKind
	Default string
	Usage   string
	// Min and Max bound a FlagInt's value, both included. Every int flag
	// declares them (NewRegistry refuses one that does not); a value
	// outside is a usage error naming the flag and the range, and help
	// shows the range. A number that reaches PostgreSQL as int4 is bounded
	// by MaxInt4 at most.
	Min, Max int64
	// MinDuration and MaxDuration bound a FlagDuration's value, both
	// included, likewise declared by every duration flag.
	MinDuration, MaxDuration time.Duration
}

// MaxInt4 is the largest value of PostgreSQL's integer (int4): the bound
// of any flag whose value a query takes as one.
const MaxInt4 = math.MaxInt32

// Command is one runbook procedure as a value. Registration is an explicit
// list handed to NewRegistry.
type Command struct {
	Name    string // one or more words: "health", "db status"
	Summary string // one line for help
	Usage   string // arguments after the name, e.g. "<service> [--tail N]"
	Help    string // longer text for `help <command>`
	Flags   []Flag
	MinArgs int
	MaxArgs int // -1: any number

	// Object is the permission object the policy names; nil means Name.
	Object func(Args) string
	// Targets, when set, lists what a run with these arguments acts on,
	// one permission object each with its own default level and approval
	// (restart all: restart:api at Level 1 ... restart:postgres at Level
	// 2). A command acting on several needs the highest level among them,
	// after the policy's overrides of each, and approval when any needs
	// it; Level and Approval are then only what help and policy show
	// print. Object still names the request as a whole.
	Targets  func(Args) []Target
	Level    Level
	Approval bool
	Risk     Risk
	// Timeout bounds the whole run; 0 means the Engine's default.
	Timeout time.Duration

	Run func(ctx context.Context, req Request) (Message, error)

	// Preview, when set, says what Run would do without doing anything
	// (the files a prune deletes, the sessions a kill ends). When the
	// command becomes an approval request the Engine runs it first, under
	// a short deadline, and shows its Text, Checks, Fields and Code in the
	// request, so the approver sees what they approve. A *UsageError from
	// it refuses the request: nothing is asked for.
	Preview func(ctx context.Context, req Request) (Message, error)

	// Pin, when set, returns the command line an approval request records
	// instead of the one typed: the typed line made exact (a kill's
	// backends by PID and query start), so that what the approver sees is
	// what runs, and nothing that turns up later. It runs before Preview,
	// which then sees the pinned arguments. The line must name the same
	// command. A *UsageError from it refuses the request; any other error
	// records none.
	Pin func(ctx context.Context, req Request) (string, error)

	// builtin, set only on the Engine's own commands, answers instead of
	// Run and keeps its own audit trail.
	builtin func(ctx context.Context, req *Request) Reply
	// decides marks the builtins approve and deny.
	decides bool
}

// Target is one permission object a command acts on, with its default
// level and approval.
type Target struct {
	Object   string
	Level    Level
	Approval bool
}

// Requirements lists the targets of a run with these arguments: Targets
// when set, else the one permission object with the command's Level and
// Approval.
func (c *Command) Requirements(a Args) []Target {
	if c.Targets != nil {
		if ts := c.Targets(a); len(ts) > 0 {
			return ts
		}
	}
	return []Target{{Object: c.PermissionObject(a), Level: c.Level, Approval: c.Approval}}
}

// DefaultRequirement is the highest level among the targets of a run with
// these arguments and whether any needs approval, before any policy.
func (c *Command) DefaultRequirement(a Args) (Level, bool) {
	var level Level
	approval := false
	for _, t := range c.Requirements(a) {
		level = max(level, t.Level)
		approval = approval || t.Approval
	}
	return level, approval
}

// UsageLine returns "name usage" for messages.
func (c *Command) UsageLine() string {
	if c.Usage == "" {
		return c.Name
	}
	return c.Name + " " + c.Usage
}

// PermissionObject is what the policy decides on for these arguments.
func (c *Command) PermissionObject(a Args) string {
	if c.Object != nil {
		return c.Object(a)
	}
	return c.Name
}

func (c *Command) flag(name string) (Flag, bool) {
	for _, f := range c.Flags {
		if f.Name == name {
			return f, true
		}
	}
	return Flag{}, false
}

// Args are the parsed arguments and flags of a command line.
type Args struct {
	Positional []string
	flags      map[string]string
	cmd        *Command
}

// First returns the first positional argument or "".
func (a Args) First() string { return a.At(0) }

// At returns positional argument i or "".
func (a Args) At(i int) string {
	if i < len(a.Positional) {
		return a.Positional[i]
	}
	return ""
}

// Has reports whether the flag was given on the command line.
func (a Args) Has(name string) bool {
	_, ok := a.flags[name]
	return ok
}

// String returns the flag's value, or its declared default.
func (a Args) String(name string) string {
	if v, ok := a.flags[name]; ok {
		return v
	}
	if a.cmd != nil {
		if f, ok := a.cmd.flag(name); ok {
			return f.Default
		}
	}
	return ""
}

// Bool returns a bool flag's value.
func (a Args) Bool(name string) bool { return a.String(name) == "true" }

// Duration returns a duration flag's value, within the flag's declared
// range: the parser has checked what was typed, NewRegistry the default.
// It is 0 for a flag the command does not declare as a duration.
func (a Args) Duration(name string) time.Duration {
	f, ok := a.declared(name, FlagDuration)
	if !ok {
		return 0
	}
	d, err := f.duration(a.String(name))
	if err != nil {
		return 0
	}
	return d
}

// Int returns an int flag's value, within the flag's declared range (see
// Duration). It is 0 for a flag the command does not declare as an int.
func (a Args) Int(name string) int {
	f, ok := a.declared(name, FlagInt)
	if !ok {
		return 0
	}
	n, err := f.int(a.String(name))
	if err != nil {
		return 0
	}
	return int(n)
}

func (a Args) declared(name string, kind FlagKind) (Flag, bool) {
	if a.cmd == nil {
		return Flag{}, false
	}
	f, ok := a.cmd.flag(name)
	return f, ok && f.Kind == kind
}

// Request is one line of user text arriving from a transport.
type Request struct {
	// Subject is the namespaced identity: "console:alice", "slack:U024BE7LH".
	Subject string
	// Channel is where it was asked ("console", a Slack channel id).
	Channel string
	// Thread is the thread it was asked in (a mention's thread_ts), "" for
	// the channel itself.
	Thread string
	// Text is what the user typed, with or without the /shiftwise prefix:
	// a line the Engine splits into words (Tokenize).
	Text string
	// Words, when not nil, are the command line already split into words
	// (one-shot mode's arguments, split by the shell): the Engine takes
	// them as they are, with the same checks as typed text, and never
	// splits them again. Text is then ignored; the Engine sets it to the
	// words quoted back into one line (QuoteWords) for the audit log and
	// approval requests, which Tokenize reads back as the same words.
	Words []string
	// ID identifies the request in logs; the Engine fills it when empty.
	ID string
	// Progress, when set, shows a running command's interim messages
	// (see Report); the Engine redacts them first.
	Progress ProgressFunc
	// Delivery, when set, names this delivery of the request (Slack: its
	// event or envelope, "slack:event:Ev…"): with Options.Deliveries the
	// Engine handles it once across processes, and a repeat is answered
	// with a Dropped reply.
	Delivery string
	// Start, when set, is called once the Engine has taken the request on
	// (a first delivery), before it runs or records anything, with where
	// the answer belongs: where it was asked, or the thread of the request
	// a typed `approve <id>` or `deny <id>` decides. A transport refusing
	// the request itself (a channel where it runs nothing, having said so)
	// returns false: the Engine then does nothing more and returns a
	// Dropped reply.
	Start func(at Place) bool

	// Set by the Engine for Run.
	Command *Command
	Args    Args

	// deadline is when the request's command must be done, counted from
	// its arrival: what the Engine does before running it (the delivery's
	// dedup, finding a request's thread) comes out of it.
	deadline time.Time
	// found is a typed decision's request, looked up once to know where
	// its answer goes.
	found *lookup
}
