package console

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// echo answers with the text it got and records requests.
type echo struct{ got []bot.Request }

func (e *echo) Handle(_ context.Context, r bot.Request) bot.Reply {
	e.got = append(e.got, r)
	text := r.Text
	if r.Words != nil {
		text = strings.Join(r.Words, " ")
	}
	if text == "fail" {
		return bot.Reply{Outcome: bot.OutcomeFailed, Message: bot.Message{Title: "x", Status: bot.StatusFailed}}
	}
	return bot.Reply{Message: bot.Message{Title: "echo " + text}}
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
	if code := RunOnce(context.Background(), &echo{}, "console:a", []string{"fail"}, &out); code != 1 {
		t.Errorf("exit = %d, want 1", code)
	}
	if code := RunOnce(context.Background(), &echo{}, "console:a", []string{"ok"}, &out); code != 0 {
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
	if code := RunOnce(context.Background(), progressCore{}, "console:t", []string{"deploy"}, &out); code != 0 {
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

// unsafeSamples is every text a terminal would act on, with the escaped
// form the console must show: each C0 byte but newline and tab, DEL, each
// C1 control, the bidi controls and separators, and bytes that are not
// UTF-8.
func unsafeSamples() map[string]string {
	m := map[string]string{"\r": `\r`, "\x7f": `\x7f`, "\xff": `\xff`, "\xc3": `\xc3`}
	for b := 0; b < 0x20; b++ {
		if b != '\n' && b != '\t' && b != '\r' {
			m[string(rune(b))] = fmt.Sprintf(`\x%02x`, b)
		}
	}
	for r := rune(0x80); r <= 0x9f; r++ {
		m[string(r)] = fmt.Sprintf(`\u%04x`, r)
	}
	for _, r := range []rune{0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x2028, 0x2029} {
		m[string(r)] = fmt.Sprintf(`\u%04x`, r)
	}
	return m
}

// terminalActive reports the first byte or rune of s a terminal acts on.
func terminalActive(s string) (string, bool) {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			return fmt.Sprintf("byte %#x", s[i]), true
		case r < 0x20 && r != '\n' && r != '\t', r >= 0x7f && r <= 0x9f,
			r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x2028, r == 0x2029:
			return fmt.Sprintf("%U", r), true
		}
		i += n
	}
	return "", false
}

// Every control character in every part of a message is shown escaped,
// never written to the terminal; newline and tab stay layout.
func TestRenderEscapesControlCharacters(t *testing.T) {
	for raw, shown := range unsafeSamples() {
		s := "<" + raw + ">"
		m := bot.Message{Title: s, Text: s, Summary: s,
			Checks:  []bot.Check{{Name: s, Status: bot.StatusOK, Value: s, Threshold: s}},
			Fields:  []bot.Field{{Name: s, Value: s}},
			Code:    []bot.CodeBlock{{Title: s, Text: "line one\n" + s + "\tcol\nline three"}},
			Buttons: []bot.Button{{ActionID: bot.ActionRun, Text: s, Value: s}},
			Meta:    bot.Meta{User: s, Command: s}}
		out := Render(m)
		if what, bad := terminalActive(out); bad {
			t.Errorf("%q: the console output holds %s:\n%q", raw, what, out)
		}
		if n := strings.Count(out, "<"+shown+">"); n < 12 {
			t.Errorf("%q: shown as %q only %d times of 12:\n%s", raw, shown, n, out)
		}
	}
	out := Render(bot.Message{Code: []bot.CodeBlock{{Title: "log", Text: "a\tb\nc\r\n\x1b[2J\x1b[Hcleared\x1b]0;title\x07 \u009b31m \u202eevil"}}})
	want := "log:\n  a\tb\n  c\\r\n  \\x1b[2J\\x1b[Hcleared\\x1b]0;title\\x07 \\u009b31m \\u202eevil\n"
	if out != want {
		t.Errorf("Render = %q, want %q", out, want)
	}
}

// A log line with escape sequences reaches the console through Run and
// RunOnce escaped, progress reports included.
func TestRunShowsLogEscapesEscaped(t *testing.T) {
	line := "GET / 200 \x1b[2J\x1b[3J\x1b[H\x1b]0;owned\x07\x1b[8mhidden"
	core := handlerFunc(func(ctx context.Context, r bot.Request) bot.Reply {
		if r.Progress != nil {
			r.Progress(bot.Message{Title: "reading \x1b[31m"})
		}
		return bot.Reply{Message: bot.Message{Title: "Logs of api", Code: []bot.CodeBlock{{Text: line}}}}
	})
	var out bytes.Buffer
	c := &Console{Core: core, Subject: "console:a"}
	if err := c.Run(context.Background(), strings.NewReader("logs api\n"), &out); err != nil {
		t.Fatal(err)
	}
	RunOnce(context.Background(), core, "console:a", []string{"logs", "api"}, &out)
	if what, bad := terminalActive(out.String()); bad {
		t.Fatalf("output holds %s: %q", what, out.String())
	}
	if strings.Count(out.String(), `GET / 200 \x1b[2J\x1b[3J\x1b[H\x1b]0;owned\x07\x1b[8mhidden`) != 2 || strings.Count(out.String(), `reading \x1b[31m`) != 2 {
		t.Errorf("output = %q", out.String())
	}
}

type handlerFunc func(context.Context, bot.Request) bot.Reply

func (f handlerFunc) Handle(ctx context.Context, r bot.Request) bot.Reply { return f(ctx, r) }

// RunOnce hands its words to the core as they are.
func TestRunOnceGivesWords(t *testing.T) {
	h := &echo{}
	words := []string{"logs", "api", "--grep", "say “hi” now"}
	var out bytes.Buffer
	RunOnce(context.Background(), h, "console:a", words, &out)
	if len(h.got) != 1 || !reflect.DeepEqual(h.got[0].Words, words) || h.got[0].Text != "" {
		t.Errorf("request = %+v", h.got)
	}
}
