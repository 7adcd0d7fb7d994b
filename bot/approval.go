package bot

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// Approval is a request to run a command line once a second person
// approves it. The bot's store keeps it; the Engine decides with it.
type Approval struct {
	ID      string // e.g. A-7F3K9Q: what a person types or a button carries
	Command string // the command's name
	// Text is the command line as typed, redacted. It is what the approver
	// sees and, parsed again, exactly what runs when approved: a secret
	// masked in it stays masked (the approver cannot vouch for what they
	// cannot see).
	Text      string
	Object    string // the permission object
	Level     Level  // the level needed when it was requested
	Requester string // namespaced subject
	Channel   string
	ThreadTS  string
	MessageTS string
	State     string // one of the Approval* states
	Approver  string // who approved, denied or withdrew it
	CreatedAt time.Time
	ExpiresAt time.Time
	DecidedAt time.Time
	Result    string // what the run said, once executed or failed
}

// States of an Approval: pending → approved | denied | withdrawn |
// expired; approved → executed | failed.
const (
	ApprovalPending   = "pending"
	ApprovalApproved  = "approved"
	ApprovalDenied    = "denied"
	ApprovalWithdrawn = "withdrawn" // by its requester
	ApprovalExpired   = "expired"
	ApprovalExecuted  = "executed"
	ApprovalFailed    = "failed"
)

// Why an Approvals store changed nothing. Implementations wrap one of
// these; test with errors.Is.
var (
	ErrApprovalNotFound    = errors.New("no such approval request")
	ErrApprovalDecided     = errors.New("approval request already decided")
	ErrApprovalExpired     = errors.New("approval request expired")
	ErrSelfApproval        = errors.New("the requester cannot decide their own request")
	ErrNotRequester        = errors.New("only the requester can withdraw a request")
	ErrApprovalNotApproved = errors.New("approval request is not approved")
	// ErrStoreUnavailable is what Approvals return while the bot's
	// database is not reachable (for instance down since the bot started
	// and still being retried).
	ErrStoreUnavailable = errors.New("the bot's database is unreachable")
	// ErrStoreNotAnswering is what Approvals return, besides
	// ErrStoreUnavailable, when the database was still being reached for
	// the first time when the call's deadline came: it accepts connections
	// and does not answer.
	ErrStoreNotAnswering = errors.New("the bot's database is not answering")
)

// Approvals keeps approval requests. Decide is the only authority on
// whether a request is approved: one conditional change in the store, so
// any number of clicks, processes and redeliveries decide it once.
type Approvals interface {
	// Create records a pending request expiring ttl after a.CreatedAt and
	// returns it with its ID.
	Create(ctx context.Context, a Approval, ttl time.Duration) (Approval, error)
	// Decide approves or denies a pending, unexpired request of someone
	// else. Exactly one caller succeeds; the others get an error wrapping
	// ErrApprovalNotFound, ErrApprovalDecided, ErrSelfApproval or
	// ErrApprovalExpired, with the request as it stands when there is one.
	Decide(ctx context.Context, id, approver string, approve bool, now time.Time) (Approval, error)
	// Withdraw marks a pending, unexpired request withdrawn by its own
	// requester, in the same one conditional change. The others get an
	// error wrapping ErrApprovalNotFound, ErrApprovalDecided,
	// ErrNotRequester or ErrApprovalExpired, with the request as it
	// stands when there is one.
	Withdraw(ctx context.Context, id, requester string, now time.Time) (Approval, error)
	// MarkExecuted records the result of running an approved request, once.
	MarkExecuted(ctx context.Context, id, result string, ok bool) error
	// Expire marks the pending requests past their expiry as expired and
	// returns them, each once across all processes.
	Expire(ctx context.Context, now time.Time) ([]Approval, error)
	// Get returns one request, or an error wrapping ErrApprovalNotFound.
	Get(ctx context.Context, id string) (Approval, error)
	// SetMessage records where the request was posted: the message
	// holding its buttons and the thread that follows it.
	SetMessage(ctx context.Context, id, channel, messageTS, threadTS string) error
}

