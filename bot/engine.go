package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// Outcome is how a request ended, in the terms of the one-shot exit codes.
type Outcome int

// Outcomes.
const (
	OutcomeOK      Outcome = iota // ran, and what it checked passed
	OutcomeFailed                 // ran, and a check or the action failed
	OutcomeUsage                  // unknown command or bad arguments; nothing ran
	OutcomeDenied                 // not permitted; nothing ran
	OutcomePending                // waiting for approval; nothing ran yet
)

// ExitCode maps an outcome onto the one-shot contract: 0 ok, 1 failed,
// 2 usage, 3 not permitted or waiting for approval.
func (o Outcome) ExitCode() int {
	switch o {
	case OutcomeOK:
		return 0
	case OutcomeFailed:
		return 1
	case OutcomeUsage:
		return 2
	}
	return 3
}

// Reply is what the Engine hands back to a transport.
type Reply struct {
	Message Message
	Outcome Outcome
	// Dropped says nothing was handled and there is nothing to say: a
	// delivery another process has handled, or one its transport's Start
	// refused.
	Dropped bool
}

// Decision is an Authorizer's answer.
type Decision struct {
	Allowed bool
	// Level is the level the command needs, for the refusal message.
	Level Level
	// Reason is one sentence for the person refused: what is needed and
	// who to escalate to.
	Reason string
}

// Authorizer decides who may run what. permissions implements it.
type Authorizer interface {
	Authorize(ctx context.Context, subject string, cmd *Command, args Args) Decision
}

// Redactor removes secrets from text before anyone sees it.
type Redactor interface {
	Redact(string) string
}

// Options configure an Engine.
type Options struct {
	Registry   *Registry
	Authorizer Authorizer // required: every request is authorized
	Redactor   Redactor   // required: every output is redacted
	Logger     logrus.FieldLogger
	// Actions route button presses by action ID (see HandleAction).
	Actions map[string]ActionHandler
	// Timeout is the default deadline of a command run (default 30 s).
	Timeout time.Duration
	Now     func() time.Time

	// Approvals, when set, turns a command that needs approval, or an
	// escalation, into a request a second person decides. Without it such
	// commands are refused and nothing runs.
	Approvals Approvals
	// ApprovalTTL is how long a request waits (DefaultApprovalTTL when 0).
	ApprovalTTL time.Duration
	// OnExpired, when set, is told of each request the sweep expires (to
	// say so in the request's thread).
	OnExpired func(ctx context.Context, a Approval)
	// Auditor, when set, gets one entry for every request handled.
	Auditor Auditor
	// Deliveries, when set, decides across processes that a delivery
	// (Request.Delivery, Action.Delivery) is handled once.
	Deliveries Deliveries
}

// Engine is the transport-neutral pipeline:
// text -> parse -> authorize -> run under a deadline -> redact -> reply.
type Engine struct {
	reg     *Registry
	auth    Authorizer
	red     Redactor
	log     logrus.FieldLogger
	timeout time.Duration
	now     func() time.Time
	actions map[string]ActionHandler

	approvals Approvals
	ttl       time.Duration
	onExpired func(context.Context, Approval)
	auditor   Auditor

	deliveries Deliveries
}

