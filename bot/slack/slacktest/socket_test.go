package slacktest_test

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/shiftwise/shiftwise-bot/bot/slack/slacktest"
)

const wait = 5 * time.Second

func TestHelloAndConnected(t *testing.T) {
	s := slacktest.New(t)
	c := startClient(t, s, false)
	c.wait(wait, "connected", ofType(socketmode.EventTypeConnected))
	hello := c.wait(wait, "hello", ofType(socketmode.EventTypeHello))
	if err := s.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	r := hello.Request
	if r.NumConnections != 1 || r.ConnectionInfo.AppID != slacktest.AppID || r.DebugInfo.ApproximateConnectionTime != 3600 {
		t.Errorf("hello = %+v, want num_connections 1, app_id %s, approximate_connection_time 3600", r, slacktest.AppID)
	}
	if s.Opens() != 1 || s.Connections() != 1 {
		t.Errorf("Opens, Connections = %d, %d; want 1, 1", s.Opens(), s.Connections())
	}
	if calls := s.Calls("apps.connections.open"); len(calls) != 1 || calls[0].Token != s.AppToken() {
		t.Errorf("apps.connections.open calls = %+v, want one with the app token", calls)
	}
}

func TestSlashCommandAckAndLatency(t *testing.T) {
	s := slacktest.New(t)
	c := startClient(t, s, false)
	if err := s.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	env := s.SlashCommand(slacktest.SlashCommand{User: "U024BE7LH", Channel: "C0OPS", ChannelName: "ops", Text: "health"})
	if !env.Delivered() || env.Type != "slash_commands" || !env.AcceptsResponsePayload {
		t.Fatalf("envelope = %+v", env)
	}
	e := c.wait(wait, "slash command", envelope(env))
	if e.Type != socketmode.EventTypeSlashCommand {
		t.Fatalf("event type %q, want %q", e.Type, socketmode.EventTypeSlashCommand)
	}
	cmd, ok := e.Data.(slack.SlashCommand)
	if !ok {
		t.Fatalf("data %T, want slack.SlashCommand", e.Data)
	}
	if cmd.Command != "/shiftwise" || cmd.Text != "health" || cmd.UserID != "U024BE7LH" || cmd.UserName != "u024be7lh" ||
		cmd.ChannelID != "C0OPS" || cmd.ChannelName != "ops" || cmd.TeamID != slacktest.TeamID ||
		cmd.APIAppID != slacktest.AppID || cmd.ResponseURL == "" || cmd.TriggerID == "" || cmd.IsEnterpriseInstall {
		t.Errorf("slash command = %+v", cmd)
	}
	if !e.Request.AcceptsResponsePayload {
		t.Error("accepts_response_payload lost")
	}
	if len(s.Unacked()) != 1 {
		t.Errorf("Unacked = %d before the ack, want 1", len(s.Unacked()))
	}

	c.ack(e, map[string]any{"text": "checking…"})
	ack, err := s.WaitAck(env, wait)
	if err != nil {
		t.Fatal(err)
	}
	if lat := ack.Latency(); lat <= 0 || lat > 3*time.Second || lat != ack.At.Sub(env.SentAt) {
		t.Errorf("ack latency %v (At %v, SentAt %v)", lat, ack.At, env.SentAt)
	}
	if string(ack.Payload) != `{"text":"checking…"}` {
		t.Errorf("ack payload %s", ack.Payload)
	}
	if got := s.Acks(); len(got) != 1 || got[0].EnvelopeID != env.ID {
		t.Errorf("Acks = %+v", got)
	}
	if len(s.Unacked()) != 0 {
		t.Errorf("Unacked = %+v after the ack", s.Unacked())
	}
	// The ack payload of a slash command is shown to the user, ephemerally.
	msgs := s.Messages("C0OPS")
	if len(msgs) != 1 || msgs[0].Text != "checking…" || !msgs[0].Ephemeral || msgs[0].User != "U024BE7LH" {
		t.Errorf("messages after the ack payload = %+v", msgs)
	}
}

