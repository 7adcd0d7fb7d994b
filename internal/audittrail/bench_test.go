package audittrail

import (
	"context"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/store/botstore"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// BenchmarkAppendDirect is one audit entry with the database up, all the
// way: into the spool (fsync), then written by the replayer (the chained
// insert, the spool's ack fsync, the digest file renamed into place). Only
// the first part is in the path of a reply (BenchmarkAppendSpooled).
func BenchmarkAppendDirect(b *testing.B) {
	st, err := store.Open(b.Context(), testenv.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	tr, _ := newTrail(b, b.TempDir(), func() *store.Store { return st })
	for b.Loop() {
		if err := tr.Append(b.Context(), entryN(1)); err != nil {
			b.Fatal(err)
		}
		if n, err := tr.Flush(b.Context()); err != nil || n != 1 {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// BenchmarkAppendSpooled is one audit entry as a reply pays for it,
// whether the database is up, down or hung: into the spool (fsync).
func BenchmarkAppendSpooled(b *testing.B) {
	tr, _ := newTrail(b, b.TempDir(), func() *store.Store { return nil })
	for b.Loop() {
		if err := tr.Append(b.Context(), entryN(1)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// levelOne lets everyone run everything at Level 1.
type levelOne struct{}

func (levelOne) Authorize(_ context.Context, _ string, c *bot.Command, _ bot.Args) bot.Decision {
	return bot.Decision{Allowed: c.Level <= bot.Level1, Level: c.Level}
}
func (levelOne) Level(string) bot.Level { return bot.Level1 }

// BenchmarkApprovalRoundTripWired is request → approve → executed through
// the engine wired as main wires it: approvals over the lazily connected
// store, the four audit entries through the trail (keyed entries, the
// digest file renamed into place). Compare bot's BenchmarkApprovalRoundTrip
// (plain store adapters).
func BenchmarkApprovalRoundTripWired(b *testing.B) {
	st, err := store.Open(b.Context(), testenv.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	lazy := botstore.Connect(b.Context(), func(context.Context) (*store.Store, error) { return st, nil },
		time.Second, time.Second, time.Second, quietLog(), func(s string) string { return s }, nil)
	tr, sp := newTrail(b, b.TempDir(), lazy.Store)
	runs := 0
	reg, err := bot.NewRegistry(bot.Command{Name: "purge", Usage: "[words...]", MaxArgs: -1, Level: bot.Level1, Approval: true,
		Run: func(context.Context, bot.Request) (bot.Message, error) {
			runs++
			return bot.Message{Title: "Purged", Status: bot.StatusOK}, nil
		}})
	if err != nil {
		b.Fatal(err)
	}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: levelOne{}, Redactor: redact.New(), Logger: quietLog(),
		Timeout: 5 * time.Second, Approvals: botstore.LazyApprovals{L: lazy}, Auditor: tr})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	for b.Loop() {
		r := e.Handle(ctx, bot.Request{Subject: "console:alice", Channel: "console", Text: "purge x"})
		if r.Outcome != bot.OutcomePending || len(r.Message.Buttons) == 0 {
			b.Fatalf("request: %v %+v", r.Outcome, r.Message)
		}
		if r := e.Handle(ctx, bot.Request{Subject: "console:bob", Channel: "console", Text: "approve " + r.Message.Buttons[0].Value}); r.Outcome != bot.OutcomeOK {
			b.Fatalf("approve: %v %+v", r.Outcome, r.Message)
		}
	}
	if _, err := tr.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if runs != b.N || sp.Len() != 0 {
		b.Fatalf("%d runs for %d requests, %d entries spooled with the database up", runs, b.N, sp.Len())
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}
