package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/bot/slack/slacktest"
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
	"github.com/shiftwise/shiftwise-bot/permissions"
)

// approvalCommands is a Level 1 command that needs approval, for tests to
// register (no runbook command needs one yet).
func approvalCommands(runs *int) []bot.Command {
	return []bot.Command{{
		Name: "test-purge", Summary: "test only", Usage: "[words...]", MaxArgs: -1, Level: bot.Level1, Approval: true,
		Run: func(context.Context, bot.Request) (bot.Message, error) {
			*runs++
			return bot.Message{Title: "purged", Status: bot.StatusOK}, nil
		},
	}}
}

func TestOneShotPendingApproval(t *testing.T) {
	runs := 0
	purge := approvalCommands(&runs)
	dbURL := storetest.NewDatabase(t)
	env := map[string]string{"SHIFTWISE_DATABASE_URL": dbURL}

	code, out, stderr := runWithCommands(purge, env, "", "-user", "alice", "test-purge", "password=hunter22")
	if code != 3 || !strings.Contains(out, "Approval needed: test-purge (A-") || !strings.Contains(out, "approve A-") || runs != 0 {
		t.Fatalf("pending one-shot: exit %d, runs %d\n%s%s", code, runs, out, stderr)
	}
	if strings.Contains(out, "hunter22") {
		t.Errorf("the request shows the secret:\n%s", out)
	}
	id := out[strings.Index(out, "(A-")+1:]
	id = id[:8]

	code, out, stderr = runWithCommands(purge, env, "", "-user", "alice", "approve", id)
	if code != 3 || !strings.Contains(out, "yourself") || runs != 0 {
		t.Fatalf("self-approval one-shot: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = runWithCommands(purge, env, "", "-user", "bob", "approve", id)
	if code != 0 || !strings.Contains(out, "purged — approved by console:bob") || runs != 1 {
		t.Fatalf("approval one-shot: exit %d, runs %d\n%s%s", code, runs, out, stderr)
	}

	s := storetest.Open(t, dbURL)
	entries, err := s.Entries(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var decisions []string
	for i := len(entries) - 1; i >= 0; i-- {
		decisions = append(decisions, entries[i].Decision)
		if strings.Contains(entries[i].Args, "hunter22") {
			t.Errorf("audit entry %d keeps the secret: %q", entries[i].ID, entries[i].Args)
		}
	}
	if got := strings.Join(decisions, " "); got != "pending refused approved executed" {
		t.Errorf("audit decisions %q", got)
	}
}

// TestOneShotWithdraw: the requester's own `deny` withdraws the request
// (exit 0, said as a withdrawal); approving it afterwards is refused
// (exit 3) and nothing runs; `audit` shows the withdrawal.
func TestOneShotWithdraw(t *testing.T) {
	runs := 0
	purge := approvalCommands(&runs)
	env := map[string]string{"SHIFTWISE_DATABASE_URL": storetest.NewDatabase(t)}
	code, out, stderr := runWithCommands(purge, env, "", "-user", "alice", "test-purge", "now")
	if code != 3 || !strings.Contains(out, "(A-") {
		t.Fatalf("request: exit %d\n%s%s", code, out, stderr)
	}
	id := out[strings.Index(out, "(A-")+1:][:8]
	code, out, stderr = runWithCommands(purge, env, "", "-user", "alice", "deny", id)
	if code != 0 || !strings.Contains(out, "Withdrawn: test-purge ("+id+")") || !strings.Contains(out, "withdrawn by console:alice") ||
		strings.Contains(strings.ToLower(out), "denied") || strings.Count(out, "Nothing was run") != 1 {
		t.Fatalf("withdraw: exit %d\n%s%s", code, out, stderr)
	}
	code, out, _ = runWithCommands(purge, env, "", "-user", "bob", "approve", id)
	if code != 3 || !strings.Contains(out, "already withdrawn by console:alice") || strings.Count(out, "Nothing was run") != 1 || runs != 0 {
		t.Fatalf("approve after the withdrawal: exit %d, runs %d\n%s", code, runs, out)
	}
	code, out, _ = runWithCommands(purge, env, "", "-user", "bob", "audit")
	if code != 0 || !strings.Contains(out, "withdrawn") {
		t.Errorf("audit: exit %d\n%s", code, out)
	}
}

func TestBotDatabaseDownAtStart(t *testing.T) {
	runs := 0
	purge := approvalCommands(&runs)
	down := &url.URL{Scheme: "postgres", User: url.UserPassword("bot", "Sup3rSecretPw"), Host: testenv.RefusedAddr(t), Path: "/bot"}
	env := map[string]string{"SHIFTWISE_DATABASE_URL": down.String() + "?sslmode=disable&connect_timeout=2"}
	code, out, stderr := runWithCommands(purge, env, "", "-user", "alice", "test-purge")
	if code != 1 || !strings.Contains(out, "the bot's database, which is down") || !strings.Contains(out, "Nothing was run") || runs != 0 {
		t.Errorf("approval without the database: exit %d\n%s", code, out)
	}
	if !strings.Contains(stderr, "approvals are OFF") || strings.Contains(stderr+out, "Sup3rSecretPw") {
		t.Errorf("stderr: %s", stderr)
	}
}

func TestApprovalTTLSetting(t *testing.T) {
	for _, v := range []string{"0", "1s", "soon", "48h"} {
		if code, _, stderr := runWith(map[string]string{"SHIFTWISE_APPROVAL_TTL": v}, "", "help"); code != 2 || !strings.Contains(stderr, "SHIFTWISE_APPROVAL_TTL") {
			t.Errorf("SHIFTWISE_APPROVAL_TTL=%s: exit %d %q", v, code, stderr)
		}
	}
	if code, out, stderr := runWith(map[string]string{"SHIFTWISE_APPROVAL_TTL": "5m"}, "", "help"); code != 0 {
		t.Errorf("SHIFTWISE_APPROVAL_TTL=5m: exit %d\n%s%s", code, out, stderr)
	}
}

func TestConsoleSessionApproves(t *testing.T) {
	runs := 0
	purge := approvalCommands(&runs)
	env := map[string]string{"SHIFTWISE_DATABASE_URL": storetest.NewDatabase(t)}
	code, out, stderr := runWithCommands(purge, env, "test-purge\napprove A-ZZZZZZ\n", "-console", "-user", "alice")
	if code != 0 || !strings.Contains(out, "Approval needed: test-purge") || !strings.Contains(out, "no approval request A-ZZZZZZ") || runs != 0 {
		t.Errorf("console session: exit %d, runs %d\n%s%s", code, runs, out, stderr)
	}
}

// TestSlackPressAfterPolicyReload is the refused press of a person not
// yet named in the policy, the policy reloaded to give them Level 2
// (`policy reload` typed in Slack, `whoami` confirming), and their second
// press of the same Approve button (a new envelope and action_ts): it
// approves, and the command runs once.
func TestSlackPressAfterPolicyReload(t *testing.T) {
	var runs atomic.Int32
	purge := []bot.Command{{
		Name: "test-purge", Summary: "test only", Usage: "[words...]", MaxArgs: -1, Level: bot.Level1, Approval: true,
		Run: func(context.Context, bot.Request) (bot.Message, error) {
			runs.Add(1)
			return bot.Message{Title: "purged", Status: bot.StatusOK}, nil
		},
	}}
	env := demoEnv(t)
	env["SHIFTWISE_DATABASE_URL"] = storetest.NewDatabase(t)
	policy := filepath.Join(t.TempDir(), "policy.csv")
	base := permissions.ExamplePolicy + "\ng, slack:UOPS, level1\ng, slack:UADMIN, level3\n"
	if err := os.WriteFile(policy, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	env["SHIFTWISE_POLICY"] = policy
	fake := slacktest.New(t)
	runSlackBot(t, env, fake, purge...)

	next := func(n int) slacktest.Message {
		t.Helper()
		msgs, err := fake.WaitMessages("C0OPS", n, 20*time.Second)
		if err != nil {
			t.Fatalf("%v: %+v", err, fake.Messages("C0OPS"))
		}
		return msgs[n-1]
	}
	fake.SlashCommand(slacktest.SlashCommand{User: "UOPS", Channel: "C0OPS", Text: "test-purge cache"})
	req := next(1)
	at := strings.Index(req.Text, "(A-")
	if at < 0 {
		t.Fatalf("request: %+v", req)
	}
	id := req.Text[at+1 : at+9]
	click := slacktest.BlockAction{User: "UDEV", Channel: "C0OPS", MessageTS: req.TS, ActionID: bot.ActionApprove, Value: id}
	fake.BlockAction(click)
	if m := next(2); !m.Ephemeral || m.User != "UDEV" || !strings.Contains(m.Text, "Not approved") || strings.Count(m.Text, "Nothing was run") != 1 {
		t.Fatalf("the press before the grant: %+v", m)
	}

	if err := os.WriteFile(policy, []byte(base+"g, slack:UDEV, level2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fake.SlashCommand(slacktest.SlashCommand{User: "UADMIN", Channel: "C0OPS", Text: "policy reload"})
	if m := next(3); m.Ephemeral || !strings.Contains(strings.ToLower(m.Text+string(m.Blocks)), "reloaded") {
		t.Fatalf("policy reload: %+v", m)
	}
	fake.SlashCommand(slacktest.SlashCommand{User: "UDEV", Channel: "C0OPS", Text: "whoami"})
	if m := next(4); !strings.Contains(m.Text+string(m.Blocks), "Level 2 (Development)") {
		t.Fatalf("whoami after the reload: %+v", m)
	}

	fake.BlockAction(click)
	deadline := time.Now().Add(20 * time.Second)
	for runs.Load() == 0 || !strings.Contains(lastText(fake, "C0OPS"), "approved by slack:UDEV") {
		if time.Now().After(deadline) {
			t.Fatalf("the press after the grant did not approve (runs %d): %+v", runs.Load(), fake.Messages("C0OPS")[4:])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("test-purge ran %d times", n)
	}
	if v := fake.Violations(); len(v) > 0 {
		t.Errorf("Slack limits violated: %q", v)
	}
}

// lastText is the text of the newest message in channel.
func lastText(fake *slacktest.Server, channel string) string {
	msgs := fake.Messages(channel)
	if len(msgs) == 0 {
		return ""
	}
	m := msgs[len(msgs)-1]
	return m.Text + string(m.Blocks)
}
