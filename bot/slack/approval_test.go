package slack

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/bot/slack/slacktest"
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/store/botstore"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
)

// TestApprovalInTheThread is the second scene over the Slack fake and the
// real store: the request is posted with buttons, the requester's own
// click is refused privately, another person's click runs it once with
// the result in the request's thread, and an undecided request says in
// its thread that it expired.
func TestApprovalInTheThread(t *testing.T) {
	s, _ := storetest.OpenTest(t)
	var runs atomic.Int32
	reg, err := bot.NewRegistry(bot.Command{Name: "purge", Summary: "needs approval", Level: bot.Level1, Approval: true, MaxArgs: -1,
		Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) {
			bot.Report(ctx, bot.Message{Title: "Purging the cache"})
			runs.Add(1)
			return bot.Message{Title: "Purged", Status: bot.StatusOK}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	var sb *Bot
	var later atomic.Int64 // how far the engine's clock is ahead
	engine, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: testLevels{"slack:UOPS": bot.Level1, "slack:UDEV": bot.Level1},
		Redactor: noRedact{}, Approvals: botstore.Approvals{S: s}, Auditor: botstore.Auditor{S: s}, ApprovalTTL: time.Hour,
		Now:       func() time.Time { return time.Now().Add(time.Duration(later.Load())) },
		OnExpired: func(ctx context.Context, a bot.Approval) { sb.NotifyExpired(ctx, a) }})
	if err != nil {
		t.Fatal(err)
	}
	fake := slacktest.New(t)
	sb, err = New(Options{AppToken: fake.AppToken(), BotToken: fake.BotToken(), APIURL: fake.APIURL(), Core: engine,
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
	if err := fake.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	r := &rig{fake: fake}

	r.slash(t, "C0OPS", "UOPS", "purge cache")
	req := r.messages(t, "C0OPS", 1)[0]
	if !strings.Contains(texts(req), "Approval needed: purge") || req.Ephemeral {
		t.Fatalf("request message: %+v\n%s", req, texts(req))
	}
	id := postedAt(t, s, req.TS)
	click := slacktest.BlockAction{User: "UOPS", Channel: "C0OPS", MessageTS: req.TS, ActionID: bot.ActionApprove, BlockID: "actions", Value: id}
	fake.BlockAction(click)
	msgs := r.messages(t, "C0OPS", 2)
	if !msgs[1].Ephemeral || msgs[1].User != "UOPS" || !strings.Contains(texts(msgs[1]), "yourself") {
		t.Errorf("self-approval: %+v\n%s", msgs[1], texts(msgs[1]))
	}
	click.User = "UDEV"
	fake.BlockAction(click)
	// The approved command reports progress at once: its progress message
	// comes first, then the result replaces it.
	if _, err := fake.WaitCalls("chat.update", 1, wait); err != nil {
		t.Fatal(err)
	}
	msgs = r.messages(t, "C0OPS", 3)
	if msgs[2].Ephemeral || msgs[2].ThreadTS != req.TS || !strings.Contains(texts(msgs[2]), "approved by slack:UDEV") || runs.Load() != 1 {
		t.Errorf("approval: %+v\n%s (runs %d)", msgs[2], texts(msgs[2]), runs.Load())
	}
	// The approved command's progress was shown in the request's thread,
	// in the message its result then replaced.
	var progressShown bool
	for _, c := range fake.Calls("chat.postMessage") {
		progressShown = progressShown || (c.Param("thread_ts") == req.TS && strings.Contains(c.Param("text"), "Purging the cache"))
	}
	if msgs = fake.Messages("C0OPS"); !progressShown || msgs[2].Updates != 1 || !strings.Contains(texts(msgs[2]), "Purged") {
		t.Errorf("progress of the approved command: shown in the thread %v, result %+v", progressShown, msgs[2])
	}

	r.slash(t, "C0OPS", "UOPS", "purge more")
	second := r.messages(t, "C0OPS", 4)[3]
	postedAt(t, s, second.TS)
	if _, err := engine.ExpireNow(ctx); err != nil {
		t.Fatal(err)
	}
	// Not yet expired: nothing is said. Two hours later, it is.
	later.Store(int64(2 * time.Hour))
	if _, err := engine.ExpireNow(ctx); err != nil {
		t.Fatal(err)
	}
	msgs = r.messages(t, "C0OPS", 5)
	if msgs[4].ThreadTS != second.TS || !strings.Contains(texts(msgs[4]), "Expired: purge") || runs.Load() != 1 {
		t.Errorf("expiry: %+v\n%s", msgs[4], texts(msgs[4]))
	}
	noViolations(t, r)
}

// postedAt waits until the transport has recorded that a request was
// posted as message ts (it does so just after posting) and returns its ID.
func postedAt(t *testing.T, s *store.Store, ts string) string {
	t.Helper()
	for deadline := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) {
		entries, err := s.Entries(context.Background(), store.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Decision != "pending" {
				continue
			}
			a, err := s.Approval(context.Background(), e.Result[strings.LastIndex(e.Result, " ")+1:])
			if err != nil {
				t.Fatal(err)
			}
			if a.MessageTS == ts {
				if a.Channel != "C0OPS" || a.ThreadTS != ts {
					t.Errorf("where the request was posted: %+v", a)
				}
				return a.ID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request recorded as posted at %s", ts)
		}
	}
}
