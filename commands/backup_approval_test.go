package commands

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/internal/store/botstore"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
)

// bkLevels gives each subject a level (an Authorizer and Leveler).
type bkLevels map[string]bot.Level

func (l bkLevels) Authorize(_ context.Context, s string, c *bot.Command, _ bot.Args) bot.Decision {
	return bot.Decision{Allowed: l[s] >= c.Level, Level: c.Level, Reason: "needs " + c.Level.String()}
}
func (l bkLevels) Level(s string) bot.Level { return l[s] }

func bkAll(m bot.Message) string {
	s := bkText(m)
	for _, c := range m.Code {
		s += c.Title + ":\n" + c.Text + "\n"
	}
	return s
}

// TestBackupApprovalsShowWhatTheyDo: prune, restore and cleanup become
// requests that list exactly what they will delete or replace, nothing
// happens until a second person approves, and an unknown file is refused
// before anyone is asked.
func TestBackupApprovalsShowWhatTheyDo(t *testing.T) {
	s, _ := storetest.OpenTest(t)
	day := 24 * time.Hour
	bdir, logs := t.TempDir(), t.TempDir()
	dump := "-- PostgreSQL database dump\n\n-- PostgreSQL database dump complete\n\n"
	for name, age := range map[string]time.Duration{"shiftwise_20250101_000000.sql": 60 * day, "shiftwise_20261120_000000.sql": 10 * day} {
		p := filepath.Join(bdir, name)
		os.WriteFile(p, []byte(dump), 0o600)
		at := time.Now().Add(-age)
		os.Chtimes(p, at, at)
	}
	bkWrite(t, filepath.Join(logs, "old.log"), 100, 9*day)
	b := &Backups{Docker: &bkNoExec{}, Dir: bdir}
	c := &Cleanup{Backups: b, LogDir: logs}
	reg, err := bot.NewRegistry(append(b.Commands(), c.Command())...)
	if err != nil {
		t.Fatal(err)
	}
	people := bkLevels{"console:ops": bot.Level1, "console:dev": bot.Level2, "console:dev2": bot.Level2, "console:arch": bot.Level3}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: people, Redactor: redact.New(),
		Approvals: botstore.Approvals{S: s}, Auditor: botstore.Auditor{S: s}})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(who, line string) bot.Reply {
		return e.Handle(context.Background(), bot.Request{Subject: who, Channel: "C1", Text: line})
	}
	old := filepath.Join(bdir, "shiftwise_20250101_000000.sql")

	r := ask("console:dev", "backup prune --older 30d")
	if r.Outcome != bot.OutcomePending || !strings.Contains(bkAll(r.Message), "shiftwise_20250101_000000.sql PASSED to delete") ||
		strings.Contains(lineWith(bkAll(r.Message), "shiftwise_20261120"), "to delete") || !strings.Contains(r.Message.Summary, "Would delete 1") ||
		!strings.Contains(bkAll(r.Message), "kept: shiftwise_20261120_000000.sql — the newest complete dump") {
		t.Fatalf("prune request: %v %s", r.Outcome, bkAll(r.Message))
	}
	if !bkExists(old) {
		t.Fatal("a pending prune deleted a backup")
	}
	id := r.Message.Buttons[0].Value
	if r := ask("console:dev2", "approve "+id); r.Outcome != bot.OutcomeOK || !strings.Contains(r.Message.Summary, "Deleted 1") {
		t.Fatalf("approved prune: %v %s", r.Outcome, bkAll(r.Message))
	}
	if bkExists(old) || !bkExists(filepath.Join(bdir, "shiftwise_20261120_000000.sql")) {
		t.Fatal("approved prune deleted the wrong files")
	}

	r = ask("console:arch", "backup restore shiftwise_20261120_000000.sql")
	if r.Outcome != bot.OutcomePending || !strings.Contains(r.Message.Text, "replaces the whole shiftwise database with shiftwise_20261120_000000.sql") ||
		!strings.Contains(r.Message.Text, "safety backup") {
		t.Fatalf("restore request: %v %s", r.Outcome, bkAll(r.Message))
	}
	for _, line := range []string{"backup restore nosuch.sql", "backup restore ../x.sql"} {
		if r := ask("console:arch", line); r.Outcome != bot.OutcomeUsage || len(r.Message.Buttons) != 0 {
			t.Errorf("%s: %v %s", line, r.Outcome, bkAll(r.Message))
		}
	}
	// An L1 asking for a restore is an escalation: still previewed.
	if r := ask("console:ops", "backup restore shiftwise_20261120_000000.sql"); r.Outcome != bot.OutcomePending || !strings.Contains(r.Message.Text, "replaces the whole") {
		t.Errorf("escalated restore: %v %s", r.Outcome, bkAll(r.Message))
	}

	r = ask("console:dev", "cleanup")
	if r.Outcome != bot.OutcomePending || !strings.Contains(bkAll(r.Message), "old.log") || !strings.Contains(bkAll(r.Message), "1 *.log files to delete") {
		t.Fatalf("cleanup request: %v %s", r.Outcome, bkAll(r.Message))
	}
	if !bkExists(filepath.Join(logs, "old.log")) {
		t.Fatal("a pending cleanup deleted a log")
	}
	if n := b.Docker.(*bkNoExec).calls; n != 0 {
		t.Errorf("%d execs during previews", n)
	}
}