// AuditEntry is one line of the audit log: who asked for what, where,
// with which (redacted) arguments, what was decided, who approved it,
// what came of it and how long it took.
type AuditEntry struct {
	Subject  string
	Channel  string
	Thread   string // the thread it was asked in, "" for the channel
	Command  string
	Args     string // the redacted command line
	Decision string // ran, refused, usage, pending, approved, denied, withdrawn, executed, failed, expired
	Approver string
	Result   string // the outcome word, with the approval ID when there is one
	Duration time.Duration
}

// Auditor appends audit entries.
type Auditor interface {
	Append(ctx context.Context, e AuditEntry) error
}

// Leveler tells the highest level a subject holds. An Authorizer that
// implements it makes escalations possible: a subject holding at least
// Level 1 may request a command above their level.
type Leveler interface {
	Level(subject string) Level
}

// Requirer tells the level a command needs for these arguments and
// whether it needs approval, after the policy's overrides. An Authorizer
// that implements it overrides the command's own Level and Approval.
type Requirer interface {
	Requirement(cmd *Command, args Args) (Level, bool)
}

// requirement is the level cmd needs and whether it needs approval: the
// policy's answer when the Authorizer gives one, else the command's own,
// with the level the decision names when it names one.
func (e *Engine) requirement(cmd *Command, args Args, d Decision) (Level, bool) {
	if r, ok := e.auth.(Requirer); ok {
		return r.Requirement(cmd, args)
	}
	level, approval := cmd.DefaultRequirement(args)
	if d.Level != LevelNone {
		return d.Level, approval
	}
	return level, approval
}

// Action IDs of the approval buttons.
const (
	ActionApprove = "approval.approve"
	ActionDeny    = "approval.deny"
)

// DefaultApprovalTTL is how long a request waits for a decision.
const DefaultApprovalTTL = 15 * time.Minute

// storeTimeout bounds each call to the store and the auditor.
const storeTimeout = 5 * time.Second

var approvalIDPattern = regexp.MustCompile(`^A-[2-9A-HJKMNP-Z]{6}$`)

// builtinCommands are the Engine's own commands: deciding a request from
// a line of text (the console's buttons).
func (e *Engine) builtinCommands() []Command {
	noop := func(context.Context, Request) (Message, error) { return Message{}, nil }
	mk := func(name string, approve bool, summary string) Command {
		return Command{
			Name: name, Summary: summary, Usage: "<request id>", MinArgs: 1, MaxArgs: 1,
			Level: LevelNone, Run: noop,
			Help: "The approver must not be the requester and must hold the command's level when deciding; " +
				"the request must still be pending. It runs at most once, however many people approve it. " +
				"The requester may `deny` their own pending request: that withdraws it (recorded as withdrawn, not denied).",
			builtin: func(ctx context.Context, req *Request) Reply {
				return e.decide(ctx, req.Subject, req.Channel, req.Thread, req.Args.First(), approve, req.Progress, req.found)
			},
			decides: true,
		}
	}
	return []Command{
		mk("approve", true, "approve a request waiting for a second person, and run it"),
		mk("deny", false, "deny a request waiting for a second person"),
	}
}

// subjectLevel returns the subject's level and whether it is known.
func (e *Engine) subjectLevel(subject string) (Level, bool) {
	if l, ok := e.auth.(Leveler); ok {
		return l.Level(subject), true
	}
	return LevelNone, false
}