func TestMentionInThread(t *testing.T) {
	s := slacktest.New(t)
	c := startClient(t, s, false)
	if err := s.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	env := s.Mention(slacktest.Mention{User: "U1", Channel: "C0OPS", Text: "<@UBOT> approve", ThreadTS: "1700000000.000100"})
	if env.EventID == "" || env.Type != "events_api" || env.RetryAttempt != 0 {
		t.Fatalf("envelope = %+v", env)
	}
	e := c.wait(wait, "mention", envelope(env))
	if e.Type != socketmode.EventTypeEventsAPI {
		t.Fatalf("event type %q", e.Type)
	}
	outer, ok := e.Data.(slackevents.EventsAPIEvent)
	if !ok {
		t.Fatalf("data %T", e.Data)
	}
	cb, ok := outer.Data.(*slackevents.EventsAPICallbackEvent)
	if !ok || cb.EventID != env.EventID || cb.EventTime == 0 || cb.TeamID != slacktest.TeamID {
		t.Errorf("callback = %+v, want event_id %s", outer.Data, env.EventID)
	}
	m, ok := outer.InnerEvent.Data.(*slackevents.AppMentionEvent)
	if !ok {
		t.Fatalf("inner event %T", outer.InnerEvent.Data)
	}
	if m.User != "U1" || m.Channel != "C0OPS" || m.Text != "<@UBOT> approve" || m.ThreadTimeStamp != "1700000000.000100" ||
		m.TimeStamp == "" || m.EventTimeStamp != m.TimeStamp {
		t.Errorf("app_mention = %+v", m)
	}
	if e.Request.RetryAttempt != 0 || e.Request.AcceptsResponsePayload {
		t.Errorf("request = %+v", e.Request)
	}
	c.ack(e, nil)
	if ack, err := s.WaitAck(env, wait); err != nil || ack.Payload != nil {
		t.Fatalf("ack %+v, %v", ack, err)
	}
}

func TestBlockActionRoutesByBlockID(t *testing.T) {
	s := slacktest.New(t)
	c := startClient(t, s, false)
	if err := s.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	s.AddChannel("C0OPS", "ops")
	_, ts, err := c.api.PostMessage("C0OPS", slack.MsgOptionTS("1700000000.000100"),
		slack.MsgOptionText("rollback api requested", false),
		slack.MsgOptionBlocks(
			slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*rollback api*", false, false), nil, nil),
			slack.NewActionBlock("approval:42",
				slack.NewButtonBlockElement("approve", "req-42", slack.NewTextBlockObject("plain_text", "Approve", false, false)),
				slack.NewButtonBlockElement("deny", "req-42", slack.NewTextBlockObject("plain_text", "Deny", false, false)),
			)))
	if err != nil {
		t.Fatal(err)
	}
	env := s.BlockAction(slacktest.BlockAction{User: "U2", Channel: "C0OPS", MessageTS: ts, ActionID: "approve"})
	e := c.wait(wait, "block action", envelope(env))
	if e.Type != socketmode.EventTypeInteractive {
		t.Fatalf("event type %q", e.Type)
	}
	cb, ok := e.Data.(slack.InteractionCallback)
	if !ok {
		t.Fatalf("data %T", e.Data)
	}
	if cb.Type != slack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) != 1 {
		t.Fatalf("callback type %q, block actions %d", cb.Type, len(cb.ActionCallback.BlockActions))
	}
	a := cb.ActionCallback.BlockActions[0]
	if a.ActionID != "approve" || a.BlockID != "approval:42" || a.Value != "req-42" || a.Text.Text != "Approve" || a.Type != "button" {
		t.Errorf("action = %+v", a)
	}
	if cb.User.ID != "U2" || cb.Channel.ID != "C0OPS" || cb.Channel.Name != "ops" || cb.Container.MessageTs != ts ||
		cb.Container.ChannelID != "C0OPS" || cb.Container.ThreadTs != "1700000000.000100" ||
		cb.Message.Timestamp != ts || cb.Message.ThreadTimestamp != "1700000000.000100" ||
		cb.Message.Text != "rollback api requested" || len(cb.Message.Blocks.BlockSet) != 2 ||
		cb.ResponseURL == "" || cb.TriggerID == "" || cb.APIAppID != slacktest.AppID {
		t.Errorf("callback = %+v", cb)
	}

	// slack-go's own router finds the handler by action_id only because
	// block_id is a string.
	h := socketmode.NewSocketmodeHandler(c.sm)
	routed := make(chan string, 1)
	h.HandleInteractionBlockAction("approve", func(e *socketmode.Event, _ *socketmode.Client) {
		routed <- e.Data.(slack.InteractionCallback).ActionCallback.BlockActions[0].BlockID
	})
	h.DispatchEvent(e)
	select {
	case got := <-routed:
		if got != "approval:42" {
			t.Errorf("routed block_id %q", got)
		}
	case <-time.After(wait):
		t.Fatal("SocketmodeHandler did not route the block action")
	}
	c.ack(e, nil)
	if _, err := s.WaitAck(env, wait); err != nil {
		t.Fatal(err)
	}
	if v := s.Violations(); len(v) != 0 {
		t.Errorf("violations %q", v)
	}

	// Pressing a button that is not in the message cannot happen in Slack.
	s.BlockAction(slacktest.BlockAction{User: "U2", Channel: "C0OPS", MessageTS: ts, ActionID: "nope"})
	if v := s.Violations(); len(v) != 1 || !strings.Contains(v[0], `"nope"`) {
		t.Errorf("violations %q, want one for the missing button", v)
	}
}

