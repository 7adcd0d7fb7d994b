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
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/store/botstore"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
	"github.com/shiftwise/shiftwise-bot/permissions"
)

// levels is an Authorizer (and Leveler) giving each subject a level.
type levels map[string]bot.Level

func (l levels) Authorize(_ context.Context, subject string, c *bot.Command, _ bot.Args) bot.Decision {
	if l[subject] >= c.Level {
		return bot.Decision{Allowed: true, Level: c.Level}
	}
	return bot.Decision{Level: c.Level, Reason: fmt.Sprintf("`%s` needs %s.", c.Name, c.Level)}
}

func (l levels) Level(subject string) bot.Level { return l[subject] }

var people = levels{
	"console:alice": bot.Level1, "console:bob": bot.Level1, "console:carol": bot.Level1,
	"console:dave": bot.Level2, "slack:UDEV": bot.Level2, "slack:UOPS": bot.Level1,
}

// fixture is a set of commands counting their runs.
type fixture struct {
	purges, rollbacks atomic.Int64
}

func (f *fixture) commands() []bot.Command {
	return []bot.Command{
		{Name: "purge", Summary: "needs a second person", Usage: "[words...]", MaxArgs: -1, Level: bot.Level1, Approval: true,
			Run: func(_ context.Context, req bot.Request) (bot.Message, error) {
				f.purges.Add(1)
				return bot.Message{Title: "Purged", Status: bot.StatusOK, Text: "purged " + strings.Join(req.Args.Positional, " ")}, nil
			}},
		{Name: "rollback", Summary: "level 2", Usage: "<service>", MinArgs: 1, MaxArgs: 1, Level: bot.Level2,
			Run: func(_ context.Context, req bot.Request) (bot.Message, error) {
				f.rollbacks.Add(1)
				return bot.Message{Title: "Rolled back " + req.Args.First(), Status: bot.StatusOK}, nil
			}},
		{Name: "health", Level: bot.Level1, Run: func(context.Context, bot.Request) (bot.Message, error) {
			return bot.Message{Title: "ok", Status: bot.StatusOK}, nil
		}},
	}
}

