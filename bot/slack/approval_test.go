package slack

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

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
// approvalRig is the real core with a command needing approval, the
// real store, the Slack transport and the fake.
type approvalRig struct {
	rig    *rig
	store  *store.Store
	engine *bot.Engine
	levels *mutableLevels
	runs   atomic.Int32
	later  atomic.Int64 // how far the engine's clock is ahead
	// entered, when set, hears each start of purge, which then waits
	// for gate: a press is then in flight for as long as the test likes.
	entered chan struct{}
	gate    chan struct{}
	opened  sync.Once
	logs    *logtest.Hook // the transport's log
}

// mutableLevels is testLevels that a test may change while the bot runs
// (a policy reload).
type mutableLevels struct {
	mu sync.Mutex
	m  testLevels
}

func (l *mutableLevels) Authorize(ctx context.Context, subject string, c *bot.Command, a bot.Args) bot.Decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.Authorize(ctx, subject, c, a)
}

func (l *mutableLevels) grant(subject string, level bot.Level) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[subject] = level
}

func newApprovalRig(t *testing.T, tweak func(*Options)) *approvalRig {
	t.Helper()
	s, _ := storetest.OpenTest(t)
	return newApprovalRigOn(t, s, nil, tweak)
}

// newApprovalRigOn is newApprovalRig on the store s; with entered set,
// each run of purge says so on it and waits until the test closes gate.
func newApprovalRigOn(t *testing.T, s *store.Store, entered chan struct{}, tweak func(*Options)) *approvalRig {
	t.Helper()
	a := &approvalRig{store: s, entered: entered, gate: make(chan struct{}),
		levels: &mutableLevels{m: testLevels{"slack:UOPS": bot.Level1, "slack:UDEV": bot.Level1}}}
	reg, err := bot.NewRegistry(bot.Command{Name: "purge", Summary: "needs approval", Level: bot.Level1, Approval: true, MaxArgs: -1,
		Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) {
			bot.Report(ctx, bot.Message{Title: "Purging the cache"})
			a.runs.Add(1)
			if a.entered != nil {
				select {
				case a.entered <- struct{}{}:
					<-a.gate
				case <-a.gate:
				}
			}
			return bot.Message{Title: "Purged", Status: bot.StatusOK}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	var sb *Bot
	a.engine, err = bot.NewEngine(bot.Options{Registry: reg, Authorizer: a.levels,
		Redactor: noRedact{}, Approvals: botstore.Approvals{S: s}, Auditor: botstore.Auditor{S: s}, ApprovalTTL: time.Hour,
		Now:       func() time.Time { return time.Now().Add(time.Duration(a.later.Load())) },
		OnExpired: func(ctx context.Context, ap bot.Approval) { sb.NotifyExpired(ctx, ap) }})
	if err != nil {
		t.Fatal(err)
	}
	fake := slacktest.New(t)
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	a.logs = hook
	o := Options{AppToken: fake.AppToken(), BotToken: fake.BotToken(), APIURL: fake.APIURL(), Core: a.engine,
		PostEvery: time.Millisecond, PostBurst: 100, Logger: logger}
	if tweak != nil {
		tweak(&o)
	}
	sb, err = New(o)
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
	a.rig = &rig{fake: fake}
	t.Cleanup(a.release) // before the bot is stopped: a run left waiting ends
	return a
}

// release lets every waiting and later run of purge finish.
func (a *approvalRig) release() { a.opened.Do(func() { close(a.gate) }) }

func TestApprovalInTheThread(t *testing.T) {
	a := newApprovalRig(t, nil)
	r, s, fake, engine, runs, later, ctx := a.rig, a.store, a.rig.fake, a.engine, &a.runs, &a.later, context.Background()

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

// TestTypedDecisionAnswersInTheRequestsThread: `/shiftwise approve <id>`
// or `deny <id>` typed in another channel, or in the request's channel
// outside its thread, is answered in the request's thread (where its
// buttons are), with a private pointer where it was typed; a refused
// decision is answered privately where it was typed.
func TestTypedDecisionAnswersInTheRequestsThread(t *testing.T) {
	a := newApprovalRig(t, nil)
	r, fake := a.rig, a.rig.fake
	r.slash(t, "C0OPS", "UOPS", "purge cache")
	req := r.messages(t, "C0OPS", 1)[0]
	id := postedAt(t, a.store, req.TS)

	// The requester cannot approve it; the refusal stays private, where typed.
	r.slash(t, "C0ELSE", "UOPS", "approve "+id)
	if m := r.messages(t, "C0ELSE", 1)[0]; !m.Ephemeral || m.User != "UOPS" || !strings.Contains(texts(m), "yourself") {
		t.Errorf("self-approval typed elsewhere: %+v\n%s", m, texts(m))
	}

	r.slash(t, "C0ELSE", "UDEV", "/shiftwise approve "+strings.ToLower(id))
	if _, err := fake.WaitCalls("chat.update", 1, wait); err != nil { // progress, then the result in its place
		t.Fatal(err)
	}
	msgs := r.messages(t, "C0OPS", 2)
	if m := msgs[1]; m.Ephemeral || m.ThreadTS != req.TS || !strings.Contains(texts(m), "Purged") || !strings.Contains(texts(m), "approved by slack:UDEV") {
		t.Errorf("the approved result belongs in the request's thread: %+v\n%s", m, texts(m))
	}
	else_ := r.messages(t, "C0ELSE", 2)
	if m := else_[1]; !m.Ephemeral || m.User != "UDEV" || !strings.Contains(texts(m), "thread of request "+id) || !strings.Contains(texts(m), "<#C0OPS>") {
		t.Errorf("where it was typed: want a private pointer to the thread, got %+v\n%s", m, texts(m))
	}
	if n := a.runs.Load(); n != 1 {
		t.Errorf("purge ran %d times", n)
	}

	// deny typed in the request's own channel, outside the thread.
	r.slash(t, "C0OPS", "UOPS", "purge more")
	second := r.messages(t, "C0OPS", 3)[2]
	id2 := postedAt(t, a.store, second.TS)
	r.slash(t, "C0OPS", "UDEV", "deny "+id2)
	msgs = r.messages(t, "C0OPS", 5)
	var denied, pointer bool
	for _, m := range msgs[3:] {
		denied = denied || (!m.Ephemeral && m.ThreadTS == second.TS && strings.Contains(texts(m), "Denied: purge"))
		pointer = pointer || (m.Ephemeral && m.User == "UDEV" && strings.Contains(texts(m), "thread of request "+id2))
	}
	if !denied || !pointer {
		t.Errorf("deny in the channel: denial in the thread %v, private pointer %v: %+v", denied, pointer, msgs[3:])
	}
	if n := a.runs.Load(); n != 1 {
		t.Errorf("purge ran %d times after a denial", n)
	}
	// An unknown ID is refused where it was typed.
	r.slash(t, "C0ELSE", "UDEV", "approve A-222222")
	if m := r.messages(t, "C0ELSE", 3)[2]; !m.Ephemeral || !strings.Contains(texts(m), "no approval request A-222222") {
		t.Errorf("unknown id: %+v\n%s", m, texts(m))
	}
	noViolations(t, r)
}
