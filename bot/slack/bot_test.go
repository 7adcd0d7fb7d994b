package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/bot/slack/slacktest"
)

const wait = 10 * time.Second // hang guard for every wait below

// testLevels gives each Slack user a level; unknown users have none.
type testLevels map[string]bot.Level

func (l testLevels) Authorize(_ context.Context, subject string, c *bot.Command, _ bot.Args) bot.Decision {
	if c.Level == bot.LevelNone || l[subject] >= c.Level {
		return bot.Decision{Allowed: true}
	}
	return bot.Decision{Level: c.Level, Reason: "`" + c.Name + "` needs " + c.Level.String() + "."}
}

type noRedact struct{}

func (noRedact) Redact(s string) string { return s }

// maskRedact masks the one secret the tests use.
type maskRedact struct{}

func (maskRedact) Redact(s string) string { return strings.ReplaceAll(s, "hunter2", "[REDACTED]") }

// rig is the real core with test commands, the real transport, and the
// Slack fake between them.
type rig struct {
	fake    *slacktest.Server
	runs    map[string]*atomic.Int32
	actions atomic.Int32
	release chan struct{} // closed to let `steps` finish
	// pressed hears each press of test.press, which then waits for
	// pressGate to close while holdPresses is set.
	pressed     chan struct{}
	pressGate   chan struct{}
	holdPresses atomic.Bool
	cancel      context.CancelFunc
	done        chan error
}

func (r *rig) ran(name string) int { return int(r.runs[name].Load()) }

func newRig(t *testing.T, tweak func(*Options)) *rig {
	t.Helper()
	r := &rig{runs: map[string]*atomic.Int32{}, release: make(chan struct{}), pressed: make(chan struct{}, 100), pressGate: make(chan struct{})}
	cmd := func(name string, level bot.Level, fn func(context.Context, bot.Request) (bot.Message, error)) bot.Command {
		r.runs[name] = &atomic.Int32{}
		counter := r.runs[name]
		return bot.Command{Name: name, Summary: name, Level: level, MaxArgs: -1, Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			counter.Add(1)
			return fn(ctx, req)
		}}
	}
	reg, err := bot.NewRegistry(
		cmd("ok", bot.Level1, func(_ context.Context, req bot.Request) (bot.Message, error) {
			return bot.Message{Title: "All good", Status: bot.StatusOK, Text: "args: " + strings.Join(req.Args.Positional, ",")}, nil
		}),
		cmd("slow", bot.Level1, func(ctx context.Context, _ bot.Request) (bot.Message, error) {
			select {
			case <-time.After(600 * time.Millisecond):
			case <-ctx.Done():
				return bot.Message{}, ctx.Err()
			}
			return bot.Message{Title: "Slow but done", Status: bot.StatusOK}, nil
		}),
		cmd("admin", bot.Level3, func(context.Context, bot.Request) (bot.Message, error) {
			return bot.Message{Title: "admin ran"}, nil
		}),
		cmd("big", bot.Level1, func(context.Context, bot.Request) (bot.Message, error) {
			return bot.Message{Title: "Big output", Code: []bot.CodeBlock{{Title: "log", Text: strings.Repeat("line of output 0123456789\n", 8000)}}}, nil
		}),
		cmd("steps", bot.Level1, func(ctx context.Context, _ bot.Request) (bot.Message, error) {
			for i := 1; i <= 20; i++ {
				bot.Report(ctx, bot.Message{Title: fmt.Sprintf("Step %d of 20", i), Text: "logging in with hunter2"})
			}
			select {
			case <-r.release:
			case <-ctx.Done():
				return bot.Message{}, ctx.Err()
			}
			return bot.Message{Title: "Steps done", Status: bot.StatusOK, Text: "hunter2 is still secret"}, nil
		}),
		cmd("confirm", bot.Level1, func(context.Context, bot.Request) (bot.Message, error) {
			return bot.Message{Title: "Press it", Buttons: []bot.Button{{ActionID: "test.press", Text: "Press", Value: "v-1"}}}, nil
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: testLevels{"slack:UOPS": bot.Level1}, Redactor: maskRedact{},
		Actions: map[string]bot.ActionHandler{"test.press": func(_ context.Context, a bot.Action) (bot.Message, error) {
			r.actions.Add(1)
			r.pressed <- struct{}{}
			if r.holdPresses.Load() {
				<-r.pressGate
			}
			if a.Value != "v-1" {
				return bot.Message{Title: "Refused", Status: bot.StatusFailed, Text: "stale or forged button"}, nil
			}
			return bot.Message{Title: "Pressed", Status: bot.StatusOK}, nil
		}}})
	if err != nil {
		t.Fatal(err)
	}
	r.fake = slacktest.New(t)
	o := Options{AppToken: r.fake.AppToken(), BotToken: r.fake.BotToken(), APIURL: r.fake.APIURL(), Core: engine,
		ProgressAfter: 200 * time.Millisecond, PostEvery: time.Millisecond, PostBurst: 100}
	if tweak != nil {
		tweak(&o)
	}
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(wait):
			t.Error("Run did not return after cancel")
		}
	})
	if err := r.fake.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) slash(t *testing.T, channel, user, text string) slacktest.Envelope {
	t.Helper()
	env := r.fake.SlashCommand(slacktest.SlashCommand{User: user, Channel: channel, Text: text})
	if _, err := r.fake.WaitAck(env, 3*time.Second); err != nil { // Slack's own limit
		t.Fatalf("no ack within Slack's 3 s for %q: %v", text, err)
	}
	return env
}

