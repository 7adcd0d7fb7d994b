package main

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// withApprovalCommand registers a Level 1 command that needs approval for
// the test's length (no runbook command needs one yet).
func withApprovalCommand(t *testing.T, runs *int) {
	t.Helper()
	extraCommands = []bot.Command{{
		Name: "test-purge", Summary: "test only", Usage: "[words...]", MaxArgs: -1, Level: bot.Level1, Approval: true,
		Run: func(context.Context, bot.Request) (bot.Message, error) {
			*runs++
			return bot.Message{Title: "purged", Status: bot.StatusOK}, nil
		},
	}}
	t.Cleanup(func() { extraCommands = nil })
}

func TestOneShotPendingApproval(t *testing.T) {
	runs := 0
	withApprovalCommand(t, &runs)
	dbURL := storetest.NewDatabase(t)
	env := map[string]string{"SHIFTWISE_DATABASE_URL": dbURL}

	code, out, stderr := runWith(env, "", "-user", "alice", "test-purge", "password=hunter22")
	if code != 3 || !strings.Contains(out, "Approval needed: test-purge (A-") || !strings.Contains(out, "approve A-") || runs != 0 {
		t.Fatalf("pending one-shot: exit %d, runs %d\n%s%s", code, runs, out, stderr)
	}
	if strings.Contains(out, "hunter22") {
		t.Errorf("the request shows the secret:\n%s", out)
	}
	id := out[strings.Index(out, "(A-")+1:]
	id = id[:8]

	code, out, stderr = runWith(env, "", "-user", "alice", "approve", id)
	if code != 3 || !strings.Contains(out, "yourself") || runs != 0 {
		t.Fatalf("self-approval one-shot: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = runWith(env, "", "-user", "bob", "approve", id)
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

func TestBotDatabaseDownAtStart(t *testing.T) {
	runs := 0
	withApprovalCommand(t, &runs)
	down := &url.URL{Scheme: "postgres", User: url.UserPassword("bot", "Sup3rSecretPw"), Host: testenv.RefusedAddr(t), Path: "/bot"}
	env := map[string]string{"SHIFTWISE_DATABASE_URL": down.String() + "?sslmode=disable&connect_timeout=2"}
	code, out, stderr := runWith(env, "", "-user", "alice", "test-purge")
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
	withApprovalCommand(t, &runs)
	env := map[string]string{"SHIFTWISE_DATABASE_URL": storetest.NewDatabase(t)}
	code, out, stderr := runWith(env, "test-purge\napprove A-ZZZZZZ\n", "-console", "-user", "alice")
	if code != 0 || !strings.Contains(out, "Approval needed: test-purge") || !strings.Contains(out, "no approval request A-ZZZZZZ") || runs != 0 {
		t.Errorf("console session: exit %d, runs %d\n%s%s", code, runs, out, stderr)
	}
}
