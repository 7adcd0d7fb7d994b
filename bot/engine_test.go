package bot

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

type allowAll struct{}

func (allowAll) Authorize(context.Context, string, *Command, Args) Decision {
	return Decision{Allowed: true}
}

type noRedact struct{}

func (noRedact) Redact(s string) string { return s }

// levelAuth gives each subject a level.
type levelAuth map[string]Level

func (l levelAuth) Authorize(_ context.Context, subject string, c *Command, _ Args) Decision {
	if l[subject] >= c.Level {
		return Decision{Allowed: true}
	}
	return Decision{Level: c.Level, Reason: "needs " + c.Level.String()}
}

type maskSecret struct{}

func (maskSecret) Redact(s string) string { return strings.ReplaceAll(s, "s3cret", "[REDACTED]") }

func engine(t *testing.T, auth Authorizer, cmds ...Command) *Engine {
	t.Helper()
	reg, err := NewRegistry(cmds...)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(Options{Registry: reg, Authorizer: auth, Redactor: maskSecret{}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestHandleOutcomes(t *testing.T) {
	runs := 0
	cmds := []Command{
		{Name: "ok", Level: Level1, Run: func(context.Context, Request) (Message, error) {
			runs++
			return Message{Title: "ok", Status: StatusOK, Text: "password s3cret"}, nil
		}},
		{Name: "bad", Level: Level1, Run: func(context.Context, Request) (Message, error) {
			runs++
			return Message{Title: "bad", Status: StatusFailed}, nil
		}},
		{Name: "err", Level: Level1, Run: func(context.Context, Request) (Message, error) {
			runs++
			return Message{}, errors.New("connect postgres://u:s3cret@h: refused")
		}},
		{Name: "boom", Level: Level1, Run: func(context.Context, Request) (Message, error) {
			runs++
			panic("nil map")
		}},
		{Name: "slow", Level: Level1, Timeout: 50 * time.Millisecond, Run: func(ctx context.Context, _ Request) (Message, error) {
			runs++
			<-ctx.Done()
			return Message{}, ctx.Err()
		}},
		{Name: "admin", Level: Level3, Run: func(context.Context, Request) (Message, error) {
			runs++
			return Message{}, nil
		}},
		{Name: "rollback", Level: Level1, Approval: true, Run: func(context.Context, Request) (Message, error) {
			runs++
			return Message{}, nil
		}},
	}
	e := engine(t, levelAuth{"console:alice": Level1}, cmds...)
	cases := []struct {
		text     string
		outcome  Outcome
		exit     int
		runs     int
		contains string
	}{
		{"ok", OutcomeOK, 0, 1, "[REDACTED]"},
		{"bad", OutcomeFailed, 1, 1, ""},
		{"err", OutcomeFailed, 1, 1, "refused"},
		{"boom", OutcomeFailed, 1, 1, "crashed"},
		{"slow", OutcomeFailed, 1, 1, "did not finish within 50ms"},
		{"nope", OutcomeUsage, 2, 0, "Unknown command"},
		{"ok extra", OutcomeUsage, 2, 0, "takes no arguments"},
		{"admin", OutcomeDenied, 3, 0, "needs Level 3"},
		{"rollback", OutcomePending, 3, 0, "approval"},
		{"help", OutcomeOK, 0, 0, "Commands you may run"},
		{"", OutcomeOK, 0, 0, "Commands you may run"},
		{"help ok", OutcomeOK, 0, 0, "Usage"},
		{"help nope", OutcomeUsage, 2, 0, "Unknown command"},
	}
	for _, c := range cases {
		runs = 0
		r := e.Handle(context.Background(), Request{Subject: "console:alice", Channel: "console", Text: c.text})
		all := r.Message.Title + " " + r.Message.Text
		for _, f := range r.Message.Fields {
			all += " " + f.Name + " " + f.Value
		}
		for _, cb := range r.Message.Code {
			all += " " + cb.Title + " " + cb.Text
		}
		if r.Outcome != c.outcome || r.Outcome.ExitCode() != c.exit || runs != c.runs {
			t.Errorf("%q: outcome %d exit %d runs %d; want %d %d %d (%s)", c.text, r.Outcome, r.Outcome.ExitCode(), runs, c.outcome, c.exit, c.runs, all)
		}
		if !strings.Contains(all, c.contains) {
			t.Errorf("%q: reply %q lacks %q", c.text, all, c.contains)
		}
		if strings.Contains(all, "s3cret") {
			t.Errorf("%q: reply leaks the secret: %q", c.text, all)
		}
	}
}

func TestHandleFillsMeta(t *testing.T) {
	e := engine(t, allowAll{}, Command{Name: "ok", Run: func(context.Context, Request) (Message, error) {
		return Message{Title: "ok"}, nil
	}})
	r := e.Handle(context.Background(), Request{Subject: "console:bob", Channel: "console", Text: "/shiftwise ok"})
	if r.Message.Meta.User != "console:bob" || r.Message.Meta.Command != "ok" || r.Message.Meta.Channel != "console" {
		t.Errorf("meta = %+v", r.Message.Meta)
	}
}

func TestHelpSplitsByLevel(t *testing.T) {
	run := func(context.Context, Request) (Message, error) { return Message{}, nil }
	e := engine(t, levelAuth{"console:alice": Level1},
		Command{Name: "health", Summary: "daily check", Level: Level1, Run: run},
		Command{Name: "rollback", Summary: "roll back", Level: Level2, Run: run})
	m := e.Handle(context.Background(), Request{Subject: "console:alice", Text: "help"}).Message
	if len(m.Code) != 2 || !strings.Contains(m.Code[0].Text, "health") || strings.Contains(m.Code[0].Text, "rollback") ||
		!strings.Contains(m.Code[1].Text, "rollback") || !strings.Contains(m.Code[1].Text, "Level 2") {
		t.Errorf("help = %+v", m.Code)
	}
}

func TestHandleActionRoutesByID(t *testing.T) {
	reg, _ := NewRegistry()
	var got []Action
	e, err := NewEngine(Options{Registry: reg, Authorizer: allowAll{}, Redactor: maskSecret{}, Actions: map[string]ActionHandler{
		"demo.press": func(_ context.Context, a Action) (Message, error) {
			got = append(got, a)
			return Message{Title: "pressed " + a.Value + " s3cret"}, nil
		},
		"demo.boom": func(context.Context, Action) (Message, error) { panic("boom") },
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := e.HandleAction(context.Background(), Action{ID: "demo.press", Value: "v1", Subject: "slack:U1"})
	if r.Outcome != OutcomeOK || r.Message.Title != "pressed v1 [REDACTED]" || len(got) != 1 {
		t.Errorf("press: %+v (%d calls)", r, len(got))
	}
	for _, id := range []string{"nope", "", "DEMO.PRESS", "demo.press; rm -rf /"} {
		if r := e.HandleAction(context.Background(), Action{ID: id}); r.Outcome != OutcomeUsage {
			t.Errorf("%q: outcome %v, want refused", id, r.Outcome)
		}
	}
	if len(got) != 1 {
		t.Errorf("refused actions ran: %d calls", len(got))
	}
	if r := e.HandleAction(context.Background(), Action{ID: "demo.boom"}); r.Outcome != OutcomeFailed {
		t.Errorf("panicking handler: %v", r.Outcome)
	}
	if _, err := NewEngine(Options{Registry: reg, Authorizer: allowAll{}, Redactor: maskSecret{}, Actions: map[string]ActionHandler{"Bad ID": nil}}); err == nil {
		t.Error("a bad action id must fail at start")
	}
}

func TestHelpHidesDecisionsWithoutADatabase(t *testing.T) {
	run := func(context.Context, Request) (Message, error) { return Message{}, nil }
	e := engine(t, levelAuth{"console:alice": Level1}, Command{Name: "health", Summary: "daily check", Level: Level1, Run: run})
	m := e.Handle(context.Background(), Request{Subject: "console:alice", Text: "help"}).Message
	for _, cb := range m.Code {
		if strings.Contains(cb.Text, "approve") || strings.Contains(cb.Text, "deny") {
			t.Errorf("help lists approve/deny though there is no store to decide in:\n%s", cb.Text)
		}
	}
}

func TestReportReachesTheTransportRedacted(t *testing.T) {
	e := engine(t, allowAll{}, Command{Name: "deploy", Level: Level1, Run: func(ctx context.Context, _ Request) (Message, error) {
		Report(ctx, Message{Title: "step 1", Text: "token s3cret"})
		Report(ctx, Message{Title: "step 2"})
		return Message{Title: "deployed"}, nil
	}})
	var got []Message
	r := e.Handle(context.Background(), Request{Subject: "console:t", Channel: "console", Text: "deploy",
		Progress: func(m Message) { got = append(got, m) }})
	if r.Message.Title != "deployed" || len(got) != 2 {
		t.Fatalf("reply %q, progress %+v", r.Message.Title, got)
	}
	if got[0].Title != "step 1" || got[0].Text != "token [REDACTED]" || got[1].Title != "step 2" {
		t.Fatalf("progress %+v, want two steps with the secret masked", got)
	}
	// Without a sink, Report is a no-op.
	if r := e.Handle(context.Background(), Request{Subject: "console:t", Channel: "console", Text: "deploy"}); r.Message.Title != "deployed" {
		t.Fatalf("without progress: %q", r.Message.Title)
	}
}

func TestRunButtonIsTypingTheLineAsThePresser(t *testing.T) {
	var ran []string
	e := engine(t, levelAuth{"slack:L2": Level2, "slack:L1": Level1},
		Command{Name: "restart", MinArgs: 1, MaxArgs: 1, Level: Level2, Run: func(_ context.Context, r Request) (Message, error) {
			ran = append(ran, r.Subject+" "+r.Args.First())
			return Message{Title: "restarted " + r.Args.First()}, nil
		}})
	r := e.HandleAction(context.Background(), Action{ID: ActionRun, Value: "restart api", Subject: "slack:L2", Channel: "C1"})
	if r.Outcome != OutcomeOK || r.Message.Title != "restarted api" {
		t.Fatalf("L2 press: %v %q", r.Outcome, r.Message.Title)
	}
	// Below the command's level the press is refused exactly like typing it.
	r = e.HandleAction(context.Background(), Action{ID: ActionRun, Value: "restart api", Subject: "slack:L1", Channel: "C1"})
	if r.Outcome != OutcomeDenied {
		t.Fatalf("L1 press: outcome %v, want denied", r.Outcome)
	}
	// A forged value is just a bad command line.
	r = e.HandleAction(context.Background(), Action{ID: ActionRun, Value: "restart api; rm -rf /", Subject: "slack:L2", Channel: "C1"})
	if r.Outcome != OutcomeUsage {
		t.Fatalf("forged press: outcome %v (%q), want usage", r.Outcome, r.Message.Text)
	}
	if len(ran) != 1 || ran[0] != "slack:L2 api" {
		t.Fatalf("ran %v, want exactly the L2 press", ran)
	}
}

func TestRegistryParse(t *testing.T) {
	reg, err := NewRegistry(
		Command{Name: "db status", Run: func(context.Context, Request) (Message, error) { return Message{}, nil }},
		Command{Name: "logs", MinArgs: 1, MaxArgs: 1, Flags: []Flag{{Name: "tail", Kind: FlagInt, Default: "100", Min: 1, Max: 5000}},
			Run: func(context.Context, Request) (Message, error) { return Message{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	cmd, args, err := reg.Parse("/shiftwise logs api --tail 20")
	if err != nil || cmd.Name != "logs" || args.First() != "api" || args.Int("tail") != 20 {
		t.Fatalf("Parse: %v %v %v", cmd, args, err)
	}
	if cmd, _, err := reg.Parse("db status"); err != nil || cmd.Name != "db status" {
		t.Fatalf("Parse db status: %v %v", cmd, err)
	}
	for _, bad := range []string{"", "nope", "logs", "logs api --tail x", "db"} {
		if _, _, err := reg.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
