package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// offlineEnv is a bot whose operated stack is unreachable and whose
// directories are the test's own: a usage error must come before anything
// is reached, and nothing real is touched if one does not.
func offlineEnv(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	refused := testenv.RefusedAddr(t)
	return map[string]string{
		"SHIFTWISE_API_URL":          "http://" + refused,
		"SHIFTWISE_FRONTEND_URL":     "http://" + refused,
		"SHIFTWISE_TARGET_DB_URL":    "postgres://shiftwise:x@" + refused + "/shiftwise?sslmode=disable&connect_timeout=1",
		"SHIFTWISE_TARGET_REDIS_URL": "redis://" + refused + "/0",
		"DOCKER_HOST":                "tcp://" + refused,
		"SHIFTWISE_BACKUP_DIR":       filepath.Join(dir, "backups"),
		"SHIFTWISE_LOG_DIR":          filepath.Join(dir, "logs"),
	}
}

// Numbers and durations out of range, through one-shot mode: exit 2 and a
// usage error naming the flag, for every command that takes one. The first
// rows are the reported ones (281474976710658d was taken as 2 days; the
// int4 overflow was the driver's error with exit 1; 1ns ran).
func TestOneShotOutOfRangeNumbersExit2(t *testing.T) {
	env := offlineEnv(t)
	huge := "281474976710658d"
	cases := [][]string{
		{"backup", "prune", "--older", huge},
		{"backup", "list", "--older", huge},
		{"cleanup", "--logs-older", huge},
		{"cleanup", "--backups-older", huge},
		{"logs", "api", "--since", huge},
		{"errors", "--since", huge},
		{"audit", "--since", huge},
		{"db", "long-running", "--older", huge},
		{"db", "kill-long-running", "--older", huge},
		{"audit", "--before", "9223372036854775807"},
		{"health", "--timeout", "1ns"},

		{"backup", "prune", "--older", "106752d"},
		{"backup", "prune", "--older", "9223372036854775808d"},
		{"cleanup", "--logs-older", "0d"},
		{"logs", "api", "--tail", "9223372036854775808"},
		{"logs", "api", "--tail", "0"},
		{"logs", "api", "--tail", "-1"},
		{"logs", "api", "--follow", "--for", huge},
		{"logs", "api", "--since", "2562048h"},
		{"logs", "api", "--since", "-1s"},
		{"errors", "--since", "0s"},
		{"audit", "--before", "2147483648"},
		{"audit", "--before", "-1"},
		{"audit", "--limit", "4294967297"},
		{"audit", "--since", "9223372036854775808ns"},
		{"db", "vacuum", "--statement-timeout", huge},
		{"db", "vacuum", "--statement-timeout", "2562048h"},
		{"db", "indexes", "--create", "--statement-timeout", "25d"},
		{"db", "long-running", "--older", "0s"},
		{"health", "--timeout", "0s"},
		{"health", "--timeout", huge},
		{"deploy", "api", "shiftwise-demo/app:latest", "--wait", huge},
		{"rollback", "api", "--wait", "1ns"},
		{"incident", "timeline", "--page", "9223372036854775807"},
		{"incident", "timeline", "--page", "2147483648"},
		{"incident", "timeline", "--page", "0"},
	}
	for _, args := range cases {
		flag := ""
		for _, a := range args {
			if strings.HasPrefix(a, "--") && a != "--follow" && a != "--create" {
				flag = a
			}
		}
		code, out, stderr := runWith(env, "", append([]string{"-user", "ops"}, args...)...)
		if code != 2 || !strings.Contains(out, "Usage error") || !strings.Contains(out, flag+" ") {
			t.Errorf("%q: exit %d, want 2 with a usage error naming %s\n%s%s", args, code, flag, out, stderr)
		}
	}
}

// echoCommands is a command that shows what reached it, for tests to
// register.
func echoCommands() []bot.Command {
	return []bot.Command{{
		Name: "test-echo", Summary: "test only", Usage: "[words...] [--grep TEXT]", MaxArgs: -1, Level: bot.Level1,
		Flags: []bot.Flag{{Name: "grep", Kind: bot.FlagString}},
		Run: func(_ context.Context, req bot.Request) (bot.Message, error) {
			return bot.Message{Title: "echo", Status: bot.StatusOK,
				Text: fmt.Sprintf("grep=%q args=%q", req.Args.String("grep"), req.Args.Positional)}, nil
		},
	}}
}