// request records a request for cmd and answers with what will happen.
func (e *Engine) request(ctx context.Context, req *Request, level Level, escalation bool, log logrus.FieldLogger) (Reply, string) {
	if req.Command.Pin != nil {
		if r, ok := e.pin(ctx, req, log); !ok {
			return r, ""
		}
	}
	preview, err := e.preview(ctx, req, log)
	if err != nil {
		return usageReply(err), ""
	}
	typed := strings.TrimSpace(req.Text)
	text := e.red.Redact(typed)
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	a, err := e.approvals.Create(sctx, Approval{
		Command: req.Command.Name, Text: text, Object: e.red.Redact(req.Command.PermissionObject(req.Args)),
		Level: level, Requester: req.Subject, Channel: req.Channel, CreatedAt: e.now(),
	}, e.ttl)
	if err != nil {
		log.WithFields(logrus.Fields{"command": req.Command.Name, "error": err.Error()}).Error("approval request not recorded")
		switch {
		case notAnswering(err):
			return Reply{Outcome: OutcomeFailed, Message: Message{
				Title: "Request not recorded", Status: StatusFailed,
				Text: fmt.Sprintf("`%s` needs approval, and the bot's database is not answering. Nothing was run; try again in a moment.", req.Command.Name),
			}}, ""
		case errors.Is(err, ErrStoreUnavailable):
			return Reply{Outcome: OutcomeFailed, Message: Message{
				Title: "Request not recorded", Status: StatusFailed,
				Text: fmt.Sprintf("`%s` needs approval, and approvals live in the bot's database, which is down: the bot keeps trying to reach it and takes requests again as soon as it answers. Nothing was run.", req.Command.Name),
			}}, ""
		}
		return Reply{Outcome: OutcomeFailed, Message: Message{
			Title: "Request not recorded", Status: StatusFailed,
			Text: fmt.Sprintf("`%s` needs approval, and the bot's database did not take the request. Nothing was run; try again in a moment.", req.Command.Name),
		}}, ""
	}
	log.WithFields(logrus.Fields{"command": a.Command, "approval": a.ID, "level": int(level), "escalation": escalation}).Info("approval requested")
	why := "needs a second person's approval"
	if escalation {
		why = fmt.Sprintf("needs %s, which %s does not hold: an escalation", level, req.Subject)
	}
	m := Message{
		Title:  fmt.Sprintf("Approval needed: %s (%s)", a.Command, a.ID),
		Status: StatusWarn,
		Text: fmt.Sprintf("`%s` %s. It runs once, when someone other than %s holding %s approves it. Nothing has run yet.",
			text, why, a.Requester, atLeast(level)),
		Fields: []Field{
			{Name: "Command", Value: text},
			{Name: "Asked by", Value: a.Requester},
			{Name: "Needs", Value: atLeast(level)},
			{Name: "Expires", Value: fmt.Sprintf("%s (in %s)", a.ExpiresAt.UTC().Format("15:04:05 UTC"), e.ttl.Round(time.Second))},
			{Name: "Request", Value: fmt.Sprintf("%s — at the console: `approve %s` or `deny %s`", a.ID, a.ID, a.ID)},
		},
		Buttons: []Button{
			{ActionID: ActionApprove, Text: "Approve", Value: a.ID, Danger: true},
			{ActionID: ActionDeny, Text: "Deny", Value: a.ID},
		},
	}
	if text != typed {
		m.Text += " Part of the command line looked like a secret: it is masked, and runs masked, as shown."
	}
	if preview != nil {
		if preview.Text != "" {
			m.Text += "\n\n" + preview.Text
		}
		m.Checks = append(m.Checks, preview.Checks...)
		m.Fields = append(m.Fields, preview.Fields...)
		m.Code = append(m.Code, preview.Code...)
		m.Summary = preview.Summary
	}
	return Reply{Outcome: OutcomePending, Message: m}, "pending " + a.ID
}

// previewTimeout bounds a command's Preview.
const previewTimeout = 15 * time.Second

// preview runs the command's Preview, if any, for an approval request. A
// usage error is returned (the request is refused); any other failure
// becomes a line in the request saying the preview is missing.
func (e *Engine) preview(ctx context.Context, req *Request, log logrus.FieldLogger) (*Message, error) {
	if req.Command.Preview == nil {
		return nil, nil
	}
	pctx, cancel := context.WithTimeout(ctx, previewTimeout)
	defer cancel()
	m, err := func() (m Message, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("preview crashed: %v", p)
			}
		}()
		return req.Command.Preview(pctx, *req)
	}()
	if err != nil {
		var ue *UsageError
		if errors.As(err, &ue) {
			if ue.Usage == "" {
				ue.Usage = req.Command.UsageLine()
			}
			return nil, ue
		}
		log.WithFields(logrus.Fields{"command": req.Command.Name, "error": err.Error()}).Warn("preview failed")
		return &Message{Text: "What it would do could not be shown beforehand: " + err.Error()}, nil
	}
	return &m, nil
}

