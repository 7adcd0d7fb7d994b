package bot_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/internal/store/botstore"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
)

// deliveries is a bot.Deliveries shared by several engines (as one
// database is by several processes). With hang set, it answers nothing
// until the caller's deadline, as a connected-then-hung database; with
// fail set, it fails at once. It keeps the deadline each call was given.
type deliveries struct {
	mu        sync.Mutex
	seen      map[string]bool
	hang      bool
	fail      bool
	deadlines []time.Time
}

func (d *deliveries) FirstDelivery(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	dl, _ := ctx.Deadline()
	d.mu.Lock()
	d.deadlines = append(d.deadlines, dl)
	hang, fail := d.hang, d.fail
	d.mu.Unlock()
	if ttl != bot.DeliveryTTL {
		return false, fmt.Errorf("ttl %s, want %s", ttl, bot.DeliveryTTL)
	}
	switch {
	case hang:
		<-ctx.Done()
		return false, ctx.Err()
	case fail:
		return false, fmt.Errorf("delivery: %w", bot.ErrStoreUnavailable)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	first := !d.seen[key]
	d.seen[key] = true
	return first, nil
}

func (d *deliveries) deadline(t *testing.T) time.Time {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.deadlines) != 1 || d.deadlines[0].IsZero() {
		t.Fatalf("the store was asked %d times (deadlines %v); want once, with a deadline", len(d.deadlines), d.deadlines)
	}
	return d.deadlines[0]
}

// starts records where Start was told each answer goes; with refuse set
// it refuses them all, as a transport outside its allowed channels.
type starts struct {
	mu     sync.Mutex
	at     []bot.Place
	refuse bool
}

func (s *starts) start(at bot.Place) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at = append(s.at, at)
	return !s.refuse
}

func (s *starts) places() []bot.Place {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bot.Place(nil), s.at...)
}

// TestDeliveryIsHandledOnceAcrossEngines: two engines sharing one
// Deliveries (two bot processes on one database) handle a delivery — a
// typed request or a button press — once: the second hears Dropped, runs
// nothing, audits nothing and never starts its transport. A delivery the
// store cannot decide is handled (this process decides); one the
// transport's Start refuses runs and audits nothing.
func TestDeliveryIsHandledOnceAcrossEngines(t *testing.T) {
	type handle func(e *bot.Engine, key string, s *starts) bot.Reply
	typed := func(e *bot.Engine, key string, s *starts) bot.Reply {
		return e.Handle(context.Background(), bot.Request{Subject: "slack:UOPS", Channel: "C0OPS", Thread: "7.7", Text: "/shiftwise health", Delivery: key, Start: s.start})
	}
	pressed := func(e *bot.Engine, key string, s *starts) bot.Reply {
		return e.HandleAction(context.Background(), bot.Action{ID: bot.ActionRun, Value: "health", Subject: "slack:UOPS", Channel: "C0OPS",
			MessageTS: "7.7", ThreadTS: "7.7", Delivery: key, Start: s.start})
	}
	for _, c := range []struct {
		name string
		do   handle
	}{{"typed", typed}, {"pressed", pressed}} {
		t.Run(c.name, func(t *testing.T) {
			var runs atomic.Int32
			shared := &deliveries{seen: map[string]bool{}}
			engine := func(d bot.Deliveries) (*bot.Engine, *recorder) {
				reg, err := bot.NewRegistry(bot.Command{Name: "health", Level: bot.Level1, Run: func(context.Context, bot.Request) (bot.Message, error) {
					runs.Add(1)
					return bot.Message{Title: "ok", Status: bot.StatusOK}, nil
				}})
				if err != nil {
					t.Fatal(err)
				}
				rec := &recorder{}
				e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: people, Redactor: redact.New(), Auditor: rec, Deliveries: d})
				if err != nil {
					t.Fatal(err)
				}
				return e, rec
			}
			one, rec1 := engine(shared)
			two, rec2 := engine(shared)

			s1, s2 := &starts{}, &starts{}
			if r := c.do(one, "slack:event:Ev1", s1); r.Dropped || r.Outcome != bot.OutcomeOK {
				t.Fatalf("first delivery: dropped %v, outcome %v: %s", r.Dropped, r.Outcome, text(r.Message))
			}
			if r := c.do(two, "slack:event:Ev1", s2); !r.Dropped || r.Message.Title != "" {
				t.Fatalf("the same delivery in the other engine: dropped %v, %q; want dropped, nothing to say", r.Dropped, text(r.Message))
			}
			if n := runs.Load(); n != 1 {
				t.Errorf("ran %d times; want 1", n)
			}
			if got := s1.places(); len(got) != 1 || got[0] != (bot.Place{Channel: "C0OPS", Thread: "7.7"}) {
				t.Errorf("the first engine started its transport at %+v; want once, where it was asked", got)
			}
			if got := s2.places(); len(got) != 0 {
				t.Errorf("a repeated delivery started its transport: %+v", got)
			}
			if n1, n2 := len(rec1.since(0)), len(rec2.since(0)); n1 != 1 || n2 != 0 {
				t.Errorf("audited %d and %d times; want 1 and 0", n1, n2)
			}

			// A new delivery of the same text is a new request.
			if r := c.do(two, "slack:event:Ev2", s2); r.Dropped || runs.Load() != 2 {
				t.Errorf("a second delivery: dropped %v, runs %d", r.Dropped, runs.Load())
			}
			// The store cannot decide: this process does.
			failing, rec3 := engine(&deliveries{seen: map[string]bool{}, fail: true})
			if r := c.do(failing, "slack:event:Ev1", &starts{}); r.Dropped || runs.Load() != 3 || len(rec3.since(0)) != 1 {
				t.Errorf("store down: dropped %v, runs %d, audited %d", r.Dropped, runs.Load(), len(rec3.since(0)))
			}
			// The transport refuses it (a channel where it runs nothing).
			refused := &starts{refuse: true}
			if r := c.do(one, "slack:event:Ev3", refused); !r.Dropped || runs.Load() != 3 || len(rec1.since(0)) != 1 || len(refused.places()) != 1 {
				t.Errorf("refused by the transport: dropped %v, runs %d, audited %d, started %d", r.Dropped, runs.Load(), len(rec1.since(0)), len(refused.places()))
			}
		})
	}
}