// Without a string block_id slack-go files an action as a legacy attachment
// action, and its SocketmodeHandler never routes it: the fake always sends one.
func TestBlockIDMustBeString(t *testing.T) {
	s := slacktest.New(t)
	c := startClient(t, s, false)
	if err := s.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	env := s.SendRaw("interactive", json.RawMessage(`{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"approve","value":"x","type":"button"}]}`))
	e := c.wait(wait, "raw block action", envelope(env))
	cb := e.Data.(slack.InteractionCallback)
	if len(cb.ActionCallback.BlockActions) != 0 || len(cb.ActionCallback.AttachmentActions) != 1 {
		t.Errorf("block actions %d, attachment actions %d; want 0, 1", len(cb.ActionCallback.BlockActions), len(cb.ActionCallback.AttachmentActions))
	}
}

// slack-go drops a frame whose integers are strings: the fake always sends
// JSON integers.
func TestStringIntegerFrameDropped(t *testing.T) {
	s := slacktest.New(t)
	c := startClient(t, s, true)
	if err := s.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SendFrame([]byte(`{"envelope_id":"e-1","type":"events_api","accepts_response_payload":false,"retry_attempt":"1","retry_reason":"timeout","payload":{}}`)); err != nil {
		t.Fatal(err)
	}
	c.wait(wait, "bad message", ofType(socketmode.EventTypeErrorBadMessage))
	env := s.Mention(slacktest.Mention{User: "U1", Channel: "C0OPS", Text: "<@UBOT> hi"})
	if _, err := s.WaitAck(env, wait); err != nil {
		t.Fatal(err)
	}
	if n := c.count(ofType(socketmode.EventTypeEventsAPI)); n != 1 {
		t.Errorf("%d events_api events, want 1 (the bad frame dropped)", n)
	}
}