// pin replaces req's line and arguments with what the command's Pin
// returns. When it cannot, the reply says why and nothing is recorded.
func (e *Engine) pin(ctx context.Context, req *Request, log logrus.FieldLogger) (Reply, bool) {
	pctx, cancel := context.WithTimeout(ctx, previewTimeout)
	defer cancel()
	line, err := func() (line string, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("pin crashed: %v", p)
			}
		}()
		return req.Command.Pin(pctx, *req)
	}()
	var ue *UsageError
	if errors.As(err, &ue) {
		if ue.Usage == "" {
			ue.Usage = req.Command.UsageLine()
		}
		return usageReply(ue), false
	}
	var args Args
	if err == nil {
		if len(line) > MaxInputBytes {
			err = fmt.Errorf("the command line it would record is longer than %d bytes", MaxInputBytes)
		} else if _, a, perr := e.parseStored(Approval{Command: req.Command.Name, Text: line}); perr != nil {
			err = fmt.Errorf("the command line it would record does not parse: %v", perr) // the command's fault
		} else {
			args = a
		}
	}
	if err != nil {
		log.WithFields(logrus.Fields{"command": req.Command.Name, "error": err.Error()}).Error("pin failed; no request recorded")
		return Reply{Outcome: OutcomeFailed, Message: Message{
			Title: "Request not recorded", Status: StatusFailed,
			Text: fmt.Sprintf("`%s` works out exactly what it would do before anyone approves it, and that failed: %s. Nothing was run or requested.", req.Command.Name, err),
		}}, false
	}
	req.Text, req.Args = line, args
	return Reply{}, true
}

func atLeast(l Level) string {
	if l < Level1 {
		l = Level1
	}
	return l.String()
}