// NewEngine checks the options and returns an Engine.
func NewEngine(o Options) (*Engine, error) {
	if o.Registry == nil || o.Authorizer == nil || o.Redactor == nil {
		return nil, errors.New("bot: engine needs a registry, an authorizer and a redactor")
	}
	e := &Engine{reg: o.Registry, auth: o.Authorizer, red: o.Redactor, log: o.Logger, timeout: o.Timeout, now: o.Now, actions: map[string]ActionHandler{},
		approvals: o.Approvals, ttl: o.ApprovalTTL, onExpired: o.OnExpired, auditor: o.Auditor, deliveries: o.Deliveries}
	for id, h := range o.Actions {
		if !actionID.MatchString(id) || h == nil {
			return nil, fmt.Errorf("bot: action %q needs a lower-case id and a handler", id)
		}
		if id == ActionApprove || id == ActionDeny || id == ActionRun {
			return nil, fmt.Errorf("bot: action %q is the Engine's own", id)
		}
		e.actions[id] = h
	}
	reg, err := o.Registry.extend(e.builtinCommands()...)
	if err != nil {
		return nil, fmt.Errorf("bot: %w", err)
	}
	e.reg = reg
	if e.ttl <= 0 {
		e.ttl = DefaultApprovalTTL
	}
	if e.log == nil {
		l := logrus.New()
		l.Out = io.Discard
		e.log = l
	}
	if e.timeout <= 0 {
		e.timeout = 30 * time.Second
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e, nil
}

// Registry returns the engine's command table.
func (e *Engine) Registry() *Registry { return e.reg }

// Handle runs one request to its end. It never panics and always returns
// a message for the person who asked.
func (e *Engine) Handle(ctx context.Context, req Request) Reply {
	start := e.now()
	if req.ID == "" {
		req.ID = newID()
	}
	log := e.log.WithFields(logrus.Fields{"request_id": req.ID, "user": req.Subject, "channel": req.Channel})
	words, err := e.words(&req)
	words = stripPrefix(words)
	if !e.admit(ctx, &req, words, err, log) {
		return Reply{Dropped: true}
	}
	reply, decision, result := e.handle(ctx, &req, words, err, log)
	reply.Message.Meta = Meta{User: req.Subject, Channel: req.Channel, Duration: e.now().Sub(start)}
	if req.Command != nil {
		reply.Message.Meta.Command = req.Command.Name
	}
	reply.Message = e.redact(reply.Message)
	if decision != "" {
		if result == "" {
			result = outcomeWord(reply.Outcome)
		}
		e.audit(ctx, AuditEntry{
			Subject: req.Subject, Channel: req.Channel, Thread: req.Thread, Command: reply.Message.Meta.Command,
			// Redacted before it is clipped: a secret cut in two is no
			// longer recognised by the audit's own redaction.
			Args: clip(e.red.Redact(strings.TrimSpace(req.Text)), MaxInputBytes), Decision: decision, Result: result,
			Duration: reply.Message.Meta.Duration,
		}, log)
	}
	log.WithFields(logrus.Fields{
		"command":  reply.Message.Meta.Command,
		"outcome":  reply.Outcome.ExitCode(),
		"duration": reply.Message.Meta.Duration.Round(time.Millisecond).String(),
	}).Info("request handled")
	return reply
}

// handle answers one request and says what to audit: the decision
// ("" when the answer keeps its own audit trail) and, optionally, the
// result.
func (e *Engine) handle(ctx context.Context, req *Request, words []string, err error, log logrus.FieldLogger) (reply Reply, decision, result string) {
	if err != nil {
		return usageReply(err), "usage", ""
	}
	if len(words) == 0 {
		return Reply{Message: e.helpIndex(ctx, req.Subject), Outcome: OutcomeOK}, "ran", ""
	}
	if strings.EqualFold(words[0], "help") {
		r := e.help(ctx, req.Subject, words[1:])
		if r.Outcome == OutcomeUsage {
			return r, "usage", ""
		}
		return r, "ran", ""
	}
	cmd, rest := e.reg.resolve(words)
	if cmd == nil {
		return usageReply(e.reg.unknown(words)), "usage", ""
	}
	args, err := parseArgs(cmd, rest)
	if err != nil {
		req.Command = cmd
		return usageReply(err), "usage", ""
	}
	req.Command, req.Args = cmd, args
	if cmd.builtin != nil {
		return cmd.builtin(ctx, req), "", ""
	}

	d := e.auth.Authorize(ctx, req.Subject, cmd, args)
	level, needsApproval := e.requirement(cmd, args, d)
	if !d.Allowed {
		// An escalation: a subject holding at least Level 1 may ask for
		// a command above their level; someone at the level decides.
		if have, known := e.subjectLevel(req.Subject); e.approvals != nil && known && have >= Level1 && level >= Level1 {
			r, res := e.request(ctx, req, level, true, log)
			return r, decisionFor(r), res
		}
		log.WithFields(logrus.Fields{"command": cmd.Name, "object": cmd.PermissionObject(args)}).Warn("refused")
		return Reply{Outcome: OutcomeDenied, Message: Message{
			Title:  "Not permitted",
			Status: StatusFailed,
			Text:   d.Reason,
		}}, "refused", ""
	}
	if needsApproval {
		if e.approvals == nil {
			return Reply{Outcome: OutcomePending, Message: Message{
				Title:  "Needs approval",
				Status: StatusWarn,
				Text: fmt.Sprintf("`%s` needs a second person's approval, and approvals need the bot's own database (SHIFTWISE_DATABASE_URL). Nothing was run.",
					cmd.Name),
			}}, "refused", "no-database"
		}
		if have, known := e.subjectLevel(req.Subject); known && have < Level1 {
			return Reply{Outcome: OutcomeDenied, Message: Message{
				Title: "Not permitted", Status: StatusFailed,
				Text: fmt.Sprintf("`%s` needs a second person's approval, and asking for one needs at least %s; %s has no level. Nothing was run.",
					cmd.Name, Level1, req.Subject),
			}}, "refused", ""
		}
		r, res := e.request(ctx, req, level, false, log)
		return r, decisionFor(r), res
	}
	r := e.run(ctx, cmd, *req, log)
	if r.Outcome == OutcomeUsage {
		return r, "usage", ""
	}
	return r, "ran", ""
}

// words splits the request's text into words; words given already split
// (Request.Words) are taken as they are, after the checks typed text gets,
// and req.Text becomes the line QuoteWords makes of them, so that the
// audit log and an approval request record what runs.
func (e *Engine) words(req *Request) ([]string, error) {
	if req.Words == nil {
		return Tokenize(req.Text)
	}
	line := QuoteWords(req.Words)
	req.Text = line
	if err := checkText(line); err != nil {
		return nil, err
	}
	return append([]string(nil), req.Words...), nil
}

// decisionFor is the audit decision of a request's answer: pending, or
// failed when the store did not take it.
func decisionFor(r Reply) string {
	switch r.Outcome {
	case OutcomePending:
		return "pending"
	case OutcomeUsage: // the command's Preview refused the arguments
		return "usage"
	}
	return "failed"
}

func (e *Engine) run(ctx context.Context, cmd *Command, req Request, log logrus.FieldLogger) (reply Reply) {
	timeout := cmd.Timeout
	if timeout <= 0 {
		timeout = e.timeout
	}
	// A request's deadline counts from its arrival (see Request.deadline).
	deadline := time.Now().Add(timeout)
	if !req.deadline.IsZero() {
		deadline = req.deadline
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			log.WithFields(logrus.Fields{"command": cmd.Name, "panic": fmt.Sprint(p), "stack": string(debug.Stack())}).Error("command panicked")
			reply = Reply{Outcome: OutcomeFailed, Message: Message{
				Title:  cmd.Name + " failed",
				Status: StatusFailed,
				Text:   "The command crashed inside the bot; nothing more was done. The bot's log has the details (request " + req.ID + ").",
			}}
		}
	}()
	msg, err := cmd.Run(e.withProgress(ctx, req), req)
	if err != nil {
		var ue *UsageError
		if errors.As(err, &ue) {
			if ue.Usage == "" {
				ue.Usage = cmd.UsageLine()
			}
			return usageReply(ue)
		}
		log.WithFields(logrus.Fields{"command": cmd.Name, "error": err.Error()}).Error("command failed")
		text := err.Error()
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded {
			text = fmt.Sprintf("%s did not finish within %s: %s", cmd.Name, timeout, text)
		}
		return Reply{Outcome: OutcomeFailed, Message: Message{
			Title: cmd.Name + " failed", Status: StatusFailed, Text: text,
		}}
	}
	out := OutcomeOK
	if msg.Status == StatusFailed {
		out = OutcomeFailed
	}
	return Reply{Message: msg, Outcome: out}
}

