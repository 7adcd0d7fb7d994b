package commands

import (
	"context"
	"testing"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/store/botstore"
)

// benchIncident is a rig with an incident open at the console.
func benchIncident(b *testing.B) *incidentRig { return newIncidentRig(b, nil) }

func startAtConsole(b *testing.B, r *incidentRig) {
	rep := r.e.Handle(context.Background(), bot.Request{Subject: "console:alice", Channel: "console", Text: "incident start sev2 bench"})
	if rep.Outcome != bot.OutcomeOK {
		b.Fatalf("start: %v %s", rep.Outcome, text(rep.Message))
	}
}

func reportMs(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// BenchmarkTimelineAppendPostgres is one entry appended to an open
// incident's timeline in PostgreSQL (the incident found by its place in
// the same statement).
func BenchmarkTimelineAppendPostgres(b *testing.B) {
	r := benchIncident(b)
	startAtConsole(b, r)
	ctx := context.Background()
	for b.Loop() {
		if err := r.tl.Record(ctx, "console", "", bot.TimelineEntry{Who: "console:alice", Kind: "command", What: "health", Outcome: "ran: ok"}); err != nil {
			b.Fatal(err)
		}
	}
	reportMs(b)
}

// BenchmarkTimelineAppendNoIncident is what every command pays where no
// incident is open: one statement that finds none.
func BenchmarkTimelineAppendNoIncident(b *testing.B) {
	r := benchIncident(b)
	ctx := context.Background()
	for b.Loop() {
		if err := r.tl.Record(ctx, "C0ELSEWHERE", "", bot.TimelineEntry{Who: "slack:UOPS", Kind: "command", What: "health", Outcome: "ran: ok"}); err != nil {
			b.Fatal(err)
		}
	}
	reportMs(b)
}

// BenchmarkTimelineAppendSpool is one entry appended while the bot's
// database is down: straight to the spool, fsynced.
func BenchmarkTimelineAppendSpool(b *testing.B) {
	r := benchIncident(b)
	startAtConsole(b, r)
	r.store.down.Store(true)
	ctx := context.Background()
	_ = r.tl.Record(ctx, "console", "", bot.TimelineEntry{Who: "console:alice", Kind: "command", What: "first"})
	for b.Loop() {
		_ = r.tl.Record(ctx, "console", "", bot.TimelineEntry{Who: "console:alice", Kind: "command", What: "health", Outcome: "ran: ok"})
	}
	reportMs(b)
	if r.sp.Len() < b.N {
		b.Fatalf("spooled %d of %d", r.sp.Len(), b.N)
	}
}

// BenchmarkCommandInIncident is a whole command handled in an incident's
// place, audited and put on the timeline; BenchmarkCommandAuditOnly is the
// same with the audit log alone: the difference is what the timeline adds.
func BenchmarkCommandInIncident(b *testing.B) {
	r := benchIncident(b)
	startAtConsole(b, r)
	ctx := context.Background()
	for b.Loop() {
		if rep := r.e.Handle(ctx, bot.Request{Subject: "console:alice", Channel: "console", Text: "probe"}); rep.Outcome != bot.OutcomeOK {
			b.Fatal(rep.Outcome)
		}
	}
	reportMs(b)
}

func BenchmarkCommandAuditOnly(b *testing.B) {
	r := benchIncident(b)
	reg, err := bot.NewRegistry(bot.Command{Name: "probe", Level: bot.Level1, MaxArgs: -1, Run: func(context.Context, bot.Request) (bot.Message, error) {
		return bot.Message{Title: "probe", Status: bot.StatusOK}, nil
	}})
	if err != nil {
		b.Fatal(err)
	}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: newAuthz(b, testPolicy), Redactor: noRedact{}, Auditor: botstore.Auditor{S: r.st}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if rep := e.Handle(ctx, bot.Request{Subject: "console:alice", Channel: "console", Text: "probe"}); rep.Outcome != bot.OutcomeOK {
			b.Fatal(rep.Outcome)
		}
	}
	reportMs(b)
}
