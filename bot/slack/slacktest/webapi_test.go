package slacktest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/shiftwise/shiftwise-bot/bot/slack/slacktest"
)

func TestAuth(t *testing.T) {
	s := slacktest.New(t)
	ctx := context.Background()
	r, err := newAPI(s).AuthTestContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.UserID != s.BotUserID() || r.TeamID != slacktest.TeamID || r.BotID != slacktest.BotID {
		t.Errorf("auth.test = %+v", r)
	}
	for tok, want := range map[string]string{"xoxb-WRONG": "invalid_auth", "": "not_authed"} {
		_, err := slack.New(tok, slack.OptionAPIURL(s.APIURL())).AuthTestContext(ctx)
		if err == nil || err.Error() != want {
			t.Errorf("auth.test with %q: %v, want %s", tok, err, want)
		}
	}
	_, _, err = slack.New(s.AppToken(), slack.OptionAPIURL(s.APIURL())).PostMessageContext(ctx, "C1", slack.MsgOptionText("x", false))
	if err == nil || err.Error() != "not_allowed_token_type" {
		t.Errorf("chat.postMessage with the app token: %v", err)
	}
	calls := s.Calls("auth.test")
	if len(calls) != 3 || calls[0].Token != s.BotToken() || calls[1].Error == "" {
		t.Errorf("auth.test calls = %+v", calls)
	}

	resp, err := http.Post(s.APIURL()+"chat.teleport", "application/x-www-form-urlencoded", strings.NewReader("token="+s.BotToken()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.OK || body.Error != "unknown_method" {
		t.Errorf("unknown method answered %+v, %v", body, err)
	}
}

func TestChatMessages(t *testing.T) {
	s := slacktest.New(t)
	s.AddChannel("C0OPS", "ops")
	s.AddUser(slacktest.User{ID: "U1", Name: "alice"})
	api := newAPI(s)
	ctx := context.Background()

	ch, ts1, err := api.PostMessageContext(ctx, "C0OPS", slack.MsgOptionText("checking", false))
	if err != nil || ch != "C0OPS" {
		t.Fatalf("post: %q, %v", ch, err)
	}
	_, ts2, err := api.PostMessageContext(ctx, "#ops", slack.MsgOptionText("in thread", false), slack.MsgOptionTS(ts1))
	if err != nil {
		t.Fatal(err)
	}
	if ts2 <= ts1 || len(ts1) != len("1700000000.000100") {
		t.Errorf("timestamps %q then %q", ts1, ts2)
	}
	blocks := slack.MsgOptionBlocks(slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*PASSED*", false, false), nil, nil))
	if _, _, _, err := api.UpdateMessageContext(ctx, "C0OPS", ts1, slack.MsgOptionText("done", false), blocks); err != nil {
		t.Fatal(err)
	}
	// chat.update without blocks keeps the blocks, as Slack does.
	if _, _, _, err := api.UpdateMessageContext(ctx, "C0OPS", ts1, slack.MsgOptionText("done!", false)); err != nil {
		t.Fatal(err)
	}
	ets, err := api.PostEphemeralContext(ctx, "C0OPS", "U1", slack.MsgOptionText("only you", false), slack.MsgOptionTS(ts1))
	if err != nil || ets == "" {
		t.Fatalf("ephemeral: %q, %v", ets, err)
	}
	_, ts3, err := api.PostMessageContext(ctx, "C0OPS", slack.MsgOptionText("to delete", false))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.DeleteMessageContext(ctx, "C0OPS", ts3); err != nil {
		t.Fatal(err)
	}

	msgs := s.Messages("C0OPS")
	if len(msgs) != 3 {
		t.Fatalf("messages = %+v", msgs)
	}
	if m := msgs[0]; m.TS != ts1 || m.Text != "done!" || m.Updates != 2 || !strings.Contains(string(m.Blocks), "*PASSED*") {
		t.Errorf("updated message = %+v", m)
	}
	if m := msgs[1]; m.TS != ts2 || m.ThreadTS != ts1 || m.Ephemeral {
		t.Errorf("thread reply = %+v", m)
	}
	if m := msgs[2]; m.TS != ets || !m.Ephemeral || m.User != "U1" || m.ThreadTS != ts1 {
		t.Errorf("ephemeral = %+v", m)
	}

	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"unknown channel", func() error {
			_, _, err := api.PostMessageContext(ctx, "C0NOPE", slack.MsgOptionText("x", false))
			return err
		}, "channel_not_found"},
		{"no text", func() error { _, _, err := api.PostMessageContext(ctx, "C0OPS"); return err }, "no_text"},
		{"update unknown ts", func() error {
			_, _, _, err := api.UpdateMessageContext(ctx, "C0OPS", "1.2", slack.MsgOptionText("x", false))
			return err
		}, "message_not_found"},
		{"update ephemeral", func() error {
			_, _, _, err := api.UpdateMessageContext(ctx, "C0OPS", ets, slack.MsgOptionText("x", false))
			return err
		}, "message_not_found"},
		{"ephemeral unknown user", func() error {
			_, err := api.PostEphemeralContext(ctx, "C0OPS", "U0NOPE", slack.MsgOptionText("x", false))
			return err
		}, "user_not_found"},
	} {
		if err := tc.err(); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}

	// A user ID as channel posts to the DM.
	dm, _, err := api.PostMessageContext(ctx, "U1", slack.MsgOptionText("psst", false))
	if err != nil || !strings.HasPrefix(dm, "D") {
		t.Fatalf("DM: %q, %v", dm, err)
	}
	if got := s.Messages("U1"); len(got) != 1 || got[0].Channel != dm {
		t.Errorf("DM messages = %+v", got)
	}
	if c := s.Calls("chat.postMessage"); len(c) != 6 || c[0].Form.Get("text") != "checking" || c[0].Token != s.BotToken() {
		t.Errorf("%d chat.postMessage calls, first %+v", len(c), c[0])
	}
}

func TestRateLimitAndFail(t *testing.T) {
	s := slacktest.New(t)
	s.AddChannel("C0OPS", "ops")
	api := newAPI(s)
	ctx := context.Background()

	s.RateLimit("chat.postMessage", 1, 1500*time.Millisecond)
	_, _, err := api.PostMessageContext(ctx, "C0OPS", slack.MsgOptionText("x", false))
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 2*time.Second {
		t.Fatalf("rate limited call: %v, want RateLimitedError with RetryAfter 2s (1.5s rounded up)", err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C0OPS", slack.MsgOptionText("x", false)); err != nil {
		t.Errorf("after the limit: %v", err)
	}
	if c := s.Calls("chat.postMessage"); c[0].Status != http.StatusTooManyRequests || c[0].Error != "ratelimited" || c[1].Status != http.StatusOK {
		t.Errorf("calls = %+v", c)
	}
	// Bursts are not rate limited by themselves.
	for range 20 {
		if _, _, err := api.PostMessageContext(ctx, "C0OPS", slack.MsgOptionText("burst", false)); err != nil {
			t.Fatal(err)
		}
	}

	s.Fail("chat.postMessage", "not_in_channel", 2)
	for range 2 {
		if _, _, err := api.PostMessageContext(ctx, "C0OPS", slack.MsgOptionText("x", false)); err == nil || err.Error() != "not_in_channel" {
			t.Errorf("failed call: %v", err)
		}
	}
	if _, _, err := api.PostMessageContext(ctx, "C0OPS", slack.MsgOptionText("x", false)); err != nil {
		t.Errorf("after the failures: %v", err)
	}
	if _, err := s.WaitCalls("chat.postMessage", 25, time.Second); err != nil {
		t.Error(err)
	}
}

func TestFileUpload(t *testing.T) {
	s := slacktest.New(t)
	s.AddChannel("C0OPS", "ops")
	content := "line 1\nline 2\n" + strings.Repeat("log ", 1000)
	f, err := newAPI(s).UploadFileContext(context.Background(), slack.UploadFileParameters{
		Content: content, FileSize: len(content), Filename: "api.log", Title: "api logs",
		Channel: "C0OPS", ThreadTimestamp: "1700000000.000100", InitialComment: "last 1000 lines",
	})
	if err != nil {
		t.Fatal(err)
	}
	files := s.Files()
	if len(files) != 1 {
		t.Fatalf("files = %+v", files)
	}
	got := files[0]
	if got.ID != f.ID || got.Name != "api.log" || got.Title != "api logs" || got.Channel != "C0OPS" ||
		got.ThreadTS != "1700000000.000100" || got.InitialComment != "last 1000 lines" || string(got.Content) != content {
		t.Errorf("file = %+v", got)
	}
	for _, m := range []string{"files.getUploadURLExternal", "upload", "files.completeUploadExternal"} {
		if c := s.Calls(m); len(c) != 1 || c[0].Error != "" {
			t.Errorf("%s calls = %+v", m, c)
		}
	}
	if v := s.Violations(); len(v) != 0 {
		t.Errorf("violations %q", v)
	}
}

func TestLimits(t *testing.T) {
	s := slacktest.New(t)
	s.AddChannel("C0OPS", "ops")
	api := newAPI(s)
	ctx := context.Background()
	text := func(s string) *slack.TextBlockObject { return slack.NewTextBlockObject("plain_text", s, false, false) }
	section := func(s string) slack.Block {
		return slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", s, false, false), nil, nil)
	}
	post := func(opts ...slack.MsgOption) error {
		_, _, err := api.PostMessageContext(ctx, "C0OPS", append(opts, slack.MsgOptionText("fallback", false))...)
		return err
	}

	many := make([]slack.Block, 51)
	for i := range many {
		many[i] = slack.NewDividerBlock()
	}
	for name, opts := range map[string]slack.MsgOption{
		"51 blocks":    slack.MsgOptionBlocks(many...),
		"long section": slack.MsgOptionBlocks(section(strings.Repeat("é", 3001))),
		"long button": slack.MsgOptionBlocks(slack.NewActionBlock("b1",
			slack.NewButtonBlockElement("a", "v", text(strings.Repeat("x", 76))))),
	} {
		before := len(s.Violations())
		if err := post(opts); err == nil || err.Error() != "invalid_blocks" {
			t.Errorf("%s: %v, want invalid_blocks", name, err)
		}
		if len(s.Violations()) != before+1 {
			t.Errorf("%s: no violation recorded", name)
		}
	}
	// At the limits, accepted.
	if err := post(slack.MsgOptionBlocks(section(strings.Repeat("é", 3000)))); err != nil {
		t.Errorf("3000-character section: %v", err)
	}

	before := len(s.Violations())
	if err := post(slack.MsgOptionBlocks(slack.NewActionBlock("", slack.NewButtonBlockElement("a", "v", text("Go"))))); err != nil {
		t.Errorf("actions without block_id: %v (Slack accepts it)", err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C0OPS", slack.MsgOptionText(strings.Repeat("y", 40001), false)); err != nil {
		t.Errorf("long text: %v (Slack truncates)", err)
	}
	v := s.Violations()[before:]
	if len(v) != 2 || !strings.Contains(v[0], "without block_id") || !strings.Contains(v[1], "40001") {
		t.Errorf("violations %q", v)
	}
	msgs := s.Messages("C0OPS")
	if last := msgs[len(msgs)-1]; len(last.Text) != 40000 {
		t.Errorf("long text kept %d characters, want 40000", len(last.Text))
	}
}

func TestConversationsUsersGroups(t *testing.T) {
	s := slacktest.New(t)
	s.AddUser(slacktest.User{ID: "U1", Name: "alice", RealName: "Alice A"})
	s.AddUserGroup("S0ONCALL", "U1", "U2")
	api := newAPI(s)
	ctx := context.Background()

	for name, want := range map[string]string{
		"Inc-Upper":              "invalid_name_specials",
		"inc api":                "invalid_name_specials",
		strings.Repeat("a", 81):  "invalid_name_maxlength",
		"":                       "invalid_name_required",
		"---":                    "invalid_name_punctuation",
		"inc-20240101-api-500s":  "",
		"inc-20240101-api-500s ": "invalid_name_specials",
	} {
		_, err := api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: name})
		if got := errString(err); got != want {
			t.Errorf("create %q: %q, want %q", name, got, want)
		}
	}
	_, err := api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: "inc-20240101-api-500s"})
	if errString(err) != "name_taken" {
		t.Errorf("second create: %v, want name_taken", err)
	}
	var id string
	for _, c := range s.Channels() {
		if c.Name == "inc-20240101-api-500s" {
			id = c.ID
		}
	}
	ch, err := api.InviteUsersToConversationContext(ctx, id, "U1")
	if err != nil || ch.ID != id {
		t.Fatalf("invite: %+v, %v", ch, err)
	}
	if _, err := api.InviteUsersToConversationContext(ctx, id, "U1"); errString(err) != "already_in_channel" {
		t.Errorf("second invite: %v", err)
	}
	if _, err := api.InviteUsersToConversationContext(ctx, id, "U0NOPE"); errString(err) != "user_not_found" {
		t.Errorf("unknown user invite: %v", err)
	}
	info, err := api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: id})
	if err != nil || info.Name != "inc-20240101-api-500s" || !info.IsMember || info.NumMembers != 2 {
		t.Errorf("info: %+v, %v", info, err)
	}
	if _, err := api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: "C0NOPE"}); errString(err) != "channel_not_found" {
		t.Errorf("unknown info: %v", err)
	}
	u, err := api.GetUserInfoContext(ctx, "U1")
	if err != nil || u.Name != "alice" || u.RealName != "Alice A" || u.Profile.RealName != "Alice A" {
		t.Errorf("users.info: %+v, %v", u, err)
	}
	if _, err := api.GetUserInfoContext(ctx, "U0NOPE"); errString(err) != "user_not_found" {
		t.Errorf("unknown user: %v", err)
	}
	members, err := api.GetUserGroupMembersContext(ctx, "S0ONCALL")
	if err != nil || strings.Join(members, ",") != "U1,U2" {
		t.Errorf("usergroup: %v, %v", members, err)
	}
	if _, err := api.GetUserGroupMembersContext(ctx, "S0NOPE"); errString(err) != "no_such_subteam" {
		t.Errorf("unknown usergroup: %v", err)
	}
}

