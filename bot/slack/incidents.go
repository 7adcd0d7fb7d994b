package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// Workspace is the Slack side of incidents (bot.Workspace): channels,
// invitations, posts and files, through the transport's per-channel
// queue and rate.
func (b *Bot) Workspace() bot.Workspace { return workspace{b: b} }

type workspace struct{ b *Bot }

var _ bot.Workspace = workspace{}

// slackErr is Slack's error code in err ("" when it is not one).
func slackErr(err error) string {
	var r slack.SlackErrorResponse
	if errors.As(err, &r) {
		return r.Err
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func (w workspace) CreateChannel(ctx context.Context, name string) (string, error) {
	var id string
	err := w.b.post.do(ctx, "conversations.create", "conversations.create", func(ctx context.Context) error {
		ch, err := w.b.api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: name})
		if err == nil {
			id = ch.ID
		}
		return err
	})
	switch code := slackErr(err); {
	case err == nil:
		return id, nil
	case code == "name_taken":
		return "", fmt.Errorf("create channel #%s: %w", name, bot.ErrNameTaken)
	case code == "restricted_action" || code == "missing_scope" || code == "not_allowed_token_type" || code == "ekm_access_denied":
		return "", fmt.Errorf("create channel #%s: %s: %w", name, code, bot.ErrRestricted)
	default:
		return "", fmt.Errorf("create channel #%s: %w", name, err)
	}
}

func (w workspace) ArchiveChannel(ctx context.Context, channel string) error {
	err := w.b.post.do(ctx, channel, "conversations.archive", func(ctx context.Context) error {
		return w.b.api.ArchiveConversationContext(ctx, channel)
	})
	if err != nil {
		return fmt.Errorf("archive channel %s: %w", channel, err)
	}
	return nil
}

func (w workspace) Invite(ctx context.Context, channel string, users []string) error {
	var want []string
	for _, u := range users {
		if u != "" && u != w.b.self {
			want = append(want, u)
		}
	}
	// One at a time: one member already in the channel fails the whole
	// call otherwise.
	var failed []string
	for _, u := range want {
		err := w.b.post.do(ctx, channel, "conversations.invite", func(ctx context.Context) error {
			_, err := w.b.api.InviteUsersToConversationContext(ctx, channel, u)
			return err
		})
		if code := slackErr(err); err != nil && code != "already_in_channel" && code != "cant_invite_self" {
			failed = append(failed, u+" ("+code+")")
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("invite to %s: %s", channel, strings.Join(failed, ", "))
	}
	return nil
}

func (w workspace) GroupMembers(ctx context.Context, group string) ([]string, error) {
	users, err := w.b.api.GetUserGroupMembersContext(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("members of user group %s: %w", group, err)
	}
	return users, nil
}

func (w workspace) UserExists(ctx context.Context, user string) (bool, error) {
	u, err := w.b.api.GetUserInfoContext(ctx, user)
	switch {
	case slackErr(err) == "user_not_found":
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look up user %s: %w", user, err)
	}
	return !u.Deleted, nil
}

func (w workspace) Post(ctx context.Context, channel, thread string, m bot.Message, notify ...string) (string, error) {
	r := Render(m, Context{}) // no Meta: no "requested by" line
	text, blocks := r.Text, r.Blocks
	if mentions := slackMentions(notify); len(mentions) > 0 {
		line := strings.Join(mentions, " ")
		text = line + " " + text
		blocks = append([]slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, line, false, false), nil, nil)}, blocks...)
		if len(blocks) > 50 {
			blocks = blocks[:50]
		}
	}
	var ts string
	err := w.b.post.do(ctx, channel, "chat.postMessage", func(ctx context.Context) error {
		_, t, err := w.b.api.PostMessageContext(ctx, channel, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...), slack.MsgOptionTS(thread))
		ts = t
		return err
	})
	if err != nil {
		return "", fmt.Errorf("post in %s: %w", channel, err)
	}
	return ts, nil
}

func (w workspace) Upload(ctx context.Context, channel, thread, filename, title string, content []byte) error {
	err := w.b.post.do(ctx, channel, "files.upload", func(ctx context.Context) error {
		_, err := w.b.api.UploadFileContext(ctx, slack.UploadFileParameters{
			Channel: channel, ThreadTimestamp: thread, Filename: filename, Title: title,
			Content: string(content), FileSize: len(content),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("upload %s to %s: %w", filename, channel, err)
	}
	return nil
}

// Link is Slack's archive link to a message or channel; Slack sends the
// browser on to the workspace.
func (w workspace) Link(channel, ts string) string {
	if ts == "" {
		return "https://slack.com/app_redirect?channel=" + channel
	}
	return "https://slack.com/archives/" + channel + "/p" + strings.ReplaceAll(ts, ".", "")
}