func usageReply(err error) Reply {
	var ue *UsageError
	if !errors.As(err, &ue) {
		ue = &UsageError{Msg: err.Error()}
	}
	m := Message{Title: "Usage error", Status: StatusFailed, Text: ue.Msg}
	if ue.Usage != "" {
		m.Fields = []Field{{Name: "Usage", Value: ue.Usage}}
	}
	return Reply{Message: m, Outcome: OutcomeUsage}
}

func (e *Engine) redact(m Message) Message {
	r := e.red.Redact
	m.Title, m.Text, m.Summary = r(m.Title), r(m.Text), r(m.Summary)
	m.Checks = append([]Check(nil), m.Checks...)
	for i := range m.Checks {
		c := &m.Checks[i]
		c.Name, c.Value, c.Threshold = r(c.Name), r(c.Value), r(c.Threshold)
	}
	m.Fields = append([]Field(nil), m.Fields...)
	for i := range m.Fields {
		m.Fields[i].Name, m.Fields[i].Value = r(m.Fields[i].Name), r(m.Fields[i].Value)
	}
	m.Code = append([]CodeBlock(nil), m.Code...)
	for i := range m.Code {
		m.Code[i].Title, m.Code[i].Text = r(m.Code[i].Title), r(m.Code[i].Text)
	}
	m.Buttons = append([]Button(nil), m.Buttons...)
	for i := range m.Buttons {
		m.Buttons[i].Text = r(m.Buttons[i].Text)
	}
	return m
}

func newID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