// decide approves or denies request rawID as who: the button press and
// the console's `approve <id>` / `deny <id>` both end here. Every refusal
// runs nothing; an approval runs the command once.
// found, when set, is the request as admit looked it up (a typed
// decision), so that it is read once.
func (e *Engine) decide(ctx context.Context, who, channel, thread, rawID string, approve bool, progress ProgressFunc, found *lookup) Reply {
	start := e.now()
	verb := "deny"
	if approve {
		verb = "approve"
	}
	log := e.log.WithFields(logrus.Fields{"user": who, "channel": channel, "action": verb})
	id := strings.ToUpper(strings.TrimSpace(rawID))
	entry := AuditEntry{Subject: who, Channel: channel, Command: verb, Args: clip(e.red.Redact(verb+" "+rawID), 200)}
	refuse := func(word, text string, a *Approval) Reply {
		if a != nil && a.Command != "" {
			entry.Command, entry.Args = a.Command, a.Text
		}
		entry.Decision, entry.Approver = "refused", who
		entry.Result = strings.TrimSpace(word + " " + id)
		if !approvalIDPattern.MatchString(id) {
			entry.Result = word
		}
		entry.Duration = e.now().Sub(start)
		e.audit(ctx, entry, log)
		log.WithFields(logrus.Fields{"approval": clip(id, 20), "why": word}).Warn("approval decision refused")
		return Reply{Outcome: OutcomeDenied, Message: e.redact(Message{
			Title: "Not " + pastTense(approve), Status: StatusFailed, Text: nothingRun(text),
		})}
	}
	storeFailed := func(err error) Reply { return e.storeFailedAudited(ctx, entry, who, id, start, err, log) }
	if e.approvals == nil {
		return refuse("no-database", "Approvals need the bot's own database (SHIFTWISE_DATABASE_URL), and this bot runs without it.", nil)
	}
	if !approvalIDPattern.MatchString(id) {
		return refuse("not-found", fmt.Sprintf("%q is not an approval request ID (they look like A-7F3K9Q).", clip(rawID, 40)), nil)
	}
	if found == nil || found.id != id {
		found = e.lookUp(ctx, id, time.Time{})
	}
	a, err := found.a, found.err
	switch {
	case errors.Is(err, ErrApprovalNotFound):
		return refuse("not-found", fmt.Sprintf("There is no approval request %s.", id), nil)
	case err != nil:
		return storeFailed(err)
	case a.State != ApprovalPending:
		return refuse(decidedWord(a.State), decidedText(a), &a)
	case a.Requester == who && approve:
		return refuse("self-approval", fmt.Sprintf("You asked for %s yourself: someone else must approve it (you may withdraw it with `deny %s`).", id, id), &a)
	case a.Requester == who:
		return e.withdraw(ctx, who, channel, thread, a, start, refuse, log)
	}
	cmd, args, perr := e.parseStored(a)
	if perr != nil {
		log.WithFields(logrus.Fields{"approval": id, "error": perr.Error()}).Error("stored command line no longer parses")
		return refuse("unparsable", fmt.Sprintf("Request %s holds `%s`, which this bot cannot run any more (%v).", id, a.Text, perr), &a)
	}
	need := Level1
	if d := e.auth.Authorize(ctx, who, cmd, args); !d.Allowed {
		return refuse("level", fmt.Sprintf("To %s %s you must hold the level `%s` needs now: %s", verb, id, cmd.Name, d.Reason), &a)
	}
	if l, ok := e.subjectLevel(who); ok && l < need {
		return refuse("level", fmt.Sprintf("To %s %s you must hold at least %s; %s holds no level.", verb, id, need, who), &a)
	}

	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	d, err := e.approvals.Decide(sctx, id, who, approve, e.now())
	cancel()
	switch {
	case errors.Is(err, ErrApprovalDecided):
		return refuse(decidedWord(d.State), decidedText(d), &a)
	case errors.Is(err, ErrSelfApproval):
		return refuse("self-approval", fmt.Sprintf("You asked for %s yourself: someone else must %s it.", id, verb), &a)
	case errors.Is(err, ErrApprovalExpired):
		return refuse("expired", fmt.Sprintf("Request %s expired at %s.", id, a.ExpiresAt.UTC().Format("15:04:05 UTC")), &a)
	case errors.Is(err, ErrApprovalNotFound):
		return refuse("not-found", fmt.Sprintf("There is no approval request %s.", id), nil)
	case err != nil:
		return storeFailed(err)
	}
	if d.ThreadTS != "" {
		thread = d.ThreadTS // where the request was posted
	}
	entry = AuditEntry{Subject: d.Requester, Channel: channel, Thread: thread, Command: d.Command, Args: d.Text, Approver: who}
	log = log.WithFields(logrus.Fields{"approval": id, "command": d.Command, "requester": d.Requester})
	if !approve {
		entry.Decision, entry.Result, entry.Duration = "denied", "denied "+id, e.now().Sub(start)
		e.audit(ctx, entry, log)
		log.Info("approval denied")
		return Reply{Outcome: OutcomeOK, Message: e.redact(Message{
			Title: fmt.Sprintf("Denied: %s (%s)", d.Command, id), Status: StatusWarn,
			Text: fmt.Sprintf("%s denied `%s`, asked by %s. Nothing was run.", who, d.Text, d.Requester),
		})}
	}
	entry.Decision, entry.Result, entry.Duration = "approved", "approved "+id, e.now().Sub(start)
	e.audit(ctx, entry, log)
	log.Info("approval granted; running")

	// Decided: this caller, and no other, runs it now. What follows must
	// be recorded even when the asker's context ends.
	runStart := e.now()
	req := Request{Subject: d.Requester, Channel: d.Channel, Text: d.Text, ID: newID(), Command: cmd, Args: args, Progress: progress}
	reply := e.run(ctx, cmd, req, log)
	reply.Message = e.redact(reply.Message)
	ran := e.now().Sub(runStart)
	word := outcomeWord(reply.Outcome)
	result := clip(strings.TrimSpace(word+": "+firstNonEmpty(reply.Message.Summary, reply.Message.Title, reply.Message.Text)), 500)
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	if err := e.approvals.MarkExecuted(mctx, id, result, reply.Outcome == OutcomeOK); err != nil {
		log.WithField("error", err.Error()).Error("approval ran, but its result was not recorded")
	}
	cancel()
	entry.Decision, entry.Result, entry.Duration = "executed", word+" "+id, ran
	if reply.Outcome != OutcomeOK {
		entry.Decision = "failed"
	}
	e.audit(ctx, entry, log)

	m := reply.Message
	if m.Title == "" {
		m.Title = d.Command
	}
	m.Title += " — approved by " + who
	m.Fields = append(m.Fields, Field{Name: "Request", Value: fmt.Sprintf("%s: `%s`, asked by %s, approved by %s", id, d.Text, d.Requester, who)})
	m.Meta = Meta{User: d.Requester, Channel: d.Channel, Command: d.Command, Duration: ran}
	reply.Message = e.redact(m)
	if reply.Outcome == OutcomeUsage {
		// The stored line parsed but the command refused its arguments:
		// the approval is spent, and the thread must say so publicly.
		reply.Outcome = OutcomeFailed
	}
	return reply
}