func newEngine(t testing.TB, f *fixture, s *store.Store, ttl time.Duration, onExpired func(context.Context, bot.Approval)) *bot.Engine {
	t.Helper()
	reg, err := bot.NewRegistry(f.commands()...)
	if err != nil {
		t.Fatal(err)
	}
	e, err := bot.NewEngine(bot.Options{
		Registry: reg, Authorizer: people, Redactor: redact.New(), Timeout: 5 * time.Second,
		Approvals: botstore.Approvals{S: s}, Auditor: botstore.Auditor{S: s}, ApprovalTTL: ttl, OnExpired: onExpired,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func text(m bot.Message) string {
	all := m.Title + " " + m.Text
	for _, f := range m.Fields {
		all += " " + f.Name + ": " + f.Value
	}
	for _, c := range m.Code {
		all += " " + c.Text
	}
	return all
}

// pending asks for line as subject and returns the request's ID.
func pending(t *testing.T, e *bot.Engine, subject, line string) string {
	t.Helper()
	r := e.Handle(context.Background(), bot.Request{Subject: subject, Channel: "C1", Text: line})
	if r.Outcome != bot.OutcomePending || r.Outcome.ExitCode() != 3 {
		t.Fatalf("%s: outcome %v, want pending: %s", line, r.Outcome, text(r.Message))
	}
	b := r.Message.Buttons
	if len(b) != 2 || b[0].ActionID != bot.ActionApprove || !b[0].Danger || b[1].ActionID != bot.ActionDeny ||
		b[0].Value == "" || b[0].Value != b[1].Value || !strings.HasPrefix(b[0].Value, "A-") {
		t.Fatalf("buttons = %+v", b)
	}
	id := b[0].Value
	for _, want := range []string{id, subject, "Expires"} {
		if !strings.Contains(text(r.Message), want) {
			t.Errorf("request message lacks %q: %s", want, text(r.Message))
		}
	}
	return id
}

func press(e *bot.Engine, who, action, value string) bot.Reply {
	return e.HandleAction(context.Background(), bot.Action{ID: action, Value: value, Subject: who, Channel: "C1", MessageTS: "1.1", ThreadTS: "1.1"})
}

func wantRefused(t *testing.T, r bot.Reply, contains string) {
	t.Helper()
	if r.Outcome != bot.OutcomeDenied || !strings.Contains(text(r.Message), contains) || !strings.Contains(text(r.Message), "Nothing was run") {
		t.Errorf("outcome %v %q; want a refusal saying %q", r.Outcome, text(r.Message), contains)
	}
}

func entries(t *testing.T, s *store.Store) []store.Entry {
	t.Helper()
	got, err := s.Entries(context.Background(), store.Filter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	// oldest first
	for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
		got[i], got[j] = got[j], got[i]
	}
	return got
}

func TestApprovalFlow(t *testing.T) {
	s, _ := storetest.OpenTest(t)
	f := &fixture{}
	e := newEngine(t, f, s, 0, nil)

	id := pending(t, e, "console:alice", "/shiftwise purge cache password=secret")
	if f.purges.Load() != 0 {
		t.Fatal("a pending request ran")
	}
	wantRefused(t, press(e, "console:alice", bot.ActionApprove, id), "yourself")
	wantRefused(t, press(e, "slack:UNOBODY", bot.ActionApprove, id), "needs Level 1")
	if f.purges.Load() != 0 {
		t.Fatal("a refused approval ran the command")
	}
	r := press(e, "console:bob", bot.ActionApprove, id)
	if r.Outcome != bot.OutcomeOK || !strings.Contains(r.Message.Title, "approved by console:bob") || f.purges.Load() != 1 {
		t.Fatalf("approval: %v %q, runs %d", r.Outcome, text(r.Message), f.purges.Load())
	}
	if strings.Contains(text(r.Message), "=secret") || !strings.Contains(text(r.Message), "purged cache password=[REDACTED]") {
		t.Errorf("approved run: %q (the approved, masked line runs; nothing unmasked is shown)", text(r.Message))
	}
	wantRefused(t, press(e, "console:carol", bot.ActionApprove, id), "already approved by console:bob")
	wantRefused(t, press(e, "console:carol", bot.ActionDeny, id), "already approved by console:bob")
	if f.purges.Load() != 1 {
		t.Fatalf("ran %d times, want once", f.purges.Load())
	}
	a, err := s.Approval(context.Background(), id)
	if err != nil || a.State != store.StateExecuted || a.Approver != "console:bob" || !strings.HasPrefix(a.Result, "ok") {
		t.Errorf("stored request: %+v %v", a, err)
	}

	got := entries(t, s)
	var decisions []string
	for _, en := range got {
		decisions = append(decisions, en.Decision)
		if strings.Contains(en.Args, "=secret") || !strings.Contains(en.Args, "password=[REDACTED]") {
			t.Errorf("entry %d args %q: want the masked command line", en.ID, en.Args)
		}
		if en.Command != "purge" {
			t.Errorf("entry %d command %q", en.ID, en.Command)
		}
	}
	want := "pending refused refused approved executed refused refused"
	if strings.Join(decisions, " ") != want {
		t.Errorf("audit decisions %q, want %q", strings.Join(decisions, " "), want)
	}
	if len(got) == len(strings.Fields(want)) {
		if got[0].Subject != "console:alice" || got[0].Result != "pending "+id {
			t.Errorf("pending entry: %+v", got[0])
		}
		if got[1].Result != "self-approval "+id || got[2].Result != "level "+id || got[5].Result != "already-executed "+id {
			t.Errorf("refusals: %q %q %q", got[1].Result, got[2].Result, got[5].Result)
		}
		if got[3].Approver != "console:bob" || got[3].Subject != "console:alice" || got[4].Result != "ok "+id {
			t.Errorf("approved/executed: %+v %+v", got[3], got[4])
		}
	}
}

func TestApprovalRunsOnceAcrossEngines(t *testing.T) {
	s, dbURL := storetest.OpenTest(t)
	f := &fixture{}
	engines := []*bot.Engine{
		newEngine(t, f, s, 0, nil),
		newEngine(t, f, storetest.Open(t, dbURL), 0, nil),
		newEngine(t, f, storetest.Open(t, dbURL), 0, nil),
	}
	id := pending(t, engines[0], "console:alice", "purge everything")
	var wg sync.WaitGroup
	var approved, already atomic.Int64
	start := make(chan struct{})
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			who := []string{"console:bob", "console:carol", "console:dave", "slack:UDEV", "slack:UOPS"}[i%5]
			r := press(engines[i%3], who, bot.ActionApprove, id)
			switch {
			case r.Outcome == bot.OutcomeOK && strings.Contains(r.Message.Title, "approved by"):
				approved.Add(1)
			case r.Outcome == bot.OutcomeDenied && strings.Contains(text(r.Message), "already approved by"):
				already.Add(1)
			default:
				t.Errorf("press %d: %v %q", i, r.Outcome, text(r.Message))
			}
		}()
	}
	close(start)
	wg.Wait()
	if f.purges.Load() != 1 || approved.Load() != 1 || already.Load() != 49 {
		t.Fatalf("ran %d times, %d approvals, %d already-approved; want 1, 1, 49", f.purges.Load(), approved.Load(), already.Load())
	}
}

func TestApprovalExpires(t *testing.T) {
	s, _ := storetest.OpenTest(t)
	f := &fixture{}
	var mu sync.Mutex
	var told []string
	e := newEngine(t, f, s, 100*time.Millisecond, func(_ context.Context, a bot.Approval) {
		mu.Lock()
		told = append(told, a.ID)
		mu.Unlock()
	})
	first := pending(t, e, "console:alice", "purge a")
	second := pending(t, e, "console:alice", "purge b")
	time.Sleep(150 * time.Millisecond)
	wantRefused(t, press(e, "console:bob", bot.ActionApprove, first), "expired")
	expired, err := e.ExpireNow(context.Background())
	if err != nil || len(expired) != 1 || expired[0].ID != second {
		t.Fatalf("ExpireNow = %+v, %v; want only %s (the other was expired by the click)", expired, err, second)
	}
	wantRefused(t, press(e, "console:bob", bot.ActionApprove, second), "expired")
	if f.purges.Load() != 0 {
		t.Fatal("an expired request ran")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(told) != 1 || told[0] != second {
		t.Errorf("OnExpired told %v, want [%s]", told, second)
	}
	var sawExpired bool
	for _, en := range entries(t, s) {
		sawExpired = sawExpired || en.Decision == "expired" && en.Result == "expired "+second
	}
	if !sawExpired {
		t.Error("no audit entry for the swept request")
	}
}

func TestForgedApprovalRefused(t *testing.T) {
	s, _ := storetest.OpenTest(t)
	f := &fixture{}
	e := newEngine(t, f, s, 0, nil)
	pending(t, e, "console:alice", "purge x")
	for _, v := range []string{"A-ZZZZZZ", "A-2345678", "", "'; DROP TABLE approvals; --", strings.Repeat("A", 5000)} {
		wantRefused(t, press(e, "console:bob", bot.ActionApprove, v), "")
		wantRefused(t, press(e, "console:bob", bot.ActionDeny, v), "")
	}
	wantRefused(t, press(e, "console:bob", bot.ActionApprove, "A-ZZZZZZ"), "no approval request A-ZZZZZZ")
	if f.purges.Load() != 0 {
		t.Fatal("a forged approval ran")
	}
}

func TestEscalation(t *testing.T) {
	s, _ := storetest.OpenTest(t)
	f := &fixture{}
	e := newEngine(t, f, s, 0, nil)

	// Unknown people may not ask for anything.
	r := e.Handle(context.Background(), bot.Request{Subject: "slack:UNOBODY", Channel: "C1", Text: "rollback api"})
	if r.Outcome != bot.OutcomeDenied || len(r.Message.Buttons) != 0 {
		t.Fatalf("unknown user: %v %q", r.Outcome, text(r.Message))
	}
	r = e.Handle(context.Background(), bot.Request{Subject: "slack:UNOBODY", Channel: "C1", Text: "purge x"})
	if r.Outcome != bot.OutcomeDenied || len(r.Message.Buttons) != 0 {
		t.Fatalf("unknown user, approval command: %v %q", r.Outcome, text(r.Message))
	}

	id := pending(t, e, "slack:UOPS", "rollback api")
	wantRefused(t, press(e, "console:bob", bot.ActionApprove, id), "needs Level 2")
	if f.rollbacks.Load() != 0 {
		t.Fatal("an L1 approval of an L2 command ran it")
	}
	r = press(e, "slack:UDEV", bot.ActionApprove, id)
	if r.Outcome != bot.OutcomeOK || r.Message.Title != "Rolled back api — approved by slack:UDEV" || f.rollbacks.Load() != 1 {
		t.Fatalf("L2 approval: %v %q runs %d", r.Outcome, text(r.Message), f.rollbacks.Load())
	}
	// An L2 runs it directly.
	if r := e.Handle(context.Background(), bot.Request{Subject: "console:dave", Text: "rollback api"}); r.Outcome != bot.OutcomeOK || f.rollbacks.Load() != 2 {
		t.Fatalf("L2 direct: %v %q", r.Outcome, text(r.Message))
	}
}

func TestConsoleApproveAndDeny(t *testing.T) {
	s, _ := storetest.OpenTest(t)
	f := &fixture{}
	e := newEngine(t, f, s, 0, nil)
	handle := func(who, line string) bot.Reply {
		return e.Handle(context.Background(), bot.Request{Subject: who, Channel: "console", Text: line})
	}

	id := pending(t, e, "console:alice", "purge one")
	if r := handle("console:alice", "approve "+id); r.Outcome.ExitCode() != 3 || !strings.Contains(text(r.Message), "yourself") {
		t.Errorf("self approve: %v %q", r.Outcome, text(r.Message))
	}
	if r := handle("console:bob", "approve "+strings.ToLower(id)); r.Outcome != bot.OutcomeOK || !strings.Contains(r.Message.Title, "approved by console:bob") {
		t.Errorf("approve: %v %q", r.Outcome, text(r.Message))
	}
	if f.purges.Load() != 1 {
		t.Fatalf("ran %d times", f.purges.Load())
	}

	id2 := pending(t, e, "console:alice", "/shiftwise purge two")
	if r := handle("console:bob", "deny "+id2); r.Outcome != bot.OutcomeOK || !strings.Contains(text(r.Message), "console:bob denied") {
		t.Errorf("deny: %v %q", r.Outcome, text(r.Message))
	}
	if r := handle("console:carol", "approve "+id2); r.Outcome != bot.OutcomeDenied || !strings.Contains(text(r.Message), "already denied by console:bob") {
		t.Errorf("approve after deny: %v %q", r.Outcome, text(r.Message))
	}
	if r := handle("console:bob", "approve"); r.Outcome != bot.OutcomeUsage {
		t.Errorf("approve without an id: %v", r.Outcome)
	}
	if r := handle("console:bob", "approve A-ZZZZZZ"); r.Outcome != bot.OutcomeDenied {
		t.Errorf("approve a forged id: %v", r.Outcome)
	}
	if f.purges.Load() != 1 {
		t.Fatalf("ran %d times after a denial", f.purges.Load())
	}
	var decisions []string
	for _, en := range entries(t, s) {
		decisions = append(decisions, en.Decision)
	}
	want := "pending refused approved executed pending denied refused usage refused"
	if strings.Join(decisions, " ") != want {
		t.Errorf("audit decisions %q, want %q", strings.Join(decisions, " "), want)
	}
}

func TestEveryRequestAudited(t *testing.T) {
	s, _ := storetest.OpenTest(t)
	f := &fixture{}
	e := newEngine(t, f, s, 0, nil)
	for _, line := range []string{"health", "nope token=abc123", "health extra", "rollback api", "help"} {
		e.Handle(context.Background(), bot.Request{Subject: "slack:UNOBODY", Channel: "C9", Text: line})
	}
	got := entries(t, s)
	var decisions []string
	for _, en := range got {
		decisions = append(decisions, en.Decision+"/"+en.Result)
		if en.Subject != "slack:UNOBODY" || en.Channel != "C9" || strings.Contains(en.Args, "abc123") {
			t.Errorf("entry %+v", en)
		}
	}
	want := "refused/denied usage/usage usage/usage refused/denied ran/ok"
	if strings.Join(decisions, " ") != want {
		t.Errorf("audit %q, want %q", strings.Join(decisions, " "), want)
	}
}

// TestPolicyOverridesApproval runs the real permissions package: a policy
// that makes health need approval turns it into a request, and one that
// raises it to Level 2 makes an L1's health an escalation.
func TestPolicyOverridesApproval(t *testing.T) {
	s, _ := storetest.OpenTest(t)
	f := &fixture{}
	reg, err := bot.NewRegistry(f.commands()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ policy, need string }{
		{"p2, health, -, approval", "Level 1"},
		{"p2, health, level2, -", "Level 2"},
	} {
		authz, err := permissions.New("g, console:alice, level1\ng, console:bob, level1\ng, console:dave, level2\n"+c.policy, reg.Commands())
		if err != nil {
			t.Fatal(err)
		}
		e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: authz, Redactor: redact.New(),
			Approvals: botstore.Approvals{S: s}, Auditor: botstore.Auditor{S: s}})
		if err != nil {
			t.Fatal(err)
		}
		id := pending(t, e, "console:alice", "health")
		r := e.Handle(context.Background(), bot.Request{Subject: "console:alice", Text: "help health"})
		if !strings.Contains(text(r.Message), c.need) {
			t.Errorf("%s: help health = %q", c.policy, text(r.Message))
		}
		r = e.Handle(context.Background(), bot.Request{Subject: "console:dave", Text: "approve " + id})
		if r.Outcome != bot.OutcomeOK || !strings.Contains(r.Message.Title, "approved by console:dave") {
			t.Errorf("%s: approve = %v %q", c.policy, r.Outcome, text(r.Message))
		}
	}
}

