package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// dispatch acknowledges every envelope at once, then hands the work to a
// goroutine: acks never wait for commands or posts.
func (b *Bot) dispatch(ctx context.Context, evt socketmode.Event) {
	if evt.Request != nil && evt.Request.EnvelopeID != "" {
		if err := b.sm.Ack(*evt.Request); err != nil {
			b.log.WithError(err).Error("slack: ack failed")
		}
		// slack-go's writer goroutine, just woken with the ack, runs
		// now, before this goroutine wakes a worker (which would take its
		// place at the head of the scheduler's queue) or does anything
		// else with the envelope.
		runtime.Gosched()
	}
	switch evt.Type {
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		key := "envelope:" + evt.Request.EnvelopeID
		if !ok || !b.once.first(key, time.Now()) {
			return
		}
		b.spawn(func() { b.command(ctx, origin{channel: cmd.ChannelID, user: cmd.UserID}, unescape(cmd.Text), key) })
	case socketmode.EventTypeEventsAPI:
		b.eventsAPI(ctx, evt)
	case socketmode.EventTypeInteractive:
		b.interactive(ctx, evt)
	case socketmode.EventTypeConnecting, socketmode.EventTypeConnected, socketmode.EventTypeHello:
		b.log.WithField("event", string(evt.Type)).Debug("slack: socket")
	case socketmode.EventTypeDisconnect:
		b.log.Info("slack: Slack asked to reconnect")
	case socketmode.EventTypeConnectionError:
		b.log.WithField("error", fmt.Sprint(evt.Data)).Warn("slack: connection failed; retrying with backoff")
	case socketmode.EventTypeInvalidAuth:
		b.log.Error("slack: Slack refused the app-level token")
	case socketmode.EventTypeErrorBadMessage:
		// slack-go could not parse the envelope (unknown type, wrong JSON
		// types). Ack it anyway, or Slack redelivers it again and again.
		if bad, ok := evt.Data.(*socketmode.ErrorBadMessage); ok {
			var env struct {
				EnvelopeID string `json:"envelope_id"`
			}
			if json.Unmarshal(bad.Message, &env) == nil && env.EnvelopeID != "" {
				if err := b.sm.AckCtx(ctx, env.EnvelopeID, nil); err != nil {
					b.log.WithError(err).Error("slack: ack failed")
				}
			}
			b.log.WithField("error", bad.Cause.Error()).Warn("slack: unreadable envelope acked and ignored")
		}
	case socketmode.EventTypeIncomingError:
		b.log.WithField("error", fmt.Sprint(evt.Data)).Warn("slack: unreadable frame ignored")
	}
}

// spawn queues fn for a worker; it never blocks.
func (b *Bot) spawn(fn func()) {
	b.running.Add(1)
	b.work.push(fn)
}

// worker runs queued jobs one at a time until the queue is closed.
func (b *Bot) worker() {
	if err := lowerWorkerPriority(); err != nil {
		b.log.WithError(err).Debug("slack: worker priority not lowered")
	}
	for {
		fn, ok := b.work.pop()
		if !ok {
			return
		}
		func() {
			defer b.running.Done()
			defer func() {
				if p := recover(); p != nil {
					b.log.WithField("panic", fmt.Sprint(p)).Error("slack: handler crashed")
				}
			}()
			fn()
		}()
	}
}

func (b *Bot) eventsAPI(ctx context.Context, evt socketmode.Event) {
	ev, ok := evt.Data.(slackevents.EventsAPIEvent)
	if !ok || evt.Request == nil {
		return
	}
	var outer struct {
		EventID string `json:"event_id"`
	}
	_ = json.Unmarshal(evt.Request.Payload, &outer)
	key := "event:" + outer.EventID
	if outer.EventID == "" {
		key = "envelope:" + evt.Request.EnvelopeID
	}
	if !b.once.first(key, time.Now()) {
		b.log.WithFields(logrus.Fields{"event_id": outer.EventID, "retry_attempt": evt.Request.RetryAttempt}).Info("slack: redelivered event ignored")
		return
	}
	m, ok := ev.InnerEvent.Data.(*slackevents.AppMentionEvent)
	if !ok || m.User == "" || m.BotID != "" {
		return
	}
	text := b.mentionText(m.Text)
	b.spawn(func() { b.command(ctx, origin{channel: m.Channel, user: m.User, thread: m.ThreadTimeStamp}, text, key) })
}