// lookup is one request as the store returned it.
type lookup struct {
	id  string
	a   Approval
	err error
}

// lookUp reads request id, within storeTimeout and, when set, deadline.
func (e *Engine) lookUp(ctx context.Context, id string, deadline time.Time) *lookup {
	sctx, cancel := context.WithDeadline(ctx, earliest(time.Now().Add(storeTimeout), deadline))
	defer cancel()
	a, err := e.approvals.Get(sctx, id)
	return &lookup{id: id, a: a, err: err}
}

// admit takes a request on before anything is run or recorded: it sets
// the request's deadline (its command's timeout from now), asks whether
// its delivery is new across processes, finds where a typed decision is
// answered (the request's thread, read once, bounded by the deadline),
// and hands that place to the transport's Start. False: a repeated or
// refused delivery, with nothing more to do.
func (e *Engine) admit(ctx context.Context, req *Request, words []string, werr error, log logrus.FieldLogger) bool {
	var cmd *Command
	var rest []string
	if werr == nil && len(words) > 0 {
		cmd, rest = e.reg.resolve(words)
	}
	timeout := e.timeout
	if cmd != nil && cmd.Timeout > 0 {
		timeout = cmd.Timeout
	}
	req.deadline = time.Now().Add(timeout)
	if !e.firstDelivery(ctx, req.Delivery, req.deadline, log) {
		return false
	}
	at := Place{Channel: req.Channel, Thread: req.Thread}
	if id := strings.ToUpper(strings.TrimSpace(strings.Join(rest, " "))); cmd != nil && cmd.decides && len(rest) == 1 &&
		e.approvals != nil && approvalIDPattern.MatchString(id) {
		req.found = e.lookUp(ctx, id, req.deadline)
		if a := req.found.a; req.found.err == nil && a.MessageTS != "" {
			// Posted by a transport: the answer goes into its thread.
			at = Place{Channel: a.Channel, Thread: firstNonEmpty(a.ThreadTS, a.MessageTS), Request: a.ID}
		}
	}
	return req.Start == nil || req.Start(at)
}