func (r *rig) messages(t *testing.T, channel string, n int) []slacktest.Message {
	t.Helper()
	msgs, err := r.fake.WaitMessages(channel, n, wait)
	if err != nil {
		t.Fatalf("waiting for %d messages in %s: %v (have %+v)", n, channel, err, r.fake.Messages(channel))
	}
	return msgs
}

// texts returns every "text" string in a message's blocks, decoded.
func texts(m slacktest.Message) string {
	var v any
	_ = json.Unmarshal(m.Blocks, &v)
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && k == "text" {
					out = append(out, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return strings.Join(out, "\n")
}

func noViolations(t *testing.T, r *rig) {
	t.Helper()
	if v := r.fake.Violations(); len(v) > 0 {
		t.Errorf("Slack limits violated: %q", v)
	}
}

func TestSlashCommandIsAckedAndAnsweredInTheChannel(t *testing.T) {
	r := newRig(t, nil)
	r.slash(t, "C0OPS", "UOPS", "ok a b")
	m := r.messages(t, "C0OPS", 1)[0]
	if m.Ephemeral || m.ThreadTS != "" || !strings.Contains(m.Text, "All good") {
		t.Errorf("result = %+v", m)
	}
	blocks := texts(m)
	for _, want := range []string{"All good", "args: a,b", "<@UOPS>", "<#C0OPS>"} {
		if !strings.Contains(blocks, want) {
			t.Errorf("blocks lack %q: %s", want, blocks)
		}
	}
	if r.ran("ok") != 1 {
		t.Errorf("ok ran %d times", r.ran("ok"))
	}
	noViolations(t, r)
}

func TestMentionInAThreadIsAnsweredInThatThread(t *testing.T) {
	r := newRig(t, nil)
	env := r.fake.Mention(slacktest.Mention{User: "UOPS", Channel: "C0OPS", Text: "<@" + r.fake.BotUserID() + "> ok &lt;x&gt;", ThreadTS: "1700000000.000100"})
	if _, err := r.fake.WaitAck(env, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	m := r.messages(t, "C0OPS", 1)[0]
	if m.ThreadTS != "1700000000.000100" {
		t.Errorf("answer thread_ts %q, want the mention's thread", m.ThreadTS)
	}
	if !strings.Contains(texts(m), "args: &lt;x&gt;") {
		t.Errorf("the argument should arrive unescaped and be escaped again for display: %s", m.Blocks)
	}
}

func TestMentionWithNoTextGetsHelp(t *testing.T) {
	r := newRig(t, nil)
	r.fake.Mention(slacktest.Mention{User: "UOPS", Channel: "C0OPS", Text: "<@" + r.fake.BotUserID() + ">"})
	m := r.messages(t, "C0OPS", 1)[0]
	if !strings.Contains(texts(m), "Commands you may run") {
		t.Errorf("empty mention: %s", m.Blocks)
	}
}

func TestUsageErrorsAndRefusalsArePrivateAndRunNothing(t *testing.T) {
	r := newRig(t, nil)
	for _, c := range []struct{ user, text, want string }{
		{"UOPS", "okk", `Did you mean`},
		{"UOPS", strings.Repeat("x", 100*1024), "limit is 4096"},
		{"UOPS", "ok \x1b[31m", "control character"},
		{"UOPS", "admin", "needs Level 3"},
		{"UNOBODY", "ok", "needs Level 1"},
	} {
		before := len(r.fake.Messages("C0OPS"))
		r.slash(t, "C0OPS", c.user, c.text)
		msgs := r.messages(t, "C0OPS", before+1)
		last := msgs[len(msgs)-1]
		if !last.Ephemeral || last.User != c.user || !strings.Contains(texts(last), c.want) {
			t.Errorf("%q: reply %+v, want a private reply to %s containing %q", c.text[:min(len(c.text), 20)], last, c.user, c.want)
		}
		for _, m := range msgs {
			if !m.Ephemeral {
				t.Errorf("%q: a public message was posted: %+v", c.text[:min(len(c.text), 20)], m)
			}
		}
	}
	if r.ran("admin") != 0 || r.ran("ok") != 0 {
		t.Errorf("refused commands ran: admin %d ok %d", r.ran("admin"), r.ran("ok"))
	}
}

func TestSlowCommandShowsProgressUpdatedInPlace(t *testing.T) {
	r := newRig(t, nil)
	r.slash(t, "C0OPS", "UOPS", "slow")
	if _, err := r.fake.WaitCalls("chat.update", 1, wait); err != nil {
		t.Fatal(err)
	}
	msgs := r.fake.Messages("C0OPS")
	if len(msgs) != 1 || msgs[0].Updates != 1 || !strings.Contains(texts(msgs[0]), "Slow but done") {
		t.Errorf("want one message, updated once to the result; got %+v", msgs)
	}
	if n := len(r.fake.Calls("chat.postMessage")); n != 1 {
		t.Errorf("%d posts; progress and result must be one message", n)
	}
}

// TestReportedStepsUpdateOneMessage: a command reporting 20 steps at once
// gets one progress message, updated with the newest step only (not 20
// updates), and the result replaces it; no step leaks the secret.
func TestReportedStepsUpdateOneMessage(t *testing.T) {
	r := newRig(t, func(o *Options) { o.ProgressAfter, o.ProgressEvery = time.Hour, 200*time.Millisecond })
	r.slash(t, "C0OPS", "UOPS", "steps")
	shows := func(c slacktest.Call, what string) bool {
		return strings.Contains(c.Param("text"), what) || strings.Contains(c.Param("blocks"), what)
	}
	// The newest step reaches Slack while the command is still running.
	for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
		var seen bool
		for _, m := range []string{"chat.postMessage", "chat.update"} {
			for _, c := range r.fake.Calls(m) {
				seen = seen || shows(c, "Step 20 of 20")
			}
		}
		if seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("step 20 never shown; calls: post %d update %d", len(r.fake.Calls("chat.postMessage")), len(r.fake.Calls("chat.update")))
		}
	}
	close(r.release)
	for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
		if msgs := r.fake.Messages("C0OPS"); len(msgs) == 1 && strings.Contains(texts(msgs[0]), "Steps done") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the result did not replace the progress message: %+v", r.fake.Messages("C0OPS"))
		}
	}
	posts, updates := r.fake.Calls("chat.postMessage"), r.fake.Calls("chat.update")
	if len(posts) != 1 {
		t.Errorf("%d chat.postMessage calls; want the one progress message", len(posts))
	}
	// The first post shows some step; at most one update shows the newest
	// (the 20 reports came at once, so there is nothing in between); the
	// last update is the result.
	if len(updates) < 1 || len(updates) > 2 {
		t.Errorf("%d chat.update calls for 20 reported steps; want 1 or 2", len(updates))
	}
	if len(updates) > 0 && !shows(updates[len(updates)-1], "Steps done") {
		t.Errorf("the last update is not the result: %v", updates[len(updates)-1].Param("text"))
	}
	for _, c := range append(posts, updates...) {
		if shows(c, "hunter2") {
			t.Errorf("%s carried the secret: %s", c.Method, c.Param("blocks"))
		}
		if !shows(c, "[REDACTED]") {
			t.Errorf("%s lost the redacted text: %s", c.Method, c.Param("blocks"))
		}
	}
	if n := r.ran("steps"); n != 1 {
		t.Errorf("steps ran %d times", n)
	}
	noViolations(t, r)
}

