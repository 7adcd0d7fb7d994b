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
		fake.Serve(t, i+1, wait, sb.Run)
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

// hungDeliveries is a bot database that accepted the connection and
// answers nothing: each question waits for its caller's deadline.
type hungDeliveries struct{ asked atomic.Int32 }

func (h *hungDeliveries) FirstDelivery(ctx context.Context, _ string, _ time.Duration) (bool, error) {
	h.asked.Add(1)
	<-ctx.Done()
	return false, ctx.Err()
}

// TestHungDeliveryStoreDelaysNoAck: with the core's delivery dedup on a
// connected-then-hung bot database, every envelope of a burst larger than
// the workers is still acked within Slack's 3 s, and every command still
// runs and is answered: the dedup runs after the ack, in a worker, and
// ends by the command's deadline.
func TestHungDeliveryStoreDelaysNoAck(t *testing.T) {
	var runs atomic.Int32
	reg, err := bot.NewRegistry(bot.Command{Name: "ok", Summary: "counts", Level: bot.Level1, MaxArgs: -1,
		Run: func(context.Context, bot.Request) (bot.Message, error) {
			runs.Add(1)
			return bot.Message{Title: "All good", Status: bot.StatusOK}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	hung := &hungDeliveries{}
	engine, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: testLevels{"slack:UOPS": bot.Level1}, Redactor: noRedact{},
		Timeout: time.Second, Deliveries: hung})
	if err != nil {
		t.Fatal(err)
	}
	fake := slacktest.New(t)
	sb, err := New(Options{AppToken: fake.AppToken(), BotToken: fake.BotToken(), APIURL: fake.APIURL(), Core: engine,
		MaxRunning: 2, PostEvery: time.Millisecond, PostBurst: 100})
	if err != nil {
		t.Fatal(err)
	}
	fake.Serve(t, 1, wait, sb.Run)
	const n = 6
	var envs []slacktest.Envelope
	for range n {
		envs = append(envs, fake.SlashCommand(slacktest.SlashCommand{User: "UOPS", Channel: "C0OPS", Text: "ok"}))
	}
	for _, e := range envs {
		if _, err := fake.WaitAck(e, 3*time.Second); err != nil { // Slack's own limit
			t.Fatalf("no ack within Slack's 3 s while the database hangs: %v", err)
		}
	}
	r := &rig{fake: fake}
	msgs := r.messages(t, "C0OPS", n)
	if got := runs.Load(); got != n || hung.asked.Load() != n {
		t.Errorf("ran %d, asked the database %d times; want %d and %d", got, hung.asked.Load(), n, n)
	}
	for _, m := range msgs {
		if m.Ephemeral || !strings.Contains(slacktest.Texts(m), "All good") {
			t.Errorf("answer: %+v\n%s", m, slacktest.Texts(m))
		}
	}
}
