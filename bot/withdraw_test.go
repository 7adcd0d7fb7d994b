package bot_test

import (
	"context"
	"strings"
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

// policyEngine is the core over the real store with the real policy
// (whose refusals carry their own sentences), a clock the test moves.
func policyEngine(t *testing.T, f *fixture, s *store.Store, later *atomic.Int64, approvals bool) *bot.Engine {
	t.Helper()
	reg, err := bot.NewRegistry(f.commands()...)
	if err != nil {
		t.Fatal(err)
	}
	authz, err := permissions.New("g, console:alice, level1\ng, console:bob, level1\ng, console:carol, level1\n", reg.Commands())
	if err != nil {
		t.Fatal(err)
	}
	o := bot.Options{Registry: reg, Authorizer: authz, Redactor: redact.New(), ApprovalTTL: time.Hour,
		Now: func() time.Time { return time.Now().Add(time.Duration(later.Load())) }}
	if approvals {
		o.Approvals, o.Auditor = botstore.Approvals{S: s}, botstore.Auditor{S: s}
	}
	e, err := bot.NewEngine(o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestRefusalsSayNothingWasRunOnce: every way an approve or deny is
// refused, by button and typed, ends with "Nothing was run." exactly once,
// also when the reason it passes on (the policy's) says it already.
func TestRefusalsSayNothingWasRunOnce(t *testing.T) {
	s, _ := storetest.OpenTest(t)
	f := &fixture{}
	var later atomic.Int64
	e := policyEngine(t, f, s, &later, true)
	bare := policyEngine(t, f, nil, &later, false) // no bot database
	own := pending(t, e, "console:alice", "purge own")
	decided := pending(t, e, "console:alice", "purge decided")
	if r := press(e, "console:bob", bot.ActionApprove, decided); r.Outcome != bot.OutcomeOK {
		t.Fatalf("approve: %v %q", r.Outcome, text(r.Message))
	}
	withdrawn := pending(t, e, "console:alice", "purge withdrawn")
	if r := press(e, "console:alice", bot.ActionDeny, withdrawn); r.Outcome != bot.OutcomeOK {
		t.Fatalf("withdraw: %v %q", r.Outcome, text(r.Message))
	}
	expiring := pending(t, e, "console:alice", "purge late")

	type refusal struct {
		name, who, action, id, says string
		e                           *bot.Engine
	}
	cases := []refusal{
		{"self-approval", "console:alice", bot.ActionApprove, own, "yourself", e},
		{"no level (the policy's reason)", "slack:UNOBODY", bot.ActionApprove, own, "has no level", e},
		{"no level, deny", "slack:UNOBODY", bot.ActionDeny, own, "has no level", e},
		{"unknown id", "console:bob", bot.ActionApprove, "A-ZZZZZZ", "no approval request", e},
		{"not an id", "console:bob", bot.ActionDeny, "x;id", "not an approval request ID", e},
		{"already approved", "console:carol", bot.ActionApprove, decided, "already approved", e},
		{"already approved, deny", "console:carol", bot.ActionDeny, decided, "already approved", e},
		{"already withdrawn", "console:bob", bot.ActionApprove, withdrawn, "already withdrawn by console:alice", e},
		{"withdrawn, withdrawn again", "console:alice", bot.ActionDeny, withdrawn, "already withdrawn", e},
		{"no database", "console:bob", bot.ActionApprove, own, "SHIFTWISE_DATABASE_URL", bare},
	}
	check := func(c refusal, how string, r bot.Reply) {
		t.Helper()
		all := text(r.Message)
		if r.Outcome != bot.OutcomeDenied || !strings.Contains(all, c.says) || strings.Count(all, "Nothing was run") != 1 {
			t.Errorf("%s (%s): %v %q; want a refusal saying %q and \"Nothing was run\" once", c.name, how, r.Outcome, all, c.says)
		}
	}
	for _, c := range cases {
		check(c, "button", press(c.e, c.who, c.action, c.id))
		verb := "approve"
		if c.action == bot.ActionDeny {
			verb = "deny"
		}
		check(c, "typed", c.e.Handle(context.Background(), bot.Request{Subject: c.who, Channel: "console", Text: verb + " " + c.id}))
	}
	later.Store(int64(2 * time.Hour))
	for _, c := range []refusal{
		{"expired", "console:bob", bot.ActionApprove, expiring, "expired", e},
		{"expired, withdraw", "console:alice", bot.ActionDeny, own, "expired", e},
	} {
		check(c, "button", press(c.e, c.who, c.action, c.id))
	}
	if n := f.purges.Load(); n != 1 {
		t.Errorf("purge ran %d times, want 1 (the one approved)", n)
	}
}

// TestRequesterWithdrawsOwnRequest: the requester's own deny withdraws
// their pending request, at the console and by the Deny button; it is
// stored and audited as withdrawn by them (never "denied"), nothing runs,
// and a later approval is refused. Approving one's own request stays
// refused; someone else's deny stays a denial.
func TestRequesterWithdrawsOwnRequest(t *testing.T) {
	s, _ := storetest.OpenTest(t)
	f := &fixture{}
	e := newEngine(t, f, s, 0, nil)
	handle := func(who, line string) bot.Reply {
		return e.Handle(context.Background(), bot.Request{Subject: who, Channel: "console", Text: line})
	}

	typed := pending(t, e, "console:alice", "purge typed")
	if r := handle("console:alice", "approve "+typed); r.Outcome != bot.OutcomeDenied || !strings.Contains(text(r.Message), "yourself") {
		t.Errorf("self-approval: %v %q", r.Outcome, text(r.Message))
	}
	pressed := pending(t, e, "console:alice", "purge pressed")
	for _, w := range []struct {
		id    string
		reply bot.Reply
	}{
		{typed, handle("console:alice", "deny "+typed)},
		{pressed, press(e, "console:alice", bot.ActionDeny, pressed)},
	} {
		r, all := w.reply, text(w.reply.Message)
		if r.Outcome != bot.OutcomeOK || r.Message.Title != "Withdrawn: purge ("+w.id+")" ||
			!strings.Contains(all, "withdrawn by console:alice") || strings.Contains(strings.ToLower(all), "denied") ||
			strings.Count(all, "Nothing was run") != 1 {
			t.Errorf("withdrawal of %s: %v %q", w.id, r.Outcome, all)
		}
		a, err := s.Approval(context.Background(), w.id)
		if err != nil || a.State != store.StateWithdrawn || a.Approver != "console:alice" {
			t.Errorf("stored %s: %+v %v", w.id, a, err)
		}
		if r := handle("console:bob", "approve "+w.id); r.Outcome != bot.OutcomeDenied || !strings.Contains(text(r.Message), "already withdrawn by console:alice") {
			t.Errorf("approve after the withdrawal: %v %q", r.Outcome, text(r.Message))
		}
	}
	other := pending(t, e, "console:alice", "purge other")
	if r := handle("console:bob", "deny "+other); r.Outcome != bot.OutcomeOK || !strings.HasPrefix(r.Message.Title, "Denied: purge") {
		t.Errorf("someone else's deny: %v %q", r.Outcome, text(r.Message))
	}
	if n := f.purges.Load(); n != 0 {
		t.Fatalf("purge ran %d times", n)
	}

	var got []string
	for _, en := range entries(t, s) {
		got = append(got, en.Decision+" "+en.Approver)
		if en.Decision == "withdrawn" && (en.Subject != "console:alice" || en.Command != "purge" || !strings.HasPrefix(en.Result, "withdrawn A-")) {
			t.Errorf("withdrawal entry: %+v", en)
		}
	}
	want := []string{"pending ", "refused console:alice", "pending ", "withdrawn console:alice", "withdrawn console:alice",
		"refused console:bob", "refused console:bob", "pending ", "denied console:bob"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("audit (decision approver):\n got %q\nwant %q", got, want)
	}
}