// TestWaitBeforeARunComesOutOfItsDeadline: what the engine asks the
// bot's database before running a command (is this delivery new?) counts
// against the command's own deadline: with a connected-then-hung
// database the command's deadline is the one the question had, not a
// fresh one after it, so the answer comes by the deadline.
func TestWaitBeforeARunComesOutOfItsDeadline(t *testing.T) {
	var ran time.Time
	reg, err := bot.NewRegistry(bot.Command{Name: "quick", Level: bot.Level1, Timeout: 200 * time.Millisecond,
		Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) {
			ran, _ = ctx.Deadline()
			return bot.Message{Title: "ok", Status: bot.StatusOK}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	hung := &deliveries{seen: map[string]bool{}, hang: true}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: people, Redactor: redact.New(), Deliveries: hung})
	if err != nil {
		t.Fatal(err)
	}
	r := e.Handle(context.Background(), bot.Request{Subject: "slack:UOPS", Channel: "C0OPS", Text: "quick", Delivery: "slack:event:Ev9"})
	if r.Dropped || ran.IsZero() {
		t.Fatalf("a delivery the store did not answer must still run: dropped %v, ran %v", r.Dropped, !ran.IsZero())
	}
	if asked := hung.deadline(t); !ran.Equal(asked) {
		t.Errorf("the command's deadline is %s after the dedup's; want the same deadline (its wait comes out of the command's 200ms)", ran.Sub(asked))
	}
}

// counting is an Approvals that counts Get and, with hang set, answers no
// Get until the caller's deadline; it keeps each Get's deadline.
type counting struct {
	bot.Approvals
	mu      sync.Mutex
	gets    int
	hang    bool
	allowed []time.Time
}

func (c *counting) Get(ctx context.Context, id string) (bot.Approval, error) {
	dl, _ := ctx.Deadline()
	c.mu.Lock()
	c.gets++
	c.allowed = append(c.allowed, dl)
	hang := c.hang
	c.mu.Unlock()
	if hang {
		<-ctx.Done()
		return bot.Approval{}, fmt.Errorf("approval %s: %w", id, ctx.Err())
	}
	return c.Approvals.Get(ctx, id)
}

func (c *counting) reset(hang bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets, c.hang, c.allowed = 0, hang, nil
}

