package slack

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// requestPoster is what a core offers to remember where a request for
// approval was posted.
type requestPoster interface {
	RequestPosted(ctx context.Context, id, channel, messageTS, threadTS string)
}

// requestPosted tells the core where the approval request carried by m
// was posted, so that its expiry can be said in its thread.
func (b *Bot) requestPosted(ctx context.Context, o origin, m bot.Message, ts, thread string) {
	rp, ok := b.o.Core.(requestPoster)
	if !ok || ts == "" {
		return
	}
	for _, btn := range m.Buttons {
		if btn.ActionID == bot.ActionApprove {
			rp.RequestPosted(ctx, btn.Value, o.channel, ts, thread)
			return
		}
	}
}

// NotifyExpired says in a request's thread that it expired undecided.
// Requests not posted in Slack (the console's) are left alone.
func (b *Bot) NotifyExpired(ctx context.Context, a bot.Approval) {
	if a.MessageTS == "" || !slackChannel.MatchString(a.Channel) {
		return
	}
	thread := a.ThreadTS
	if thread == "" {
		thread = a.MessageTS
	}
	o := origin{channel: a.Channel, user: strings.TrimPrefix(a.Requester, "slack:"), thread: thread}
	b.deliver(ctx, o, bot.Reply{Outcome: bot.OutcomeOK, Message: bot.Message{
		Title: fmt.Sprintf("Expired: %s (%s)", a.Command, a.ID), Status: bot.StatusWarn,
		Text: fmt.Sprintf("Nobody decided `%s`, asked by %s, before %s. Nothing was run; ask again if it is still needed.",
			a.Text, a.Requester, a.ExpiresAt.UTC().Format("15:04:05 UTC")),
	}}, "")
}

var slackChannel = regexp.MustCompile(`^[CGD][A-Z0-9]{2,}$`)
