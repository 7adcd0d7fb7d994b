package slack

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

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

// command runs one command line and posts its result where it was asked;
// its progress, when it reports any or runs long, in one message updated
// in place that the result then replaces.
func (b *Bot) command(ctx context.Context, o origin, text string) {
	if !b.permitted(ctx, o) {
		return
	}
	if target, id, ok := b.requestThread(ctx, o, text); ok {
		b.decision(ctx, o, target, id, text)
		return
	}
	p := b.startProgress(ctx, o, commandName(text))
	reply := b.o.Core.Handle(ctx, bot.Request{Subject: "slack:" + o.user, Channel: o.channel, Thread: o.thread, Text: text, Progress: p.report})
	b.deliver(ctx, o, reply, p.finish())
}

// requestThread tells whether text is `approve <id>` or `deny <id>` of a
// request posted in Slack, and where that request's thread is.
func (b *Bot) requestThread(ctx context.Context, o origin, text string) (origin, string, bool) {
	if b.o.Requests == nil {
		return origin{}, "", false
	}
	words, err := bot.Tokenize(text)
	if err == nil && len(words) > 0 && strings.EqualFold(words[0], "/shiftwise") {
		words = words[1:]
	}
	if err != nil || len(words) != 2 || (!strings.EqualFold(words[0], "approve") && !strings.EqualFold(words[0], "deny")) {
		return origin{}, "", false
	}
	id := strings.ToUpper(words[1])
	if !approvalID.MatchString(id) {
		return origin{}, "", false // the core refuses it where it was typed
	}
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	a, err := b.o.Requests.Get(gctx, id)
	cancel()
	if err != nil || a.MessageTS == "" || !slackChannel.MatchString(a.Channel) {
		// Unknown, not posted in Slack, or the store did not answer: the
		// core says so where it was typed.
		return origin{}, "", false
	}
	thread := a.ThreadTS
	if thread == "" {
		thread = a.MessageTS
	}
	return origin{channel: a.Channel, user: o.user, thread: thread}, id, true
}

var approvalID = regexp.MustCompile(`^A-[2-9A-HJKMNP-Z]{6}$`)

// decision runs a typed `approve <id>` / `deny <id>`: the decision, the
// approved command's progress and its result go into the request's
// thread, where the request is; a refusal goes privately to the person
// where they typed it, and when that is elsewhere a private pointer says
// where the answer went.
func (b *Bot) decision(ctx context.Context, typed, target origin, id, text string) {
	p := b.startProgress(ctx, target, "the approved command")
	reply := b.o.Core.Handle(ctx, bot.Request{Subject: "slack:" + typed.user, Channel: typed.channel, Thread: typed.thread, Text: text, Progress: p.report})
	ts := p.finish()
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