func TestUnackedEventRedelivered(t *testing.T) {
	s := slacktest.New(t, slacktest.WithRedeliverAfter(200*time.Millisecond))
	c := startClient(t, s, false)
	if err := s.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	first := s.Mention(slacktest.Mention{User: "U1", Channel: "C0OPS", Text: "<@UBOT> health"})
	c.wait(wait, "first delivery", envelope(first)) // not acked
	retry := c.wait(wait, "redelivery", func(e socketmode.Event) bool {
		return e.Request != nil && e.Request.RetryAttempt == 1
	})
	if retry.Request.EnvelopeID == first.ID || retry.Request.RetryReason != "timeout" {
		t.Errorf("redelivery request = %+v", retry.Request)
	}
	cb := retry.Data.(slackevents.EventsAPIEvent).Data.(*slackevents.EventsAPICallbackEvent)
	if cb.EventID != first.EventID {
		t.Errorf("redelivered event_id %q, want %q", cb.EventID, first.EventID)
	}
	c.ack(retry, nil)
	if _, err := s.WaitAck(slacktest.Envelope{ID: retry.Request.EnvelopeID}, wait); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // three more intervals: no further retry once acked
	if n := c.count(func(e socketmode.Event) bool { return e.Type == socketmode.EventTypeEventsAPI }); n != 2 {
		t.Errorf("%d deliveries, want 2", n)
	}
	if u := s.Unacked(); len(u) != 1 || u[0].ID != first.ID {
		t.Errorf("Unacked = %+v, want the first delivery only", u)
	}
}

func TestRedeliveryStopsAfterThreeRetries(t *testing.T) {
	s := slacktest.New(t, slacktest.WithRedeliverAfter(50*time.Millisecond))
	c := startClient(t, s, false)
	if err := s.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	env := s.Mention(slacktest.Mention{User: "U1", Channel: "C0OPS", Text: "<@UBOT> health"})
	c.wait(wait, "third retry", func(e socketmode.Event) bool { return e.Request != nil && e.Request.RetryAttempt == 3 })
	time.Sleep(300 * time.Millisecond)
	var attempts []int
	for _, e := range s.Envelopes() {
		if e.EventID != env.EventID {
			t.Errorf("envelope %+v has another event_id", e)
		}
		attempts = append(attempts, e.RetryAttempt)
	}
	if len(attempts) != 4 || attempts[3] != 3 {
		t.Errorf("retry attempts %v, want [0 1 2 3]", attempts)
	}
	// Slash commands are never redelivered.
	s.SlashCommand(slacktest.SlashCommand{User: "U1", Channel: "C0OPS", Text: "health"})
	time.Sleep(200 * time.Millisecond)
	if n := len(s.Envelopes()); n != 5 {
		t.Errorf("%d envelopes, want 5 (no slash command retry)", n)
	}
}

func TestDisconnectReconnects(t *testing.T) {
	for _, reason := range []string{"warning", "refresh_requested", "link_disabled"} {
		t.Run(reason, func(t *testing.T) {
			s := slacktest.New(t)
			c := startClient(t, s, true)
			if err := s.WaitConnected(1, wait); err != nil {
				t.Fatal(err)
			}
			s.Disconnect(reason) // the told connection no longer counts
			if err := s.WaitConnected(1, wait); err != nil {
				t.Fatal(err)
			}
			if s.Opens() != 2 {
				t.Errorf("Opens = %d, want 2", s.Opens())
			}
			env := s.SlashCommand(slacktest.SlashCommand{User: "U1", Channel: "C0OPS", Text: "health"})
			c.wait(wait, "slash command after reconnect", envelope(env))
			if _, err := s.WaitAck(env, wait); err != nil {
				t.Fatal(err)
			}
			// slack-go reports the disconnect only as a new connection.
			if n := c.count(ofType(socketmode.EventTypeConnected)); n != 2 {
				t.Errorf("%d connected events, want 2", n)
			}
		})
	}
}

func TestDropConnectionsReconnects(t *testing.T) {
	s := slacktest.New(t)
	c := startClient(t, s, true)
	if err := s.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	s.DropConnections()
	if err := s.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	if s.Opens() != 2 {
		t.Errorf("Opens = %d, want 2", s.Opens())
	}
	env := s.Mention(slacktest.Mention{User: "U1", Channel: "C0OPS", Text: "<@UBOT> health"})
	c.wait(wait, "mention after reconnect", envelope(env))
	if _, err := s.WaitAck(env, wait); err != nil {
		t.Fatal(err)
	}
}