// withdraw is the requester's own deny of their pending request: it is
// withdrawn (recorded, audited and shown as such, never as denied), and
// nothing runs. It needs no level: it can only make less happen.
func (e *Engine) withdraw(ctx context.Context, who, channel, thread string, a Approval, start time.Time,
	refuse func(word, text string, a *Approval) Reply, log logrus.FieldLogger) Reply {
	id := a.ID
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	d, err := e.approvals.Withdraw(sctx, id, who, e.now())
	cancel()
	switch {
	case errors.Is(err, ErrApprovalDecided):
		return refuse(decidedWord(d.State), decidedText(d), &a)
	case errors.Is(err, ErrNotRequester):
		return refuse("not-requester", fmt.Sprintf("Only %s, who asked for %s, can withdraw it.", a.Requester, id), &a)
	case errors.Is(err, ErrApprovalExpired):
		return refuse("expired", fmt.Sprintf("Request %s expired at %s.", id, a.ExpiresAt.UTC().Format("15:04:05 UTC")), &a)
	case errors.Is(err, ErrApprovalNotFound):
		return refuse("not-found", fmt.Sprintf("There is no approval request %s.", id), nil)
	case err != nil:
		return e.storeFailedAudited(ctx, AuditEntry{Subject: who, Channel: channel, Command: "deny", Args: "deny " + id}, who, id, start, err, log)
	}
	if d.ThreadTS != "" {
		thread = d.ThreadTS // where the request was posted
	}
	e.audit(ctx, AuditEntry{Subject: d.Requester, Channel: channel, Thread: thread, Command: d.Command, Args: d.Text,
		Approver: who, Decision: "withdrawn", Result: "withdrawn " + id, Duration: e.now().Sub(start)}, log)
	log.WithFields(logrus.Fields{"approval": id, "command": d.Command}).Info("approval request withdrawn by its requester")
	return Reply{Outcome: OutcomeOK, Message: e.redact(Message{
		Title: fmt.Sprintf("Withdrawn: %s (%s)", d.Command, id), Status: StatusWarn,
		Text: fmt.Sprintf("`%s` was withdrawn by %s, who asked for it. Nothing was run.", d.Text, who),
	})}
}

// nothingRun ends a refusal with "Nothing was run." once, whether or not
// the reason it passes on (a policy's, a store's) already says so.
func nothingRun(text string) string {
	if strings.Contains(text, "Nothing was run") {
		return text
	}
	return strings.TrimSpace(text + " Nothing was run.")
}

// storeFailedAudited answers an approve or deny (or a withdrawal) that
// the store did not answer, and audits the attempt: the auditor spools it,
// never waiting on that store, and it is written when the database is back.
func (e *Engine) storeFailedAudited(ctx context.Context, entry AuditEntry, who, id string, start time.Time, err error, log logrus.FieldLogger) Reply {
	entry.Decision, entry.Approver = "failed", who
	entry.Result = "database-unreachable " + id
	if notAnswering(err) || !errors.Is(err, ErrStoreUnavailable) {
		entry.Result = "database-not-answering " + id
	}
	entry.Duration = e.now().Sub(start)
	e.audit(ctx, entry, log)
	return e.storeFailed(log, id, err)
}

func (e *Engine) storeFailed(log logrus.FieldLogger, id string, err error) Reply {
	log.WithFields(logrus.Fields{"approval": id, "error": err.Error()}).Error("approval store failed")
	if errors.Is(err, ErrStoreUnavailable) && !notAnswering(err) {
		return Reply{Outcome: OutcomeFailed, Message: Message{
			Title: "Approval not decided", Status: StatusFailed,
			Text: fmt.Sprintf("Approvals live in the bot's database, which is down: %s cannot be decided until it answers (the bot keeps trying). Nothing was run.", id),
		}}
	}
	return Reply{Outcome: OutcomeFailed, Message: Message{
		Title: "Approval not decided", Status: StatusFailed,
		Text: fmt.Sprintf("The bot's database is not answering: %s was not decided. Nothing was run; try again in a moment.", id),
	}}
}

// notAnswering tells a store that did not answer in time (hung, or still
// being reached for the first time) from one known to be down.
func notAnswering(err error) bool {
	return errors.Is(err, ErrStoreNotAnswering) || errors.Is(err, context.DeadlineExceeded)
}

// parseStored parses a request's command line again through the registry.
func (e *Engine) parseStored(a Approval) (*Command, Args, error) {
	words, err := Tokenize(a.Text)
	if err != nil {
		return nil, Args{}, err
	}
	cmd, rest := e.reg.resolve(stripPrefix(words))
	if cmd == nil || cmd.Name != a.Command || cmd.builtin != nil {
		return nil, Args{}, fmt.Errorf("it no longer names the command %q", a.Command)
	}
	args, err := parseArgs(cmd, rest)
	if err != nil {
		return nil, Args{}, err
	}
	return cmd, args, nil
}