// TestTypedDecisionIsLookedUpOnce: a typed `approve <id>` / `deny <id>`
// is handed to the core as typed; the core reads the request once, to
// tell the transport where the answer belongs (the request's thread when
// a transport posted it, else where it was typed) and to decide it. With
// a hung database the delivery's dedup and the lookup together end by
// the request's deadline.
func TestTypedDecisionIsLookedUpOnce(t *testing.T) {
	st, _ := storetest.OpenTest(t)
	f := &fixture{}
	reg, err := bot.NewRegistry(f.commands()...)
	if err != nil {
		t.Fatal(err)
	}
	ap := &counting{Approvals: botstore.Approvals{S: st}}
	dels := &deliveries{seen: map[string]bool{}}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: people, Redactor: redact.New(), Timeout: 300 * time.Millisecond,
		Approvals: ap, Auditor: &recorder{}, Deliveries: dels})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	posted := pending(t, e, "slack:UOPS", "purge cache")
	e.RequestPosted(ctx, posted, "C0OPS", "5.5", "5.5")
	unposted := pending(t, e, "console:alice", "purge more")

	for i, c := range []struct {
		name, who, line string
		want            bot.Place
		outcome         bot.Outcome
		says            string
	}{
		{"posted, approved elsewhere", "slack:UDEV", "/shiftwise approve " + strings.ToLower(posted),
			bot.Place{Channel: "C0OPS", Thread: "5.5", Request: posted}, bot.OutcomeOK, "approved by slack:UDEV"},
		{"decided already", "slack:UDEV", "deny " + posted,
			bot.Place{Channel: "C0OPS", Thread: "5.5", Request: posted}, bot.OutcomeDenied, "already approved"},
		{"not posted by a transport", "console:dave", "approve " + unposted,
			bot.Place{Channel: "C0ELSE", Thread: "1.1"}, bot.OutcomeOK, "approved by console:dave"},
		{"unknown", "slack:UDEV", "approve A-222222",
			bot.Place{Channel: "C0ELSE", Thread: "1.1"}, bot.OutcomeDenied, "no approval request A-222222"},
	} {
		ap.reset(false)
		s := &starts{}
		r := e.Handle(ctx, bot.Request{Subject: c.who, Channel: "C0ELSE", Thread: "1.1", Text: c.line, Delivery: fmt.Sprintf("slack:event:Ev%d", i), Start: s.start})
		if got := s.places(); len(got) != 1 || got[0] != c.want {
			t.Errorf("%s: started at %+v; want once at %+v", c.name, got, c.want)
		}
		if ap.gets != 1 {
			t.Errorf("%s: the request was read %d times; want once", c.name, ap.gets)
		}
		if r.Outcome != c.outcome || !strings.Contains(text(r.Message), c.says) {
			t.Errorf("%s: outcome %v %q; want %v saying %q", c.name, r.Outcome, text(r.Message), c.outcome, c.says)
		}
	}
	if n := f.purges.Load(); n != 2 {
		t.Errorf("purge ran %d times; want 2", n)
	}

	// A connected-then-hung database: the dedup waits until the request's
	// deadline, and the lookup gets no time beyond it.
	third := pending(t, e, "slack:UOPS", "purge again")
	dels.mu.Lock()
	dels.hang, dels.deadlines = true, nil
	dels.mu.Unlock()
	ap.reset(true)
	s := &starts{}
	r := e.Handle(ctx, bot.Request{Subject: "slack:UDEV", Channel: "C0ELSE", Text: "approve " + third, Delivery: "slack:event:EvH", Start: s.start})
	if r.Outcome != bot.OutcomeFailed || !strings.Contains(text(r.Message), "not answering") {
		t.Errorf("hung database: outcome %v %q; want failed, not answering", r.Outcome, text(r.Message))
	}
	if ap.gets != 1 || !ap.allowed[0].Equal(dels.deadline(t)) {
		t.Errorf("hung database: %d lookups, deadline %v; want one, with the dedup's deadline %v", ap.gets, ap.allowed, dels.deadline(t))
	}
	if got := s.places(); len(got) != 1 || got[0] != (bot.Place{Channel: "C0ELSE"}) {
		t.Errorf("hung database: started at %+v; want where it was typed", got)
	}
	if n := f.purges.Load(); n != 2 {
		t.Errorf("purge ran %d times after the hung lookup; want 2", n)
	}
}