func TestRedeliveredEventRunsOnce(t *testing.T) {
	r := newRig(t, nil)
	env := r.fake.Mention(slacktest.Mention{User: "UOPS", Channel: "C0OPS", Text: "<@" + r.fake.BotUserID() + "> ok"})
	r.messages(t, "C0OPS", 1)
	again := r.fake.Redeliver(env)
	if again.EventID != env.EventID || again.RetryAttempt != 1 {
		t.Fatalf("redelivery %+v", again)
	}
	if _, err := r.fake.WaitAck(again, 3*time.Second); err != nil {
		t.Fatalf("a redelivered event must still be acked: %v", err)
	}
	// The same envelope twice (Slack may do that too).
	raw := r.fake.SendRaw("slash_commands", slashPayload("C0OPS", "UOPS", "ok"), slacktest.WithEnvelopeID("env-dup-1"))
	raw2 := r.fake.SendRaw("slash_commands", slashPayload("C0OPS", "UOPS", "ok"), slacktest.WithEnvelopeID("env-dup-1"))
	for _, e := range []slacktest.Envelope{raw, raw2} {
		if _, err := r.fake.WaitAck(e, 3*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	r.messages(t, "C0OPS", 2)
	time.Sleep(300 * time.Millisecond) // a third message would come now if either ran twice
	if n := r.ran("ok"); n != 2 {
		t.Errorf("ok ran %d times; want 2 (one mention redelivered, one envelope delivered twice)", n)
	}
}

func slashPayload(channel, user, text string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"token": "x", "team_id": "T0TEST", "team_domain": "test", "channel_id": channel,
		"channel_name": "ops", "user_id": user, "user_name": "ops", "command": "/shiftwise", "text": text,
		"api_app_id": "A0TEST", "response_url": "https://hooks.example/x", "trigger_id": "1.2.3", "unknown_field": map[string]any{"x": 1}})
	return b
}

