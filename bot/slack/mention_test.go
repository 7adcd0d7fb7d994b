package slack

import (
	"fmt"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// Person reads exactly Slack's user mentions, whole: anything else (a
// group, a channel, a plain name, a mention with text around it) names
// no person.
func TestPersonReadsOnlyAWholeUserMention(t *testing.T) {
	w := workspace{}
	for text, want := range map[string]string{
		"<@U024BE7LH>":          "U024BE7LH",
		"<@W024BE7LH|alice>":    "W024BE7LH",
		"<@UDEV|dev>":           "UDEV",
		"<@U1>":                 "", // too short for an ID
		"<@u024be7lh>":          "",
		"<@S024BE7LH>":          "", // a user group is not a person
		"<!subteam^S024BE7LH>":  "",
		"<#C024BE7LH>":          "",
		"<@U024BE7LH":           "",
		"<@U024BE7LH> ":         "",
		" <@U024BE7LH>":         "",
		"<@U024BE7LH><@UOTHER>": "",
		"@alice":                "",
		"alice":                 "",
		"slack:U024BE7LH":       "",
		"":                      "",
	} {
		user, subject, ok := w.Person(text)
		if ok != (want != "") || user != want || (ok && subject != "slack:"+want) || (!ok && subject != "") {
			t.Errorf("Person(%q) = %q, %q, %v; want user %q", text, user, subject, ok, want)
		}
	}
	if got := w.ChannelRef("C024BE7LH"); got != "<#C024BE7LH>" {
		t.Errorf("ChannelRef = %q", got)
	}
}

// A post mentions the Slack people and groups it notifies, in Slack's
// syntax, and nobody else.
func TestSlackMentionsRenderSlackSubjectsOnly(t *testing.T) {
	for _, tc := range []struct {
		notify []string
		want   string
	}{
		{[]string{"slack:U024BE7LH"}, "<@U024BE7LH>"},
		{[]string{"slack-group:S0ONCALL"}, "<!subteam^S0ONCALL>"},
		{[]string{"slack:U1", "slack-group:S2X", "slack:W3Y"}, "<!subteam^S2X> <@W3Y>"},
		{[]string{"console:alice", "slack-group:", "slack:", "slack:u024", "slack:U02 4", "slack-group:S0>!channel", "U024BE7LH"}, ""},
		{nil, ""},
	} {
		if got := strings.Join(slackMentions(tc.notify), " "); got != tc.want {
			t.Errorf("slackMentions(%q) = %q, want %q", tc.notify, got, tc.want)
		}
	}
}

// The core's title limit is one Slack shows whole: a title of
// bot.MaxTitle characters is the header, uncut.
func TestHeaderHoldsATitleOfTheCoresLimit(t *testing.T) {
	for _, ch := range []string{"x", "é", "界"} {
		title := strings.Repeat(ch, bot.MaxTitle)
		r := Render(bot.Message{Title: title}, Context{})
		h, ok := r.Blocks[0].(*slack.HeaderBlock)
		if !ok || h.Text.Text != title {
			t.Errorf("a title of %d %q: header %s", bot.MaxTitle, ch, fmt.Sprint(r.Blocks[0]))
		}
	}
}