var mention = regexp.MustCompile(`<@([A-Z0-9]+)(\|[^>]*)?>`)

// mentionText removes the mention of the bot and Slack's escaping from a
// message's text.
func (b *Bot) mentionText(text string) string {
	text = mention.ReplaceAllStringFunc(text, func(m string) string {
		if sub := mention.FindStringSubmatch(m); sub != nil && sub[1] == b.self {
			return " "
		}
		return m
	})
	return strings.TrimSpace(unescape(text))
}

func (b *Bot) interactive(ctx context.Context, evt socketmode.Event) {
	cb, ok := evt.Data.(slack.InteractionCallback)
	if !ok || cb.Type != slack.InteractionTypeBlockActions || evt.Request == nil {
		return
	}
	channel := cb.Channel.ID
	if channel == "" {
		channel = cb.Container.ChannelID
	}
	msgTS := cb.Container.MessageTs
	if msgTS == "" {
		msgTS = cb.Message.Timestamp
	}
	thread := cb.Message.ThreadTimestamp
	if thread == "" {
		thread = msgTS
	}
	for _, a := range cb.ActionCallback.BlockActions {
		if a == nil {
			continue
		}
		// One press is one action_ts (a redelivery, or the same envelope
		// twice, carries the same payload): it is handled once. A second
		// press of the same button by the same person while the first is
		// still being handled (a double click) is dropped too. Nothing
		// else is: a press that was refused or failed, or any later
		// deliberate press, is handled afresh, and the database decides
		// whether a request is still undecided. Another person's press is
		// theirs (the requester's refused click must not swallow the
		// approver's).
		button := msgTS + "|" + a.ActionID + "|" + a.Value + "|" + cb.User.ID
		press := "press:" + button + "|" + firstNonEmpty(a.ActionTs, cb.TriggerID, evt.Request.EnvelopeID)
		if !b.once.first(press, time.Now()) {
			b.log.WithFields(logrus.Fields{"action": a.ActionID, "user": cb.User.ID, "action_ts": a.ActionTs}).Info("slack: redelivered button press ignored")
			continue
		}
		if !b.pressing.start(button) {
			b.log.WithFields(logrus.Fields{"action": a.ActionID, "user": cb.User.ID, "action_ts": a.ActionTs}).Info("slack: button pressed again while its first press is still being handled; ignored")
			continue
		}
		act := bot.Action{ID: a.ActionID, Value: a.Value, Subject: "slack:" + cb.User.ID, Channel: channel, MessageTS: msgTS, ThreadTS: thread}
		o := origin{channel: channel, user: cb.User.ID, thread: thread}
		b.spawn(func() {
			defer func() {
				b.pressing.done(button)
				b.log.WithFields(logrus.Fields{"action": act.ID, "user": cb.User.ID, "action_ts": a.ActionTs}).Debug("slack: button press handled")
			}()
			// An approved command runs now: its progress goes into the
			// request's thread, where its result follows.
			var p *progress
			act.Delivery = "slack:" + press
			act.Start = func(bot.Place) bool {
				if !b.permitted(ctx, o) {
					return false
				}
				p = b.startProgress(ctx, o, "the approved command")
				return true
			}
			act.Progress = func(m bot.Message) { p.report(m) }
			reply := b.o.Core.HandleAction(ctx, act)
			if reply.Dropped {
				return
			}
			if p == nil { // a core must take a press on (Start) before answering it
				b.log.WithField("user", cb.User.ID).Error("slack: the core answered a press it never took on; nothing posted")
				return
			}
			b.deliver(ctx, o, reply, p.finish())
		})
	}
}
