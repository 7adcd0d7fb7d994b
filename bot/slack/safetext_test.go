package slack

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/bot/slack/slacktest"
)

// unsafeSamples is every text a terminal or a client could act on, with
// the escaped form a reply must show: each C0 byte but newline and tab,
// DEL, each C1 control, the bidi controls and separators, bytes that are
// not UTF-8.
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

func activeIn(s string) (string, bool) {
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

// Replies in Slack show control characters, escape sequences, C1 controls
// and bidi overrides escaped, in every part of a message (blocks, the
// fallback text, an uploaded file), as the console does.
func TestRepliesEscapeControlCharacters(t *testing.T) {
	samples := unsafeSamples()
	raws := make([]string, 0, len(samples))
	for raw := range samples {
		raws = append(raws, raw)
	}
	sort.Strings(raws)
	var all strings.Builder
	for _, raw := range raws {
		all.WriteString("[" + raw + "]")
	}
	s := all.String()
	logLine := "GET / 200 \x1b[2J\x1b[H\x1b]0;owned\x07\x1b[8mhidden \u009b31m \u202eevil"
	reg, err := bot.NewRegistry(
		bot.Command{Name: "show", Level: bot.Level1, Run: func(context.Context, bot.Request) (bot.Message, error) {
			return bot.Message{Title: "T" + s, Text: s, Summary: s, Status: bot.StatusOK,
				Checks:  []bot.Check{{Name: "c" + s, Status: bot.StatusOK, Value: s, Threshold: s}},
				Fields:  []bot.Field{{Name: "f" + s, Value: s}},
				Code:    []bot.CodeBlock{{Title: "log", Text: logLine + "\n" + s}},
				Buttons: []bot.Button{{ActionID: "test.press", Text: "b" + s, Value: "v-1"}}}, nil
		}},
		bot.Command{Name: "showbig", Level: bot.Level1, Run: func(context.Context, bot.Request) (bot.Message, error) {
			return bot.Message{Title: "Big", Code: []bot.CodeBlock{{Title: "log", Text: strings.Repeat(logLine+" "+s+"\n", 500)}}}, nil
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: testLevels{"slack:UOPS": bot.Level1}, Redactor: noRedact{},
		Actions: map[string]bot.ActionHandler{"test.press": func(context.Context, bot.Action) (bot.Message, error) { return bot.Message{}, nil }}})
	if err != nil {
		t.Fatal(err)
	}
	fake := slacktest.New(t)
	b, err := New(Options{AppToken: fake.AppToken(), BotToken: fake.BotToken(), APIURL: fake.APIURL(), Core: engine,
		ProgressAfter: time.Minute, PostEvery: time.Millisecond, PostBurst: 100})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			t.Error("Run did not return after cancel")
		}
	})
	if err := fake.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}

	for _, line := range []string{"show", "showbig"} {
		env := fake.SlashCommand(slacktest.SlashCommand{User: "UOPS", Channel: "C0OPS", Text: line})
		if _, err := fake.WaitAck(env, 3*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := fake.WaitMessages("C0OPS", 2, wait)
	if err != nil {
		t.Fatal(err)
	}
	var shown strings.Builder
	for _, m := range msgs {
		shown.WriteString(texts(m) + "\n" + m.Text + "\n")
		// Buttons' labels and confirm dialogs are in "text" objects too.
	}
	files := fake.Files()
	deadline := time.Now().Add(wait)
	for len(files) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		files = fake.Files()
	}
	if len(files) == 0 {
		t.Fatal("showbig uploaded no file")
	}
	for _, f := range files {
		shown.WriteString(string(f.Content) + "\n")
	}
	out := shown.String()
	if what, bad := activeIn(out); bad {
		t.Errorf("a Slack reply holds %s", what)
	}
	for _, raw := range raws {
		want := "[" + samples[raw] + "]"
		if n := strings.Count(out, want); n < 8 {
			t.Errorf("%q is shown as %q %d times, want it in every field", raw, samples[raw], n)
		}
	}
	if !strings.Contains(out, `GET / 200 \x1b[2J\x1b[H\x1b]0;owned\x07\x1b[8mhidden \u009b31m \u202eevil`) {
		t.Errorf("the log line is not shown escaped:\n%s", out)
	}
	noViolationsFake(t, fake)
}

func noViolationsFake(t *testing.T, fake *slacktest.Server) {
	t.Helper()
	if v := fake.Violations(); len(v) > 0 {
		t.Errorf("Slack limits violated: %q", v)
	}
}