func TestResponseURL(t *testing.T) {
	s := slacktest.New(t)
	c := startClient(t, s, true)
	if err := s.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	env := s.SlashCommand(slacktest.SlashCommand{User: "U1", Channel: "C0OPS", Text: "health"})
	cmd := c.wait(wait, "slash command", envelope(env)).Data.(slack.SlashCommand)
	ctx := context.Background()
	if _, _, err := c.api.PostMessageContext(ctx, "", slack.MsgOptionResponseURL(cmd.ResponseURL, slack.ResponseTypeInChannel),
		slack.MsgOptionText("all PASSED", false)); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages("C0OPS")
	if len(msgs) != 1 || msgs[0].Text != "all PASSED" || msgs[0].Ephemeral {
		t.Fatalf("messages = %+v", msgs)
	}

	// A button press answered with replace_original rewrites the message.
	_, ts, err := c.api.PostMessageContext(ctx, "C0OPS", slack.MsgOptionText("approve?", false),
		slack.MsgOptionBlocks(slack.NewActionBlock("approval:1",
			slack.NewButtonBlockElement("approve", "1", slack.NewTextBlockObject("plain_text", "Approve", false, false)))))
	if err != nil {
		t.Fatal(err)
	}
	benv := s.BlockAction(slacktest.BlockAction{User: "U2", Channel: "C0OPS", MessageTS: ts, ActionID: "approve"})
	cb := c.wait(wait, "block action", envelope(benv)).Data.(slack.InteractionCallback)
	if _, _, err := c.api.PostMessageContext(ctx, "", slack.MsgOptionReplaceOriginal(cb.ResponseURL),
		slack.MsgOptionText("approved by <@U2>", false)); err != nil {
		t.Fatal(err)
	}
	msgs = s.Messages("C0OPS")
	if len(msgs) != 2 || msgs[1].TS != ts || msgs[1].Text != "approved by <@U2>" || msgs[1].Updates != 1 || msgs[1].Blocks != nil {
		t.Errorf("messages after replace_original = %+v", msgs)
	}
	if calls := s.Calls("response_url"); len(calls) != 2 || calls[1].JSON["replace_original"] != true {
		t.Errorf("response_url calls = %+v", calls)
	}
}

