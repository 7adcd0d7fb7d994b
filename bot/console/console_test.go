package console

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// echo answers with the text it got and records requests.
type echo struct{ got []bot.Request }

func (e *echo) Handle(_ context.Context, r bot.Request) bot.Reply {
	e.got = append(e.got, r)
	if r.Text == "fail" {
		return bot.Reply{Outcome: bot.OutcomeFailed, Message: bot.Message{Title: "x", Status: bot.StatusFailed}}
	}
	return bot.Reply{Message: bot.Message{Title: "echo " + r.Text}}
}

func TestRunReadsLinesUntilEOF(t *testing.T) {
	h := &echo{}
	in := strings.NewReader("health\n\n# comment\n  /shiftwise help  \nlast-without-newline")
	var out bytes.Buffer
	c := &Console{Core: h, Subject: "console:alice"}
	if err := c.Run(context.Background(), in, &out); err != nil {
		t.Fatal(err)
	}
	if len(h.got) != 3 {
		t.Fatalf("handled %d lines, want 3: %+v", len(h.got), h.got)
	}
	if h.got[0].Subject != "console:alice" || h.got[0].Channel != "console" {
		t.Errorf("request identity = %+v", h.got[0])
	}
	if h.got[2].Text != "last-without-newline" {
		t.Errorf("last line = %q", h.got[2].Text)
	}
	if strings.Contains(out.String(), "shiftwise>") {
		t.Errorf("a pipe gets no prompt: %q", out.String())
	}
	if !strings.Contains(out.String(), "echo health") {
		t.Errorf("output = %q", out.String())
	}
}

func TestRunStopsAtExitAndShowsPrompt(t *testing.T) {
	h := &echo{}
	var out bytes.Buffer
	c := &Console{Core: h, Subject: "console:a", Prompt: "shiftwise> "}
	if err := c.Run(context.Background(), strings.NewReader("health\nexit\nhealth\n"), &out); err != nil {
		t.Fatal(err)
	}
	if len(h.got) != 1 {
		t.Errorf("handled %d, want 1 (stops at exit)", len(h.got))
	}
	if strings.Count(out.String(), "shiftwise> ") != 2 {
		t.Errorf("prompts: %q", out.String())
	}
}

func TestRunRejectsHugeLineAndGoesOn(t *testing.T) {
	h := &echo{}
	var out bytes.Buffer
	in := io.MultiReader(strings.NewReader(strings.Repeat("x", maxLine+10)+"\n"), strings.NewReader("health\n"))
	c := &Console{Core: h, Subject: "console:a"}
	if err := c.Run(context.Background(), in, &out); err != nil {
		t.Fatal(err)
	}
	if len(h.got) != 1 || h.got[0].Text != "health" {
		t.Errorf("got %d requests; the huge line must not reach the core", len(h.got))
	}
	if !strings.Contains(out.String(), "Nothing was run") {
		t.Errorf("output = %q", out.String())
	}
}

func TestRunOnceExitCode(t *testing.T) {
	var out bytes.Buffer
	if code := RunOnce(context.Background(), &echo{}, "console:a", "fail", &out); code != 1 {
		t.Errorf("exit = %d, want 1", code)
	}
	if code := RunOnce(context.Background(), &echo{}, "console:a", "ok", &out); code != 0 {
		t.Errorf("exit = %d, want 0", code)
	}
}

func TestRender(t *testing.T) {
	m := bot.Message{
		Title:  "Daily health check",
		Status: bot.StatusFailed,
		Checks: []bot.Check{
			{Name: "api /health", Status: bot.StatusOK, Value: "200 in 3ms", Threshold: "2xx within 3s"},
			{Name: "containers", Status: bot.StatusFailed, Value: "4 of 5 Up; redis exited (0)", Threshold: "all Up"},
		},
		Fields:  []bot.Field{{Name: "Usage", Value: "health"}},
		Code:    []bot.CodeBlock{{Title: "log", Text: "line1\nline2\n"}},
		Summary: "Health: FAILED (1 of 2 checks)",
		Meta:    bot.Meta{User: "console:a", Command: "health", Duration: 12 * time.Millisecond},
	}
	want := `Daily health check
  api /health  PASSED  200 in 3ms  (2xx within 3s)
  containers   FAILED  4 of 5 Up; redis exited (0)  (all Up)
  Usage:  health
log:
  line1
  line2
Health: FAILED (1 of 2 checks)
(console:a · health · 12ms)
`
	if got := Render(m); got != want {
		t.Errorf("Render:\n%s\nwant:\n%s", got, want)
	}
}

func TestRunEndsWhenContextEndsWhileWaitingForInput(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- (&Console{Core: &echo{}, Subject: "console:a"}).Run(ctx, pr, io.Discard)
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still waits for input after its context ended")
	}
}

// progressCore reports two steps through bot.Report's sink before its reply.
type progressCore struct{}

func (progressCore) Handle(ctx context.Context, req bot.Request) bot.Reply {
	req.Progress(bot.Message{Title: "step 1 of 2"})
	req.Progress(bot.Message{Title: "step 2 of 2"})
	return bot.Reply{Message: bot.Message{Title: "done"}}
}

func TestProgressIsPrintedBeforeTheResult(t *testing.T) {
	var out strings.Builder
	if code := RunOnce(context.Background(), progressCore{}, "console:t", "deploy", &out); code != 0 {
		t.Fatalf("exit %d", code)
	}
	want := "… step 1 of 2\n… step 2 of 2\ndone\n"
	if !strings.HasPrefix(out.String(), want) {
		t.Fatalf("output %q, want it to start with %q", out.String(), want)
	}
}

func TestRunButtonsShowTheLineToType(t *testing.T) {
	out := Render(bot.Message{Title: "Runbook", Buttons: []bot.Button{
		{ActionID: bot.ActionRun, Text: "restart api", Value: "restart api"},
		{ActionID: bot.ActionApprove, Text: "Approve", Value: "R1"},
	}})
	if !strings.Contains(out, "[restart api]  type: restart api\n") || !strings.Contains(out, "  [Approve]\n") {
		t.Fatalf("render:\n%s", out)
	}
}