func decidedText(a Approval) string {
	switch a.State {
	case ApprovalExpired:
		return fmt.Sprintf("Request %s expired at %s.", a.ID, a.ExpiresAt.UTC().Format("15:04:05 UTC"))
	case ApprovalDenied:
		return fmt.Sprintf("Request %s was already denied by %s.", a.ID, a.Approver)
	case ApprovalWithdrawn:
		return fmt.Sprintf("Request %s was already withdrawn by %s.", a.ID, a.Approver)
	case ApprovalApproved, ApprovalExecuted, ApprovalFailed:
		return fmt.Sprintf("Request %s was already approved by %s (it is %s).", a.ID, a.Approver, a.State)
	}
	return fmt.Sprintf("Request %s is %s.", a.ID, a.State)
}

func decidedWord(state string) string {
	if state == ApprovalExpired {
		return "expired"
	}
	return "already-" + state
}

func pastTense(approve bool) string {
	if approve {
		return "approved"
	}
	return "denied"
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// RequestPosted records where a transport posted request id (known only
// after posting), so that what happens later, such as its expiry, can be
// said in its thread. A failure is logged; the request stays valid.
func (e *Engine) RequestPosted(ctx context.Context, id, channel, messageTS, threadTS string) {
	if e.approvals == nil || !approvalIDPattern.MatchString(id) {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := e.approvals.SetMessage(sctx, id, channel, messageTS, threadTS); err != nil {
		e.log.WithFields(logrus.Fields{"approval": id, "channel": channel, "error": err.Error()}).Warn("where the request was posted was not recorded")
	}
}

// ExpireNow marks the requests past their expiry as expired, logs and
// audits each, and reports each to the OnExpired callback.
func (e *Engine) ExpireNow(ctx context.Context) ([]Approval, error) {
	if e.approvals == nil {
		return nil, nil
	}
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	expired, err := e.approvals.Expire(sctx, e.now())
	cancel()
	if err != nil {
		e.log.WithField("error", err.Error()).Warn("approval expiry sweep failed")
		return nil, err
	}
	for _, a := range expired {
		log := e.log.WithFields(logrus.Fields{"approval": a.ID, "command": a.Command, "user": a.Requester, "channel": a.Channel})
		log.Info("approval request expired")
		e.audit(ctx, AuditEntry{Subject: a.Requester, Channel: a.Channel, Thread: a.ThreadTS, Command: a.Command, Args: a.Text,
			Decision: "expired", Result: "expired " + a.ID}, log)
		if e.onExpired != nil {
			e.onExpired(ctx, a)
		}
	}
	return expired, nil
}

// SweepExpired calls ExpireNow every interval until ctx ends. A
// long-running bot runs it; one-shot mode does not.
func (e *Engine) SweepExpired(ctx context.Context, every time.Duration) {
	if e.approvals == nil {
		return
	}
	if every <= 0 {
		every = 30 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		_, _ = e.ExpireNow(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// audit appends one entry. A failure is logged loudly and never blocks
// or changes the reply.
func (e *Engine) audit(ctx context.Context, entry AuditEntry, log logrus.FieldLogger) {
	if e.auditor == nil {
		return
	}
	entry.Args = e.red.Redact(entry.Args)
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := e.auditor.Append(actx, entry); err != nil {
		log.WithFields(logrus.Fields{"error": err.Error(), "decision": entry.Decision, "command": entry.Command}).
			Error("AUDIT ENTRY NOT WRITTEN: the bot's database did not take it")
	}
}

func outcomeWord(o Outcome) string {
	switch o {
	case OutcomeOK:
		return "ok"
	case OutcomeFailed:
		return "failed"
	case OutcomeUsage:
		return "usage"
	case OutcomeDenied:
		return "denied"
	case OutcomePending:
		return "pending"
	}
	return "unknown"
}
