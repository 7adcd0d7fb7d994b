package slack

import (
	"context"
	"fmt"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// origin is where a request came from and where its answer goes.
type origin struct {
	channel, user string
	thread        string // answer in this thread; "" = in the channel
}

// permitted applies the channel allowlist, refusing privately elsewhere.
func (b *Bot) permitted(ctx context.Context, o origin) bool {
	dm := strings.HasPrefix(o.channel, "D")
	switch {
	case dm && b.o.DirectMessages, !dm && (len(b.allowed) == 0 || b.allowed[o.channel] || b.o.AlsoAllowed != nil && b.o.AlsoAllowed(o.channel)):
		return true
	}
	text := "I don't run commands in this channel. Ask in one of the ops channels."
	if dm {
		text = "I don't run commands in direct messages. Ask in an ops channel."
	}
	b.log.WithFields(logrus.Fields{"channel": o.channel, "user": o.user}).Warn("slack: request outside the allowed channels refused")
	b.ephemeral(ctx, o, "Not here", text)
	return false
}

// command hands one command line to the core, once, and posts its result
// where it was asked; its progress, when it reports any or runs long, in
// one message updated in place that the result then replaces. key names
// the delivery, for the core to run it once across processes. A typed
// `approve <id>` or `deny <id>` of a request posted in Slack is answered
// in that request's thread (the core says which, see decision).
func (b *Bot) command(ctx context.Context, o origin, text, key string) {
	var (
		target   = o
		decision string // the request whose thread target is
		p        *progress
	)
	start := func(at bot.Place) bool {
		if !b.permitted(ctx, o) {
			return false
		}
		what := commandName(text)
		if at.Request != "" && slackChannel.MatchString(at.Channel) {
			target, decision, what = origin{channel: at.Channel, user: o.user, thread: at.Thread}, at.Request, "the approved command"
		}
		p = b.startProgress(ctx, target, what)
		return true
	}
	reply := b.o.Core.Handle(ctx, bot.Request{Subject: "slack:" + o.user, Channel: o.channel, Thread: o.thread, Text: text,
		Delivery: "slack:" + key, Start: start, Progress: func(m bot.Message) { p.report(m) }})
	if reply.Dropped {
		return
	}
	if p == nil { // a core must take a request on (Start) before answering it
		b.log.WithField("user", o.user).Error("slack: the core answered a request it never took on; nothing posted")
		return
	}
	if decision != "" {
		b.decision(ctx, o, target, decision, text, reply, p.finish())
		return
	}
	b.deliver(ctx, o, reply, p.finish())
}

// decision answers a typed `approve <id>` / `deny <id>`: the decision,
// the approved command's progress and its result go into the request's
// thread, where the request is; a refusal goes privately to the person
// where they typed it, and when that is elsewhere a private pointer says
// where the answer went.
func (b *Bot) decision(ctx context.Context, typed, target origin, id, text string, reply bot.Reply, ts string) {
	if reply.Outcome == bot.OutcomeUsage || reply.Outcome == bot.OutcomeDenied {
		if ts != "" {
			b.update(ctx, target, ts, Render(bot.Message{Title: "Not run", Text: "See the private reply."}, Context{}))
		}
		b.ephemeralRendered(ctx, typed, Render(reply.Message, Context{Who: "<@" + typed.user + ">", Where: "<#" + typed.channel + ">"}))
		return
	}
	b.deliver(ctx, target, reply, ts)
	if typed.channel != target.channel || typed.thread != target.thread {
		// Message text is escaped; the context line links the channel.
		b.ephemeralRendered(ctx, typed, Render(bot.Message{
			Title: "Answered in the request's thread",
			Text:  fmt.Sprintf("The answer to `%s` is in the thread of request %s, in the channel below.", clip(text, 80), id),
		}, Context{Who: "<@" + typed.user + ">", Where: "<#" + target.channel + ">"}))
	}
}
