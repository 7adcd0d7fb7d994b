package docgen

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/permissions"
)

// registry builds an engine over cmds, as main does, and returns its
// command table (the engine's approve and deny included).
func registry(t *testing.T, cmds ...bot.Command) []*bot.Command {
	t.Helper()
	reg, err := bot.NewRegistry(cmds...)
	if err != nil {
		t.Fatal(err)
	}
	authz, err := permissions.New("g, console:*, level1\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: authz, Redactor: redact.New()})
	if err != nil {
		t.Fatal(err)
	}
	return e.Registry().Commands()
}

// fakeCommands are one command of each kind the matrix distinguishes.
// Nothing of theirs may run while the reference is generated.
func fakeCommands(t *testing.T) []bot.Command {
	never := func(context.Context, bot.Request) (bot.Message, error) {
		t.Error("docgen ran a command")
		return bot.Message{}, nil
	}
	neverPin := func(context.Context, bot.Request) (string, error) {
		t.Error("docgen pinned a command")
		return "", nil
	}
	level := map[string]bot.Level{"a": bot.Level1, "b": bot.Level2}
	return []bot.Command{
		{Name: "look", Summary: "read something", Help: "Reads `x` and <y>.", Level: bot.Level1, Run: never,
			Flags: []bot.Flag{{Name: "since", Kind: bot.FlagDuration, Default: "24h", Usage: "how far back", MinDuration: time.Second, MaxDuration: 90 * 24 * time.Hour}}, Usage: "[--since 24h]"},
		{Name: "open", Summary: "anyone", Level: bot.LevelNone, Run: never},
		{Name: "fix", Summary: "change", Level: bot.Level2, Approval: true, Risk: bot.Changes, Run: never, Preview: never, Pin: neverPin},
		{Name: "wipe all", Summary: "destroy", Level: bot.Level3, Approval: true, Risk: bot.Destructive, Run: never},
		{Name: "svc", Summary: "per service", Usage: "<service>|all", MinArgs: 1, MaxArgs: 1, Level: bot.Level1, Risk: bot.Changes, Run: never,
			Object: func(a bot.Args) string { return "svc:" + a.First() },
			Targets: func(a bot.Args) []bot.Target {
				if a.First() == "all" {
					return []bot.Target{{Object: "svc:a", Level: bot.Level1}, {Object: "svc:b", Level: bot.Level2}}
				}
				return []bot.Target{{Object: "svc:" + a.First(), Level: level[a.First()]}}
			}},
		{Name: "deploy", Summary: "two args", Usage: "<service> <image>", MinArgs: 2, MaxArgs: 2, Level: bot.Level2, Approval: true, Run: never,
			Object: func(a bot.Args) string { return "deploy:" + a.First() }},
	}
}

func TestRenderMatrixIsTheEnginesAnswers(t *testing.T) {
	out, err := Render(registry(t, fakeCommands(t)...))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(out)
	for _, row := range []string{
		"| `help [command]` | runs | runs | runs | runs |",
		"| `open` | runs | runs | runs | runs |",
		"| `look` | refused | runs | runs | runs |",
		"| `fix` | refused | request (L2+) | request (L2+) | request (L2+) |",
		"| `wipe all` | refused | request (L3+) | request (L3+) | request (L3+) |",
		"| `deploy` | refused | request (L2+) | request (L2+) | request (L2+) |",
		"| `svc a` | refused | runs | runs | runs |",
		"| `svc b` | refused | request (L2+) | runs | runs |",
		"| `svc all` | refused | request (L2+) | runs | runs |",
		"| `approve <request id>` | refused | refused | decides L2 requests | decides L2, L3 requests |",
		"| `deny <request id>` | refused | refused | decides L2 requests | decides L2, L3 requests |",
	} {
		if !strings.Contains(doc, "\n"+row+"\n") {
			t.Errorf("matrix lacks the row\n%s", row)
		}
	}
	for _, want := range []string{
		"| [`svc <service>\\|all`](#svc) | Level 1 | no | changes the stack |",
		"| [`wipe all`](#wipe-all) | Level 3 | yes | destructive |",
		"| [`approve <request id>`](#approve) | anyone | no | read-only |",
		"\n### look\n\nread something\n\nReads `x` and &lt;y&gt;.\n\n- Usage: `look [--since 24h]`\n- Default level: Level 1 (Operations)\n",
		"  - `--since` DURATION: how far back (1s to 90d; default `24h`)\n",
		"  - `svc b`: Level 2 (Development)\n",
		"- Policy object: `svc:<arg1>` (the policy decides on each target it acts on)\n",
		"- Policy object: `deploy:<arg1>`\n",
		"The requester never approves their own request; their `deny` of it withdraws it.",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("reference lacks\n%s", want)
		}
	}
	for _, c := range registry(t, fakeCommands(t)...) {
		if !strings.Contains(doc, "\n### "+c.Name+"\n") {
			t.Errorf("no section for %q", c.Name)
		}
	}
	again, err := Render(registry(t, fakeCommands(t)...))
	if err != nil || string(again) != doc {
		t.Errorf("two renders of the same registry differ (err %v)", err)
	}
}

func TestCheckNamesTheLineAndTheFix(t *testing.T) {
	cmds := registry(t, fakeCommands(t)...)
	doc, err := Render(cmds)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(doc, cmds); err != nil {
		t.Fatalf("the rendered file does not check: %v", err)
	}
	for name, file := range map[string]string{
		"edited":    strings.Replace(string(doc), "read something", "read anything", 1),
		"truncated": string(doc[:len(doc)/2]),
		"extended":  string(doc) + "\nextra\n",
		"empty":     "",
	} {
		err := Check([]byte(file), cmds)
		if !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), Regenerate) {
			t.Errorf("%s file: %v; want ErrStale naming `%s`", name, err, Regenerate)
		}
	}
	err = Check([]byte(strings.Replace(string(doc), "read something", "read anything", 1)), cmds)
	if !strings.Contains(err.Error(), `"read anything"`) || !strings.Contains(err.Error(), `"read something"`) {
		t.Errorf("the error does not show the differing line: %v", err)
	}
}

func TestProse(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain words", "plain words"},
		{"restart <service>", "restart &lt;service&gt;"},
		{"`restart <service>` as typed", "`restart <service>` as typed"},
		{"a *b* c", `a \*b\* c`},
		{"SHIFTWISE_DATA_DIR/x", "SHIFTWISE_DATA_DIR/x"},
		{"_emphasis_ and API_*", `\_emphasis\_ and API\_\*`},
		{"[link](x)", `\[link\](x)`},
		{"a | b", `a \| b`},
		{`back\slash`, `back\\slash`},
		{"one ` unpaired", "one \\` unpaired"},
		{"lines\n  joined", "lines joined"},
	} {
		if got := prose(tc.in); got != tc.want {
			t.Errorf("prose(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAnchor(t *testing.T) {
	for in, want := range map[string]string{
		"health": "health", "db status": "db-status", "cache flush --all": "cache-flush---all", "db kill-long-running": "db-kill-long-running",
	} {
		if got := anchor(in); got != want {
			t.Errorf("anchor(%q) = %q, want %q", in, got, want)
		}
	}
}