// Events sent while no connection is live: events_api comes again once a
// connection is back, a slash command is lost (Slack shows dispatch_failed).
func TestNoConnection(t *testing.T) {
	s := slacktest.New(t, slacktest.WithRedeliverAfter(100*time.Millisecond))
	ev := s.Mention(slacktest.Mention{User: "U1", Channel: "C0OPS", Text: "<@UBOT> health"})
	sc := s.SlashCommand(slacktest.SlashCommand{User: "U1", Channel: "C0OPS", Text: "health"})
	if ev.Delivered() || sc.Delivered() {
		t.Fatal("delivered without a connection")
	}
	c := startClient(t, s, true)
	got := c.wait(wait, "redelivered mention", func(e socketmode.Event) bool {
		return e.Type == socketmode.EventTypeEventsAPI && e.Request.RetryAttempt > 0
	})
	if got.Data.(slackevents.EventsAPIEvent).Data.(*slackevents.EventsAPICallbackEvent).EventID != ev.EventID {
		t.Error("another event redelivered")
	}
	if n := c.count(ofType(socketmode.EventTypeSlashCommand)); n != 0 {
		t.Errorf("%d slash commands arrived, want 0", n)
	}
}

func TestRoundRobinAcrossConnections(t *testing.T) {
	s := slacktest.New(t)
	a := startClient(t, s, true)
	if err := s.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	b := startClient(t, s, true)
	if err := s.WaitConnected(2, wait); err != nil {
		t.Fatal(err)
	}
	if h := b.wait(wait, "hello", ofType(socketmode.EventTypeHello)); h.Request.NumConnections != 2 {
		t.Errorf("second hello num_connections %d, want 2", h.Request.NumConnections)
	}
	var envs []slacktest.Envelope
	for i := range 4 {
		envs = append(envs, s.SlashCommand(slacktest.SlashCommand{User: "U1", Channel: "C0OPS", Text: strconv.Itoa(i)}))
	}
	for _, e := range envs {
		if _, err := s.WaitAck(e, wait); err != nil {
			t.Fatal(err)
		}
	}
	na, nb := a.count(ofType(socketmode.EventTypeSlashCommand)), b.count(ofType(socketmode.EventTypeSlashCommand))
	if na != 2 || nb != 2 {
		t.Errorf("connections got %d and %d envelopes, want 2 and 2", na, nb)
	}
}

func TestMaxConnections(t *testing.T) {
	s := slacktest.New(t, slacktest.WithMaxConnections(1))
	startClient(t, s, true)
	if err := s.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	_, _, err := newAPI(s).StartSocketModeContext(context.Background())
	if err == nil || err.Error() != "too_many_websockets" {
		t.Errorf("second open: %v, want too_many_websockets", err)
	}
}

// slack-go reconnects when it sees no ping for its ping interval: the fake's
// pings keep one connection alive.
func TestPingsKeepConnectionAlive(t *testing.T) {
	s := slacktest.New(t, slacktest.WithPingInterval(50*time.Millisecond))
	startClient(t, s, true, socketmode.OptionPingInterval(300*time.Millisecond))
	if err := s.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if s.Opens() != 1 {
		t.Errorf("Opens = %d after 1s of pings, want 1", s.Opens())
	}
}

