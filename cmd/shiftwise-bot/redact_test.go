package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shiftwise/shiftwise-bot/internal/redact/redacttest"
)

// TestCorpusNeverReachesConsoleLogAuditOrIncidents types every one-line fake
// secret of the corpus at the console, as a command, as an incident title,
// note and resolution, with the bot's log at debug level and its own
// database: the replies (the console, the timeline, the postmortem), the
// log, and every row stored in the audit log, incidents and timelines show
// none of them.
func TestCorpusNeverReachesConsoleLogAuditOrIncidents(t *testing.T) {
	env := auditEnv(t)
	env["SHIFTWISE_LOG_LEVEL"] = "debug"
	corpus := redacttest.Corpus(17)
	var in []string
	var typed []redacttest.Item
	for _, it := range corpus {
		if it.MultiLine {
			continue // one line at a time is what a person types
		}
		typed = append(typed, it)
		in = append(in, it.Text, "help "+it.Text)
	}
	in = append(in, "incident start sev3 "+strings.ReplaceAll(typed[0].Text, "'", ""))
	for _, it := range typed {
		in = append(in, "incident note "+it.Text)
	}
	in = append(in, "incident timeline", "incident resolve rotated "+typed[1].Text, "audit --limit 200")
	code, out, stderr := runWith(env, strings.Join(in, "\n")+"\n", "-console", "-user", "arch")
	if code != 0 {
		t.Fatalf("console exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"postmortem draft", "[REDACTED]", "Noted on INC-1"} {
		if !strings.Contains(out, want) {
			t.Fatalf("console output lacks %q:\n%s", want, out)
		}
	}
	if leaks := redacttest.Leaks(out, typed); len(leaks) > 0 {
		t.Errorf("the console shows %d secrets, first %q", len(leaks), leaks[0])
	}
	if leaks := redacttest.Leaks(stderr, typed); len(leaks) > 0 {
		t.Errorf("the log shows %d secrets, first %q", len(leaks), leaks[0])
	}
	stored := dumpTables(t, env["SHIFTWISE_DATABASE_URL"], "audit_log", "incidents", "incident_timeline")
	if !strings.Contains(stored, "incident note") || !strings.Contains(stored, "[REDACTED]") {
		t.Fatalf("nothing stored: %s", stored)
	}
	if leaks := redacttest.Leaks(stored, typed); len(leaks) > 0 {
		t.Errorf("the database holds %d secrets, first %q", len(leaks), leaks[0])
	}
}

// dumpTables returns every row of the tables as text.
func dumpTables(t *testing.T, dbURL string, tables ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var all strings.Builder
	for _, table := range tables {
		var s string
		if err := conn.QueryRow(ctx, `SELECT coalesce(string_agg(x::text, E'\n'), '') FROM `+pgx.Identifier{table}.Sanitize()+` x`).Scan(&s); err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		all.WriteString(s + "\n")
	}
	return all.String()
}