func TestDoubleClickedButtonRunsOnceAndForgedValueIsRefused(t *testing.T) {
	logger, logs := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	r := newRig(t, func(o *Options) { o.Logger = logger })
	r.holdPresses.Store(true) // the next presses wait until the test opens the gate
	t.Cleanup(func() {        // before the bot stops: a press left waiting ends
		select {
		case <-r.pressGate:
		default:
			close(r.pressGate)
		}
	})
	r.slash(t, "C0OPS", "UOPS", "confirm")
	msg := r.messages(t, "C0OPS", 1)[0]
	click := slacktest.BlockAction{User: "UOPS", Channel: "C0OPS", MessageTS: msg.TS, ActionID: "test.press"}
	e1 := r.fake.BlockAction(click)
	<-r.pressed // the first press is being handled
	e2 := r.fake.BlockAction(click)
	waitLog(t, logs, "slack: button pressed again while its first press is still being handled; ignored", 1)
	close(r.pressGate)
	for _, e := range []slacktest.Envelope{e1, e2} {
		if _, err := r.fake.WaitAck(e, 3*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	msgs := r.messages(t, "C0OPS", 2)
	if msgs[1].ThreadTS != msg.TS || !strings.Contains(texts(msgs[1]), "Pressed") {
		t.Errorf("the press's result belongs in the message's thread: %+v", msgs[1])
	}
	if n := r.actions.Load(); n != 1 {
		t.Errorf("the double click ran the action %d times", n)
	}
	// Once handled, the button is not used up: a later deliberate press
	// is handled again (the handler decides what it means now).
	pressesHandled(t, logs, 1)
	r.fake.BlockAction(click)
	msgs = r.messages(t, "C0OPS", 3)
	if n := r.actions.Load(); n != 2 || !strings.Contains(texts(msgs[2]), "Pressed") {
		t.Errorf("a later press: the action ran %d times in all; %+v", n, msgs[2])
	}
	forged := click
	forged.Value, forged.BlockID = "v-999", "actions"
	r.fake.BlockAction(forged)
	msgs = r.messages(t, "C0OPS", 4)
	if !strings.Contains(texts(msgs[3]), "stale or forged") {
		t.Errorf("forged value: %+v", msgs[3])
	}
	unknown := click
	unknown.ActionID, unknown.Value, unknown.BlockID = "nope.never", "x", "actions"
	r.fake.BlockAction(unknown)
	msgs = r.messages(t, "C0OPS", 5)
	if !strings.Contains(texts(msgs[4]), "Unknown action") {
		t.Errorf("unknown action: %+v", msgs[4])
	}
}

func TestReconnectsAfterDisconnectAndDroppedSocket(t *testing.T) {
	r := newRig(t, nil)
	opens := r.fake.Opens()
	for i, breakIt := range []func(){func() { r.fake.Disconnect("warning") }, func() { r.fake.Disconnect("refresh_requested") }, r.fake.DropConnections} {
		breakIt()
		deadline := time.Now().Add(wait)
		for r.fake.Opens() <= opens || r.fake.Connections() < 1 {
			if time.Now().After(deadline) {
				t.Fatalf("case %d: no reconnect (opens %d, live %d)", i, r.fake.Opens(), r.fake.Connections())
			}
			time.Sleep(20 * time.Millisecond)
		}
		opens = r.fake.Opens()
		r.slash(t, "C0OPS", "UOPS", "ok")
		r.messages(t, "C0OPS", i+1)
	}
}

func TestRateLimitedPostWaitsAndStillArrives(t *testing.T) {
	r := newRig(t, nil)
	r.fake.RateLimit("chat.postMessage", 1, time.Second)
	r.slash(t, "C0OPS", "UOPS", "ok")
	r.messages(t, "C0OPS", 1)
	if n := len(r.fake.Calls("chat.postMessage")); n != 2 {
		t.Errorf("%d chat.postMessage calls; want the 429 and the retry", n)
	}
}

func TestChannelAllowlist(t *testing.T) {
	r := newRig(t, func(o *Options) { o.Channels = []string{"C0OPS"} })
	r.slash(t, "C0RANDOM", "UOPS", "ok")
	m := r.messages(t, "C0RANDOM", 1)[0]
	if !m.Ephemeral || !strings.Contains(texts(m), "this channel") {
		t.Errorf("outside the allowlist: %+v", m)
	}
	r.slash(t, "D0DM", "UOPS", "ok")
	if m := r.messages(t, "D0DM", 1)[0]; !m.Ephemeral || !strings.Contains(texts(m), "direct messages") {
		t.Errorf("direct message: %+v", m)
	}
	if r.ran("ok") != 0 {
		t.Errorf("ok ran outside the allowlist")
	}
	r.slash(t, "C0OPS", "UOPS", "ok")
	r.messages(t, "C0OPS", 1)
	if r.ran("ok") != 1 {
		t.Errorf("ok did not run in the allowed channel")
	}
}

func TestLongOutputGoesToTheThreadOrAFile(t *testing.T) {
	r := newRig(t, nil)
	r.slash(t, "C0OPS", "UOPS", "big")
	msgs := r.messages(t, "C0OPS", 1)
	deadline := time.Now().Add(wait)
	for len(r.fake.Files()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	files := r.fake.Files()
	if len(files) != 1 || len(files[0].Content) != len(strings.Repeat("line of output 0123456789\n", 8000)) || files[0].ThreadTS != msgs[0].TS {
		t.Fatalf("want the whole output as one file in the result's thread; files %+v", files)
	}
	noViolations(t, r)
}

func TestBadPayloadsAreAckedAndIgnored(t *testing.T) {
	r := newRig(t, nil)
	for _, p := range []struct{ typ, payload string }{
		{"events_api", `{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}`},
		{"events_api", `{"type":"event_callback","event_id":"Ev2","event":{"type":"reaction_added","user":"UOPS"}}`},
		{"interactive", `{"type":"block_actions","actions":[]}`},
		{"interactive", `{"type":"view_submission"}`},
		{"slash_commands", `{}`},
		{"brand_new_type", `{"anything":true}`},
	} {
		env := r.fake.SendRaw(p.typ, json.RawMessage(p.payload))
		if _, err := r.fake.WaitAck(env, 3*time.Second); err != nil {
			t.Errorf("%s %s: not acked: %v", p.typ, p.payload, err)
		}
	}
	// The bot is still fine.
	r.slash(t, "C0OPS", "UOPS", "ok")
	msgs := r.messages(t, "C0OPS", 1)
	if n := r.ran("ok"); n != 1 {
		t.Errorf("ok ran %d times; messages %+v", n, msgs)
	}
}

func TestShutdownLetsRunningCommandsFinish(t *testing.T) {
	r := newRig(t, nil)
	r.slash(t, "C0OPS", "UOPS", "slow")
	time.Sleep(50 * time.Millisecond) // the command is running
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		r.done <- nil // for the cleanup
	case <-time.After(wait):
		t.Fatal("Run did not return")
	}
	var found bool
	for _, m := range r.fake.Messages("C0OPS") {
		found = found || strings.Contains(texts(m), "Slow but done")
	}
	if !found {
		t.Errorf("the running command's result was lost at shutdown: %+v", r.fake.Messages("C0OPS"))
	}
	if r.fake.Connections() != 0 {
		deadline := time.Now().Add(wait)
		for r.fake.Connections() != 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if r.fake.Connections() != 0 {
			t.Error("the socket is still open after shutdown")
		}
	}
}

func TestBurstRespectsPerChannelRate(t *testing.T) {
	r := newRig(t, func(o *Options) { o.PostEvery, o.PostBurst = 100*time.Millisecond, 1 })
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() { defer wg.Done(); r.slash(t, "C0OPS", "UOPS", "ok") }()
	}
	wg.Wait()
	calls, err := r.fake.WaitCalls("chat.postMessage", 5, wait)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(calls); i++ {
		// The limiter spaces the sends 100ms apart; arrival times can jitter
		// on a loaded machine, a burst would arrive within a few ms.
		if gap := calls[i].At.Sub(calls[i-1].At); gap < 50*time.Millisecond {
			t.Errorf("posts %d and %d only %s apart; the channel's rate is one per 100ms", i-1, i, gap)
		}
	}
}

func TestSlashCommandTextIsUnescapedOnce(t *testing.T) {
	r := newRig(t, nil)
	r.slash(t, "C0OPS", "UOPS", "ok a&amp;b &lt;c&gt; &amp;lt;")
	m := r.messages(t, "C0OPS", 1)[0]
	// The command sees a&b, <c>, &lt; and the renderer escapes them again.
	if got := texts(m); !strings.Contains(got, "args: a&amp;b,&lt;c&gt;,&amp;lt;") {
		t.Errorf("blocks: %s", got)
	}
}
