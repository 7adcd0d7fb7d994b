package slack

import (
	"regexp"
	"strings"
)

// Slack's mention syntax lives here: how people name a person in what
// they type, and how a post names the people and groups it notifies.

// personMention is a user mention as Slack sends it in typed text:
// <@U024BE7LH> or <@U024BE7LH|name>.
var personMention = regexp.MustCompile(`^<@([UW][A-Z0-9]{2,})(\|[^>]*)?>$`)

// slackUser is a Slack ID of a user (U, W) or user group (S).
var slackUser = regexp.MustCompile(`^[UWS][A-Z0-9]{2,}$`)

// Person reads a user mention (bot.Workspace): the user ID and the
// subject "slack:<ID>".
func (w workspace) Person(text string) (user, subject string, ok bool) {
	m := personMention.FindStringSubmatch(text)
	if m == nil {
		return "", "", false
	}
	return m[1], "slack:" + m[1], true
}

// ChannelRef is Slack's link to a channel in message text.
func (w workspace) ChannelRef(channel string) string { return "<#" + channel + ">" }

// slackMentions renders the subjects a post notifies as Slack mentions: a
// person "slack:U…" as <@U…>, a user group "slack-group:S…" as
// <!subteam^S…>. Other subjects (another transport's) are left out.
func slackMentions(notify []string) []string {
	var out []string
	for _, n := range notify {
		switch {
		case slackUser.MatchString(strings.TrimPrefix(n, "slack:")) && strings.HasPrefix(n, "slack:"):
			out = append(out, "<@"+strings.TrimPrefix(n, "slack:")+">")
		case strings.HasPrefix(n, "slack-group:") && slackUser.MatchString(strings.TrimPrefix(n, "slack-group:")):
			out = append(out, "<!subteam^"+strings.TrimPrefix(n, "slack-group:")+">")
		}
	}
	return out
}
