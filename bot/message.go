package bot

import "time"

// Status is the verdict a message or a single check carries.
type Status int

// Statuses, from no verdict at all to failure. Their order matters: Worst
// picks the highest.
const (
	StatusNone Status = iota
	StatusOK
	StatusWarn
	StatusFailed
)

// String returns the word shown to people: PASSED, WARN or FAILED.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "PASSED"
	case StatusWarn:
		return "WARN"
	case StatusFailed:
		return "FAILED"
	}
	return ""
}

// Worst returns the most severe of the statuses.
func Worst(statuses ...Status) Status {
	w := StatusNone
	for _, s := range statuses {
		if s > w {
			w = s
		}
	}
	return w
}

// Message is the neutral result of a command. Transports render it: plain
// text for the console, Block Kit for Slack. Commands never build
// transport-specific output.
type Message struct {
	Title   string      // one line, e.g. "Daily health check"
	Status  Status      // overall verdict, StatusNone for informational output
	Text    string      // free text paragraphs
	Checks  []Check     // one line per check: name · status · value · threshold
	Fields  []Field     // key/value facts
	Code    []CodeBlock // preformatted output: logs, query results
	Summary string      // closing line, e.g. "Health: PASSED"
	Buttons []Button    // actions offered (rendered by transports that can)
	Meta    Meta        // who asked, where, how long; filled by the Engine
}

// Check is one verified expectation with its measured value and threshold.
type Check struct {
	Name      string
	Status    Status
	Value     string // what was measured, or why it could not be
	Threshold string // what passes
}

// Field is a labelled fact.
type Field struct {
	Name, Value string
}

// CodeBlock is preformatted text, optionally titled.
type CodeBlock struct {
	Title, Text string
}

// Button is an action offered with the message.
type Button struct {
	ActionID, Text, Value string
	Danger                bool
}

// Meta says who asked for a message, where, and how long it took.
type Meta struct {
	User     string
	Channel  string
	Command  string
	Duration time.Duration
}