// oneShotQuotes are argv words holding quote characters of every kind:
// the shell has split them, and they must reach the command as they are.
var oneShotQuotes = []string{
	"say “hi” now",
	"say ”hi“ now",
	"“",
	"”",
	"‘single’ and ’reversed‘",
	`"`,
	`a "quoted" word`,
	"it's",
	`'`,
	`\`,
	`back\slash \"escaped\" \\ x`,
	"«guillemets» „low“ ‚low‘ 「corner」 ＂fullwidth＂ ‹›",
	"",
	" leading and trailing ",
	"--not-a-flag",
}

// One-shot arguments are words, never re-tokenized: typographic and
// other quotes in a word arrive intact (exit 0), and the audit log records
// a line that reads back as exactly those words.
func TestOneShotQuotesInWordsArriveIntact(t *testing.T) {
	echo := echoCommands()
	dbURL := storetest.NewDatabase(t)
	env := copyEnv(offlineEnv(t), "SHIFTWISE_DATABASE_URL", dbURL)
	for _, w := range oneShotQuotes {
		code, out, stderr := runWithCommands(echo, env, "", "-user", "x", "test-echo", "pos "+w, "--grep", w)
		want := fmt.Sprintf("grep=%q args=%q", w, []string{"pos " + w})
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("--grep %q: exit %d, want 0 with %s\n%s%s", w, code, want, out, stderr)
		}
	}
	s := storetest.Open(t, dbURL)
	var entries []store.Entry
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		entries, err = s.Entries(context.Background(), store.Filter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) >= len(oneShotQuotes) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(entries) != len(oneShotQuotes) {
		t.Fatalf("%d audit entries, want %d", len(entries), len(oneShotQuotes))
	}
	for i, e := range entries { // newest first
		w := oneShotQuotes[len(oneShotQuotes)-1-i]
		words, err := bot.Tokenize(e.Args)
		if want := []string{"test-echo", "pos " + w, "--grep", w}; err != nil || !reflect.DeepEqual(words, want) {
			t.Errorf("audit line %q reads back as %q, %v; want %q", e.Args, words, err, want)
		}
	}
}

// Through the demo stack: `logs api --grep 'say “hi” now'` finds the line,
// and a line full of terminal escape sequences is shown escaped.
func TestOneShotLogsGrepAndEscapes(t *testing.T) {
	env := demoEnv(t)
	marker := fmt.Sprintf("parsing-%d", time.Now().UnixNano())
	quoted := "say “hi” now " + marker
	hostile := marker + " \x1b[2J\x1b[H\x1b]0;owned\x07\x1b[8mhidden \u009b31m \u202eevil"
	hc := &http.Client{Timeout: 10 * time.Second}
	for _, text := range []string{quoted, hostile} {
		resp, err := hc.Post(testenv.DemoAPI(t)+"/control/log?"+url.Values{"level": {"info"}, "text": {text}}.Encode(), "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("control/log: %s", resp.Status)
		}
	}
	code, out, stderr := runWith(env, "", "-user", "x", "logs", "api", "--since", "10m", "--grep", "say “hi” now "+marker)
	if code != 0 || !strings.Contains(out, quoted) {
		t.Errorf("logs --grep with typographic quotes: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = runWith(env, "", "-user", "x", "logs", "api", "--since", "10m", "--grep", marker)
	if code != 0 || !strings.Contains(out, `\x1b[2J\x1b[H\x1b]0;owned\x07\x1b[8mhidden \u009b31m \u202eevil`) {
		t.Errorf("logs with escape sequences: exit %d\n%q%s", code, out, stderr)
	}
	for i := 0; i < len(out); i++ {
		if c := out[i]; c < 0x20 && c != '\n' && c != '\t' || c == 0x7f {
			t.Fatalf("the output holds byte %#x raw: %q", c, out)
		}
	}
	if strings.ContainsAny(out, "\u009b\u202e") {
		t.Fatalf("the output holds a C1 or bidi control raw: %q", out)
	}
}
