package bot_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/internal/store/botstore"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
)

// failing is the real approvals store with one method failing as a store
// that is down or not answering does.
type failing struct {
	botstore.Approvals
	method string
	err    error
}

func (f failing) fail(m string) error {
	if f.method == m {
		return f.err
	}
	return nil
}

func (f failing) Get(ctx context.Context, id string) (bot.Approval, error) {
	if err := f.fail("Get"); err != nil {
		return bot.Approval{}, err
	}
	return f.Approvals.Get(ctx, id)
}

func (f failing) Decide(ctx context.Context, id, who string, approve bool, now time.Time) (bot.Approval, error) {
	if err := f.fail("Decide"); err != nil {
		return bot.Approval{}, err
	}
	return f.Approvals.Decide(ctx, id, who, approve, now)
}

func (f failing) Withdraw(ctx context.Context, id, who string, now time.Time) (bot.Approval, error) {
	if err := f.fail("Withdraw"); err != nil {
		return bot.Approval{}, err
	}
	return f.Approvals.Withdraw(ctx, id, who, now)
}

// recorder keeps the audit entries the engine hands over.
type recorder struct {
	mu sync.Mutex
	es []bot.AuditEntry
}

func (r *recorder) Append(_ context.Context, e bot.AuditEntry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.es = append(r.es, e)
	return nil
}

func (r *recorder) since(n int) []bot.AuditEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bot.AuditEntry(nil), r.es[n:]...)
}

// TestDecisionTheStoreDidNotAnswerIsAudited: whichever store call of an
// approve, a deny or a withdrawal fails — the request's lookup, the
// decision, the withdrawal — because the bot's database is down or not
// answering, the person hears which, nothing runs, and the attempt is
// audited once as failed, naming who tried and why.
func TestDecisionTheStoreDidNotAnswerIsAudited(t *testing.T) {
	st, _ := storetest.OpenTest(t)
	down := fmt.Errorf("%w (still retrying)", bot.ErrStoreUnavailable)
	hung := fmt.Errorf("approval: %w", context.DeadlineExceeded)
	notYet := fmt.Errorf("%w: %w (still trying)", bot.ErrStoreUnavailable, bot.ErrStoreNotAnswering)
	for _, c := range []struct {
		method, who, verb string
		err               error
		says, result      string
	}{
		{"Get", "console:bob", "approve", down, "which is down", "database-unreachable"},
		{"Get", "console:bob", "deny", down, "which is down", "database-unreachable"},
		{"Get", "console:alice", "deny", down, "which is down", "database-unreachable"},
		{"Get", "console:bob", "approve", hung, "is not answering", "database-not-answering"},
		{"Get", "console:bob", "deny", notYet, "is not answering", "database-not-answering"},
		{"Decide", "console:bob", "approve", down, "which is down", "database-unreachable"},
		{"Decide", "console:bob", "deny", hung, "is not answering", "database-not-answering"},
		{"Decide", "console:bob", "approve", notYet, "is not answering", "database-not-answering"},
		{"Withdraw", "console:alice", "deny", down, "which is down", "database-unreachable"},
		{"Withdraw", "console:alice", "deny", hung, "is not answering", "database-not-answering"},
	} {
		t.Run(fmt.Sprintf("%s-%s-%s-%s", c.method, c.verb, strings.TrimPrefix(c.who, "console:"), c.result), func(t *testing.T) {
			f := &fixture{}
			reg, err := bot.NewRegistry(f.commands()...)
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			ok := botstore.Approvals{S: st}
			mk := func(a bot.Approvals) *bot.Engine {
				e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: people, Redactor: redact.New(), Timeout: 5 * time.Second,
					Approvals: a, Auditor: rec})
				if err != nil {
					t.Fatal(err)
				}
				return e
			}
			id := pending(t, mk(ok), "console:alice", "purge cache")
			n := len(rec.since(0))
			r := mk(failing{Approvals: ok, method: c.method, err: c.err}).Handle(context.Background(),
				bot.Request{Subject: c.who, Channel: "C1", Text: c.verb + " " + id})
			if r.Outcome != bot.OutcomeFailed || !strings.Contains(text(r.Message), c.says) || !strings.Contains(text(r.Message), "Nothing was run") {
				t.Errorf("reply %v %q; want failed, saying %q", r.Outcome, text(r.Message), c.says)
			}
			if f.purges.Load() != 0 {
				t.Error("it ran")
			}
			got := rec.since(n)
			if len(got) != 1 {
				t.Fatalf("%d audit entries for the attempt, want 1: %+v", len(got), got)
			}
			e := got[0]
			if e.Subject != c.who || e.Approver != c.who || e.Decision != "failed" || e.Result != c.result+" "+id ||
				e.Command != c.verb || e.Channel != "C1" || !strings.Contains(e.Args, id) {
				t.Errorf("audit entry %+v", e)
			}
			// The request itself is untouched: still pending.
			if a, err := ok.Get(context.Background(), id); err != nil || a.State != bot.ApprovalPending {
				t.Errorf("request after the failed attempt: %+v %v", a, err)
			}
		})
	}
}