// BenchmarkApprovalRoundTrip is request → approve → executed through
// PostgreSQL, with the audit entries each step appends.
func BenchmarkApprovalRoundTrip(b *testing.B) {
	s, _ := storetest.OpenTest(b)
	f := &fixture{}
	e := newEngine(b, f, s, 0, nil)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		r := e.Handle(ctx, bot.Request{Subject: "console:alice", Channel: "C1", Text: "purge x"})
		if r.Outcome != bot.OutcomePending {
			b.Fatalf("request: %v %q", r.Outcome, text(r.Message))
		}
		if r := press(e, "console:bob", bot.ActionApprove, r.Message.Buttons[0].Value); r.Outcome != bot.OutcomeOK {
			b.Fatalf("approve: %v %q", r.Outcome, text(r.Message))
		}
	}
}

// TestPinShownAndRun: a command's Pin replaces the typed line in the
// request; its Preview sees the pinned arguments; the pinned line is what
// is recorded and what runs once approved. A Pin that fails records
// nothing.
func TestPinShownAndRun(t *testing.T) {
	s, _ := storetest.OpenTest(t)
	var ran []string
	var mu sync.Mutex
	var pins atomic.Int64
	cmd := bot.Command{
		Name: "end", Usage: "[--only LIST]", Level: bot.Level1, Approval: true,
		Flags: []bot.Flag{{Name: "only", Kind: bot.FlagString}},
		Pin: func(_ context.Context, req bot.Request) (string, error) {
			pins.Add(1)
			switch req.Args.String("only") {
			case "bad":
				return "", &bot.UsageError{Msg: "--only bad is not a list."}
			case "broken":
				return "", fmt.Errorf("the database did not answer")
			case "unparsable":
				return "end --nope", nil
			case "other":
				return "purge all", nil
			case "huge":
				return "end --only " + strings.Repeat("1,", bot.MaxInputBytes), nil
			}
			return "end --only 2,3", nil
		},
		Preview: func(_ context.Context, req bot.Request) (bot.Message, error) {
			return bot.Message{Text: "It would end " + req.Args.String("only") + ".", Code: []bot.CodeBlock{{Title: "What", Text: "2 sleeping\n3 sleeping"}}}, nil
		},
		Run: func(_ context.Context, req bot.Request) (bot.Message, error) {
			mu.Lock()
			defer mu.Unlock()
			ran = append(ran, req.Args.String("only"))
			return bot.Message{Title: "ended " + req.Args.String("only"), Status: bot.StatusOK}, nil
		},
	}
	f := &fixture{}
	reg, err := bot.NewRegistry(append(f.commands(), cmd)...)
	if err != nil {
		t.Fatal(err)
	}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: people, Redactor: redact.New(), Timeout: 5 * time.Second,
		Approvals: botstore.Approvals{S: s}, Auditor: botstore.Auditor{S: s}})
	if err != nil {
		t.Fatal(err)
	}

	r := e.Handle(context.Background(), bot.Request{Subject: "console:alice", Channel: "C1", Text: "end"})
	if r.Outcome != bot.OutcomePending || !strings.Contains(r.Message.Text, "`end --only 2,3`") ||
		!strings.Contains(r.Message.Text, "It would end 2,3.") || len(r.Message.Code) != 1 || r.Message.Code[0].Text != "2 sleeping\n3 sleeping" {
		t.Fatalf("request: %v %s", r.Outcome, text(r.Message))
	}
	id := r.Message.Buttons[0].Value
	a, err := s.Approval(context.Background(), id)
	if err != nil || a.Args != "end --only 2,3" {
		t.Fatalf("recorded %q, %v; want the pinned line", a.Args, err)
	}
	if r := press(e, "console:bob", bot.ActionApprove, id); r.Outcome != bot.OutcomeOK || len(ran) != 1 || ran[0] != "2,3" {
		t.Fatalf("approved: %v %s; ran %v", r.Outcome, text(r.Message), ran)
	}
	if pins.Load() != 1 {
		t.Fatalf("Pin ran %d times, want once (only when asking)", pins.Load())
	}

	for arg, want := range map[string]bot.Outcome{
		"bad": bot.OutcomeUsage, "broken": bot.OutcomeFailed, "unparsable": bot.OutcomeFailed, "other": bot.OutcomeFailed, "huge": bot.OutcomeFailed,
	} {
		r := e.Handle(context.Background(), bot.Request{Subject: "console:alice", Channel: "C1", Text: "end --only " + arg})
		if r.Outcome != want || len(r.Message.Buttons) != 0 {
			t.Errorf("--only %s: outcome %v, want %v: %s", arg, r.Outcome, want, text(r.Message))
		}
	}
	requests := 0
	for _, en := range entries(t, s) {
		if en.Decision == "pending" {
			requests++
		}
	}
	if requests != 1 || len(ran) != 1 {
		t.Fatalf("%d requests recorded (want the first only), ran %v", requests, ran)
	}
}
