package slack

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/bot/slack/slacktest"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
)

// TestTwoReplicasRunARedeliveryOnce: two bot instances (each with its
// own engine, its own memory and its own pool on one bot database, as two
// processes) share one Slack app. The fake gives each envelope to the
// next connection, so a redelivered event, and an envelope delivered
// twice, reach the other instance: the database makes each run once.
func TestTwoReplicasRunARedeliveryOnce(t *testing.T) {
	_, dbURL := storetest.OpenTest(t)
	fake := slacktest.New(t)
	var runs atomic.Int32
	for i := range 2 {
		reg, err := bot.NewRegistry(bot.Command{Name: "ok", Summary: "counts", Level: bot.Level1, MaxArgs: -1,
			Run: func(context.Context, bot.Request) (bot.Message, error) {
				runs.Add(1)
				return bot.Message{Title: "All good", Status: bot.StatusOK}, nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		engine, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: testLevels{"slack:UOPS": bot.Level1}, Redactor: noRedact{},
			Deliveries: storetest.Open(t, dbURL)})
		if err != nil {
			t.Fatal(err)
		}
		sb, err := New(Options{AppToken: fake.AppToken(), BotToken: fake.BotToken(), APIURL: fake.APIURL(), Core: engine,
			PostEvery: time.Millisecond, PostBurst: 100})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- sb.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(wait):
				t.Error("Run did not return after cancel")
			}
		})
		if err := fake.WaitConnected(i+1, wait); err != nil {
			t.Fatal(err)
		}
	}
	r := &rig{fake: fake}

	env := fake.Mention(slacktest.Mention{User: "UOPS", Channel: "C0OPS", Text: "<@" + fake.BotUserID() + "> ok"})
	r.messages(t, "C0OPS", 1)
	again := fake.Redeliver(env)
	raw := fake.SendRaw("slash_commands", slashPayload("C0OPS", "UOPS", "ok"), slacktest.WithEnvelopeID("env-dup-2"))
	raw2 := fake.SendRaw("slash_commands", slashPayload("C0OPS", "UOPS", "ok"), slacktest.WithEnvelopeID("env-dup-2"))
	for _, e := range []slacktest.Envelope{again, raw, raw2} {
		if _, err := fake.WaitAck(e, 3*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if env.Conn == again.Conn || raw.Conn == raw2.Conn {
		t.Fatalf("the copies went to the same instance (conns %d/%d, %d/%d): this test needs them on both", env.Conn, again.Conn, raw.Conn, raw2.Conn)
	}
	r.messages(t, "C0OPS", 2)
	time.Sleep(500 * time.Millisecond) // a third message would come now if a copy ran
	if n := runs.Load(); n != 2 {
		t.Errorf("ok ran %d times; want 2 (one event redelivered to the other instance, one envelope delivered to both)", n)
	}
	if msgs := fake.Messages("C0OPS"); len(msgs) != 2 || !strings.Contains(msgs[1].Text, "All good") {
		t.Errorf("messages: %d", len(msgs))
	}
}