// The wire format, read without slack-go: JSON integers, Slack's field names,
// and the refusal of oversized acks.
func TestWireFormatAndOversizedAck(t *testing.T) {
	s := slacktest.New(t)
	_, url, err := newAPI(s).StartSocketModeContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "ws://127.0.0.1:") {
		t.Errorf("url %q", url)
	}
	ws, _, err := websocket.DefaultDialer.Dial(url, map[string][]string{"Origin": {"https://api.slack.com"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	var hello map[string]any
	if err := ws.ReadJSON(&hello); err != nil {
		t.Fatal(err)
	}
	if hello["type"] != "hello" || hello["num_connections"] != float64(1) {
		t.Errorf("hello %v", hello)
	}
	if again, _, err := websocket.DefaultDialer.Dial(url, nil); err == nil {
		again.Close()
		t.Error("a ws URL could be used twice")
	}

	env := s.Mention(slacktest.Mention{User: "U1", Channel: "C0OPS", Text: "<@UBOT> x"})
	var frame map[string]json.RawMessage
	if err := ws.ReadJSON(&frame); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"envelope_id": strconv.Quote(env.ID), "type": `"events_api"`, "accepts_response_payload": "false",
		"retry_attempt": "0", "retry_reason": `""`,
	} {
		if string(frame[k]) != want {
			t.Errorf("%s = %s, want %s", k, frame[k], want)
		}
	}
	big := `{"envelope_id":"` + env.ID + `","payload":{"text":"` + strings.Repeat("x", 21*1024) + `"}}`
	if err := ws.WriteMessage(websocket.TextMessage, []byte(big)); err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			break // closed by the fake
		}
	}
	if len(s.Acks()) != 0 {
		t.Errorf("oversized ack recorded: %+v", s.Acks())
	}
}

func TestInvalidAppToken(t *testing.T) {
	s := slacktest.New(t)
	api := slack.New(s.BotToken(), slack.OptionAppLevelToken("xapp-1-WRONG"), slack.OptionAPIURL(s.APIURL()))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	done := make(chan error, 1)
	sm := socketmode.New(api)
	go func() { done <- sm.RunContext(ctx) }()
	go func() { // drain events so the client is never blocked on them
		for {
			select {
			case <-sm.Events:
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err == nil || err.Error() != "invalid_auth" {
			t.Errorf("RunContext: %v, want invalid_auth", err)
		}
	case <-time.After(wait):
		t.Fatal("slack-go did not give up on a wrong app token")
	}
	// The bot token cannot open connections.
	bot := slack.New(s.BotToken(), slack.OptionAppLevelToken(s.BotToken()), slack.OptionAPIURL(s.APIURL()))
	if _, _, err := bot.StartSocketModeContext(context.Background()); err == nil || err.Error() != "not_allowed_token_type" {
		t.Errorf("open with the bot token: %v, want not_allowed_token_type", err)
	}
	if s.Opens() != 0 {
		t.Errorf("Opens = %d", s.Opens())
	}
}

// TestLoad drives 200 envelopes/s (for 2 s, or SLACKTEST_LOAD_SECONDS) through
// a slack-go client that acks at once.
func TestLoad(t *testing.T) {
	secs := 2
	if v, err := strconv.Atoi(os.Getenv("SLACKTEST_LOAD_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	if testing.Short() {
		secs = 1
	}
	s := slacktest.New(t)
	startClient(t, s, true)
	if err := s.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	r := s.Load(200, time.Duration(secs)*time.Second, wait, func(i int) slacktest.Envelope {
		if i%2 == 0 {
			return s.Mention(slacktest.Mention{User: "U1", Channel: "C0OPS", Text: "<@UBOT> health"})
		}
		return s.SlashCommand(slacktest.SlashCommand{User: "U1", Channel: "C0OPS", Text: "health"})
	})
	t.Logf("load: %+v", r)
	if r.Sent != 200*secs || r.Acked != r.Sent {
		t.Errorf("sent %d, acked %d, want %d both", r.Sent, r.Acked, 200*secs)
	}
	// Latency is measured by BenchmarkEnvelopeRoundTrip and the bot's
	// ack benchmarks, not asserted here: the machines are shared.
	var redelivered int
	for _, e := range s.Envelopes() {
		if e.RetryAttempt > 0 {
			redelivered++
		}
	}
	if redelivered != 0 {
		t.Errorf("%d redeliveries under load", redelivered)
	}
}

func BenchmarkEnvelopeRoundTrip(b *testing.B) {
	s := slacktest.New(b)
	startClient(b, s, true)
	if err := s.WaitConnected(1, wait); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		env := s.SlashCommand(slacktest.SlashCommand{User: "U1", Channel: "C0OPS", Text: "health"})
		if _, err := s.WaitAck(env, wait); err != nil {
			b.Fatal(err)
		}
	}
}
