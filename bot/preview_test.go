package bot_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/internal/store/botstore"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
)

// TestPreviewInApprovalRequest: a command needing approval shows what it
// would do in the request; a usage error from its preview refuses the
// request; a failing preview still lets the request through, saying so.
// The preview never runs the command.
func TestPreviewInApprovalRequest(t *testing.T) {
	s, _ := storetest.OpenTest(t)
	var runs, previews atomic.Int64
	cmd := bot.Command{
		Name: "shred", Usage: "<what>", MinArgs: 1, MaxArgs: 1, Level: bot.Level1, Approval: true,
		Run: func(context.Context, bot.Request) (bot.Message, error) {
			runs.Add(1)
			return bot.Message{Title: "shredded", Status: bot.StatusOK}, nil
		},
		Preview: func(_ context.Context, req bot.Request) (bot.Message, error) {
			previews.Add(1)
			switch req.Args.First() {
			case "nothing":
				return bot.Message{}, &bot.UsageError{Msg: "There is nothing called nothing."}
			case "broken":
				return bot.Message{}, errors.New("listing failed")
			}
			return bot.Message{Text: "It deletes 2 files (password=hunter2).", Checks: []bot.Check{{Name: "a.sql", Value: "1K"}, {Name: "b.sql", Value: "2K"}},
				Summary: "2 files, 3K"}, nil
		},
	}
	reg, err := bot.NewRegistry(cmd)
	if err != nil {
		t.Fatal(err)
	}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: people, Redactor: redact.New(), Timeout: 5 * time.Second,
		Approvals: botstore.Approvals{S: s}, Auditor: botstore.Auditor{S: s}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := e.Handle(ctx, bot.Request{Subject: "console:alice", Channel: "C1", Text: "shred files"})
	all := text(r.Message) + r.Message.Summary
	for _, c := range r.Message.Checks {
		all += " " + c.Name
	}
	if r.Outcome != bot.OutcomePending || !strings.Contains(all, "It deletes 2 files") || !strings.Contains(all, "a.sql") ||
		!strings.Contains(all, "b.sql") || !strings.Contains(all, "2 files, 3K") || len(r.Message.Buttons) != 2 {
		t.Fatalf("request: %v %s", r.Outcome, all)
	}
	if strings.Contains(all, "hunter2") {
		t.Errorf("the preview was not redacted: %s", all)
	}
	r = e.Handle(ctx, bot.Request{Subject: "console:alice", Channel: "C1", Text: "shred nothing"})
	if r.Outcome != bot.OutcomeUsage || !strings.Contains(r.Message.Text, "nothing called nothing") || len(r.Message.Buttons) != 0 {
		t.Fatalf("usage from preview: %v %s", r.Outcome, text(r.Message))
	}
	r = e.Handle(ctx, bot.Request{Subject: "console:alice", Channel: "C1", Text: "shred broken"})
	if r.Outcome != bot.OutcomePending || !strings.Contains(r.Message.Text, "could not be shown beforehand: listing failed") {
		t.Fatalf("failing preview: %v %s", r.Outcome, text(r.Message))
	}
	if runs.Load() != 0 || previews.Load() != 3 {
		t.Fatalf("runs %d previews %d", runs.Load(), previews.Load())
	}
}
