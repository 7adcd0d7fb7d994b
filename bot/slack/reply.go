package slack

import (
	"context"

	"github.com/slack-go/slack"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// deliver posts a reply: refusals and usage errors privately to the
// asker, results where they were asked (replacing the progress message
// when there is one), long output in the thread or as a file.
func (b *Bot) deliver(ctx context.Context, o origin, reply bot.Reply, progressTS string) {
	r := Render(reply.Message, Context{Who: "<@" + o.user + ">", Where: "<#" + o.channel + ">"})
	if reply.Outcome == bot.OutcomeUsage || reply.Outcome == bot.OutcomeDenied {
		if progressTS != "" {
			b.update(ctx, o, progressTS, Render(bot.Message{Title: "Not run", Text: "See the private reply."}, Context{}))
		}
		b.ephemeralRendered(ctx, o, r)
		return
	}
	ts := progressTS
	if ts != "" {
		b.update(ctx, o, ts, r)
	} else {
		err := b.post.do(ctx, o.channel, "chat.postMessage", func(ctx context.Context) error {
			t, err := b.postMessage(ctx, o.channel, r.Text, r.Blocks, o.thread)
			ts = t
			return err
		})
		if err != nil {
			b.log.WithError(err).Error("slack: result not posted")
			return
		}
	}
	thread := o.thread
	if thread == "" {
		thread = ts
	}
	if reply.Outcome == bot.OutcomePending {
		b.requestPosted(ctx, o, reply.Message, ts, thread)
	}
	for _, blocks := range r.Replies {
		err := b.post.do(ctx, o.channel, "chat.postMessage", func(ctx context.Context) error {
			_, err := b.postMessage(ctx, o.channel, r.Text+" (continued)", blocks, thread)
			return err
		})
		if err != nil {
			b.log.WithError(err).Error("slack: continuation not posted")
			return
		}
	}
	if r.File != nil {
		err := b.post.do(ctx, o.channel, "files.upload", func(ctx context.Context) error {
			_, err := b.api.UploadFileContext(ctx, slack.UploadFileParameters{
				Channel: o.channel, ThreadTimestamp: thread, Filename: r.File.Name, Title: r.File.Title,
				Content: string(r.File.Content), FileSize: len(r.File.Content),
			})
			return err
		})
		if err != nil {
			b.log.WithError(err).Error("slack: output file not uploaded")
		}
	}
}

func (b *Bot) update(ctx context.Context, o origin, ts string, r Rendered) {
	err := b.post.do(ctx, o.channel, "chat.update", func(ctx context.Context) error {
		return b.updateMessage(ctx, o.channel, ts, r.Text, r.Blocks)
	})
	if err != nil {
		b.log.WithError(err).Error("slack: message not updated")
	}
}

func (b *Bot) ephemeral(ctx context.Context, o origin, title, text string) {
	b.ephemeralRendered(ctx, o, Render(bot.Message{Title: title, Status: bot.StatusFailed, Text: text}, Context{}))
}

func (b *Bot) ephemeralRendered(ctx context.Context, o origin, r Rendered) {
	// A private reply has no thread of its own: continuations follow as
	// further private messages; a file would be public, so it is left out.
	for _, blocks := range append([][]slack.Block{r.Blocks}, r.Replies...) {
		err := b.post.do(ctx, o.channel, "chat.postEphemeral", func(ctx context.Context) error {
			_, err := b.api.PostEphemeralContext(ctx, o.channel, o.user, slack.MsgOptionText(r.Text, false), slack.MsgOptionBlocks(blocks...), slack.MsgOptionTS(o.thread))
			return err
		})
		if err != nil {
			b.log.WithError(err).Error("slack: private reply not posted")
			return
		}
	}
	if r.File != nil {
		b.log.WithField("user", o.user).Warn("slack: a private reply's attached output was not uploaded (files are visible to the channel)")
	}
}
