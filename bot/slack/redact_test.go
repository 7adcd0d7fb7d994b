package slack

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/bot/slack/slacktest"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/internal/redact/redacttest"
)

// TestCorpusNeverReachesSlack: the corpus of fake secrets, in a reply's
// text, fields and code (long enough to go up as a file), in progress
// reports and in an error, never reaches any Slack Web API call or file.
func TestCorpusNeverReachesSlack(t *testing.T) {
	corpus := redacttest.Corpus(13)
	var all []string
	for _, it := range corpus {
		all = append(all, it.Text)
	}
	text := strings.Join(all, "\n")
	long := strings.Repeat(text+"\n", 8)
	reg, err := bot.NewRegistry(
		bot.Command{Name: "corpus", Summary: "corpus", Level: bot.Level1, MaxArgs: -1, Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) {
			bot.Report(ctx, bot.Message{Title: "progress", Text: text})
			time.Sleep(300 * time.Millisecond) // long enough for the progress message
			return bot.Message{Title: "Corpus", Text: text, Fields: []bot.Field{{Name: "first", Value: all[0]}},
				Code: []bot.CodeBlock{{Title: "log", Text: long}}}, nil
		}},
		bot.Command{Name: "fails", Summary: "fails", Level: bot.Level1, Run: func(context.Context, bot.Request) (bot.Message, error) {
			return bot.Message{}, errors.New("connect failed: " + text)
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: testLevels{"slack:UOPS": bot.Level1}, Redactor: redact.New()})
	if err != nil {
		t.Fatal(err)
	}
	fake := slacktest.New(t)
	b, err := New(Options{AppToken: fake.AppToken(), BotToken: fake.BotToken(), APIURL: fake.APIURL(), Core: engine,
		ProgressAfter: 100 * time.Millisecond, PostEvery: time.Millisecond, PostBurst: 100})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := fake.WaitConnected(1, wait); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"corpus", "fails"} {
		env := fake.SlashCommand(slacktest.SlashCommand{User: "UOPS", Channel: "C0OPS", Text: cmd})
		if _, err := fake.WaitAck(env, 3*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) {
		var got string
		for _, m := range fake.Messages("C0OPS") {
			got += m.Text + string(m.Blocks)
		}
		if strings.Contains(got, "Corpus") && strings.Contains(got, "fails failed") && len(fake.Files()) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replies did not arrive: %s", got)
		}
	}
	var sent strings.Builder
	for _, c := range fake.Calls("") {
		form, _ := json.Marshal(c.Form)
		body, _ := json.Marshal(c.JSON)
		sent.Write(form)
		sent.Write(body)
	}
	for _, f := range fake.Files() {
		sent.Write(f.Content)
		sent.WriteString(f.Title + f.InitialComment)
	}
	for _, m := range fake.Messages("C0OPS") {
		sent.WriteString(m.Text + string(m.Blocks))
	}
	// JSON escapes '+', '/' never, but < > & become \u003c…: compare both.
	out := sent.String()
	out += strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&", `\"`, `"`, `\n`, "\n").Replace(out)
	if leaks := redacttest.Leaks(out, corpus); len(leaks) > 0 {
		t.Errorf("Slack was sent %d secrets, first %q", len(leaks), leaks[0])
	}
	if !strings.Contains(out, redact.Mask) {
		t.Error("nothing redacted reached Slack: the test sent nothing")
	}
}
