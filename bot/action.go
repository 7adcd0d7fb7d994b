package bot

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/sirupsen/logrus"
)

// Action is a button press (Slack block_actions) routed to the core by
// its action ID. Transports deduplicate redeliveries; the handler decides
// whether the press is still valid (a stale or forged Value is refused
// there, never executed).
type Action struct {
	ID        string // the button's action_id, e.g. "approval.approve"
	Value     string // the button's value, as sent back by the client: untrusted
	Subject   string // who pressed: "slack:U…"
	Channel   string
	MessageTS string // the message carrying the button
	ThreadTS  string
	// Progress, when set, shows the interim messages of a command the
	// press sets running (an approved rollback's steps in its thread).
	Progress ProgressFunc
	// Delivery and Start are as in Request: the press is handled once
	// across processes, and Start hears that it is taken on (answered in
	// the button's thread) before anything runs.
	Delivery string
	Start    func(at Place) bool
}

// ActionRun is the action ID of a button whose value is a command line
// (a symptom runbook's resolution steps): pressing it runs that line as
// the presser, exactly as if they had typed it.
const ActionRun = "command.run"

// ActionHandler answers one kind of button press.
type ActionHandler func(ctx context.Context, a Action) (Message, error)

var actionID = regexp.MustCompile(`^[a-z0-9_.:-]{1,64}$`)

// HandleAction routes a press to the handler registered for its ID. An
// unknown ID, or an invalid one, is refused and logged; nothing runs.
func (e *Engine) HandleAction(ctx context.Context, a Action) Reply {
	if a.Delivery != "" || a.Start != nil {
		log := e.log.WithFields(logrus.Fields{"user": a.Subject, "channel": a.Channel, "action": clip(a.ID, 64)})
		if !e.firstDelivery(ctx, a.Delivery, time.Now().Add(e.timeout), log) ||
			(a.Start != nil && !a.Start(Place{Channel: a.Channel, Thread: a.ThreadTS})) {
			return Reply{Dropped: true}
		}
	}
	if a.ID == ActionRun {
		// The button carries a command line; pressing it is typing it:
		// the presser is authorized (and asks for approval) as if they
		// had typed the line themselves.
		return e.Handle(ctx, Request{Subject: a.Subject, Channel: a.Channel, Text: a.Value, Progress: a.Progress})
	}
	if a.ID == ActionApprove || a.ID == ActionDeny {
		// The press's Value is untrusted: decide checks it against the
		// store, the presser's level and the request's state.
		r := e.decide(ctx, a.Subject, a.Channel, a.ThreadTS, a.Value, a.ID == ActionApprove, a.Progress, nil)
		r.Message = e.redact(r.Message)
		return r
	}
	log := e.log.WithFields(logrus.Fields{"user": a.Subject, "channel": a.Channel, "action": clip(a.ID, 64)})
	h := e.actions[a.ID]
	if !actionID.MatchString(a.ID) || h == nil {
		log.Warn("unknown action refused")
		return Reply{Outcome: OutcomeUsage, Message: Message{
			Title: "Unknown action", Status: StatusFailed,
			Text: "That button is not one this bot knows (it may be from an older version). Nothing was run.",
		}}
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	msg, err := func() (m Message, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("action handler crashed: %v", p)
			}
		}()
		return h(ctx, a)
	}()
	if err != nil {
		log.WithField("error", err.Error()).Error("action failed")
		return Reply{Outcome: OutcomeFailed, Message: e.redact(Message{Title: "Action failed", Status: StatusFailed, Text: err.Error()})}
	}
	out := OutcomeOK
	if msg.Status == StatusFailed {
		out = OutcomeFailed
	}
	return Reply{Outcome: out, Message: e.redact(msg)}
}