// The same client handles Web API and Socket Mode: a full round trip of a
// slash command answered in the channel and a thread reply to a mention.
func TestRoundTrip(t *testing.T) {
	s := slacktest.New(t)
	c := startClient(t, s, false)
	if err := s.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	env := s.SlashCommand(slacktest.SlashCommand{User: "U1", Channel: "C0OPS", Text: "health"})
	e := c.wait(wait, "slash command", envelope(env))
	c.ack(e, nil)
	cmd := e.Data.(slack.SlashCommand)
	_, ts, err := c.api.PostMessage(cmd.ChannelID, slack.MsgOptionText("health: PASSED", false))
	if err != nil {
		t.Fatal(err)
	}
	m := s.Mention(slacktest.Mention{User: "U2", Channel: "C0OPS", Text: "<@UBOT> details", ThreadTS: ts})
	me := c.wait(wait, "mention", envelope(m))
	c.ack(me, nil)
	if _, _, err := c.api.PostMessage("C0OPS", slack.MsgOptionText("details", false), slack.MsgOptionTS(ts)); err != nil {
		t.Fatal(err)
	}
	for _, e := range []slacktest.Envelope{env, m} {
		if _, err := s.WaitAck(e, wait); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := s.WaitMessages("C0OPS", 2, wait)
	if err != nil || msgs[1].ThreadTS != ts {
		t.Errorf("messages %+v, %v", msgs, err)
	}
	if u := s.Unacked(); len(u) != 0 {
		t.Errorf("unacked %+v", u)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestConversationsArchive: conversations.archive as Slack documents it,
// and an archived channel refusing posts and invitations.
func TestConversationsArchive(t *testing.T) {
	s := slacktest.New(t)
	s.AddUser(slacktest.User{ID: "U1"})
	api := newAPI(s)
	ctx := context.Background()
	ch, err := api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: "inc-archive-me"})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.ArchiveConversationContext(ctx, ch.ID); err != nil {
		t.Fatalf("archive: %v", err)
	}
	if err := api.ArchiveConversationContext(ctx, ch.ID); errString(err) != "already_archived" {
		t.Errorf("second archive: %v, want already_archived", err)
	}
	if err := api.ArchiveConversationContext(ctx, "C0NOPE"); errString(err) != "channel_not_found" {
		t.Errorf("unknown archive: %v, want channel_not_found", err)
	}
	other, err := api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: "not-mine"})
	if err != nil {
		t.Fatal(err)
	}
	s.SetMembers(other.ID, "U1")
	if err := api.ArchiveConversationContext(ctx, other.ID); errString(err) != "not_in_channel" {
		t.Errorf("archive without membership: %v, want not_in_channel", err)
	}
	info, err := api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: ch.ID})
	if err != nil || !info.IsArchived {
		t.Errorf("info after archive: %+v, %v", info, err)
	}
	if _, _, err := api.PostMessageContext(ctx, ch.ID, slack.MsgOptionText("hi", false)); errString(err) != "is_archived" {
		t.Errorf("post to archived: %v, want is_archived", err)
	}
	if _, err := api.InviteUsersToConversationContext(ctx, ch.ID, "U1"); errString(err) != "is_archived" {
		t.Errorf("invite to archived: %v, want is_archived", err)
	}
	if len(s.Messages(ch.ID)) != 0 {
		t.Errorf("archived channel got messages: %+v", s.Messages(ch.ID))
	}
	if _, err := api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: "inc-archive-me"}); errString(err) != "name_taken" {
		t.Errorf("the archived channel's name: %v, want name_taken", err)
	}
	var archived []string
	for _, c := range s.Channels() {
		if c.Archived {
			archived = append(archived, c.ID)
		}
	}
	if len(archived) != 1 || archived[0] != ch.ID {
		t.Errorf("archived channels %v, want [%s]", archived, ch.ID)
	}
	calls := s.Calls("conversations.archive")
	if len(calls) != 4 || calls[0].Param("channel") != ch.ID || calls[0].Error != "" || calls[1].Error != "already_archived" {
		t.Errorf("archive calls: %+v", calls)
	}
}
