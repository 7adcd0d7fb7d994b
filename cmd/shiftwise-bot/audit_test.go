package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shiftwise/shiftwise-bot/internal/audittrail"
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// auditEnv is a bot with its own database and data directory, where
// console:arch holds Level 3 and every other console user Level 1.
func auditEnv(t *testing.T) map[string]string {
	t.Helper()
	policy := filepath.Join(t.TempDir(), "policy.csv")
	if err := os.WriteFile(policy, []byte("g, console:*, level1\ng, console:arch, level3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"SHIFTWISE_DATABASE_URL": storetest.NewDatabase(t),
		"SHIFTWISE_DATA_DIR":     t.TempDir(),
		"SHIFTWISE_POLICY":       policy,
	}
}

// seed writes n audit entries through the bot: n runs of whoami.
func seed(t *testing.T, env map[string]string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if code, out, stderr := runWith(env, "", "-user", "alice", "whoami"); code != 0 {
			t.Fatalf("whoami: exit %d\n%s%s", code, out, stderr)
		}
	}
}

func sqlExec(t *testing.T, dbURL, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func verifyAs(t *testing.T, env map[string]string, user string) (int, string) {
	t.Helper()
	code, out, _ := runWith(env, "", "-user", user, "audit", "verify")
	return code, out
}

func TestAuditVerifyIntactAndItsLevel(t *testing.T) {
	env := auditEnv(t)
	seed(t, env, 4)
	code, out := verifyAs(t, env, "arch")
	if code != 0 || !strings.Contains(out, "Audit log: intact") || !strings.Contains(out, "matches the digest kept outside the database") {
		t.Fatalf("verify of an untouched log: exit %d\n%s", code, out)
	}
	// Level 1 may list the log but not verify it.
	code, out = verifyAs(t, env, "alice")
	if code != 3 || !strings.Contains(out, "needs Level 3") || strings.Contains(out, "intact") {
		t.Fatalf("audit verify as Level 1: exit %d\n%s", code, out)
	}
	d, err := audittrail.ReadDigest(filepath.Join(env["SHIFTWISE_DATA_DIR"], audittrail.DigestFile))
	if err != nil {
		t.Fatal(err)
	}
	// 4 whoami, 1 verify, 1 refused verify: the digest follows every append.
	if d.ID != 6 {
		t.Fatalf("digest names entry %d, want 6", d.ID)
	}
}

func TestAuditVerifyFindsTampering(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, env map[string]string)
		want   []string
	}{
		{"edited", func(t *testing.T, env map[string]string) {
			sqlExec(t, env["SHIFTWISE_DATABASE_URL"], `UPDATE audit_log SET subject = 'console:nobody' WHERE id = 3`)
		}, []string{"entry 3:", "edited"}},
		{"deleted", func(t *testing.T, env map[string]string) {
			sqlExec(t, env["SHIFTWISE_DATABASE_URL"], `DELETE FROM audit_log WHERE id = 2`)
		}, []string{"entry 3:", "entry 2 before it is missing (deleted)"}},
		{"deleted at the end", func(t *testing.T, env map[string]string) {
			sqlExec(t, env["SHIFTWISE_DATABASE_URL"], `DELETE FROM audit_log WHERE id = 5`)
			sqlExec(t, env["SHIFTWISE_DATABASE_URL"], `UPDATE audit_head SET last_id = 4, hash = (SELECT hash FROM audit_log WHERE id = 4)`)
		}, []string{"entry 5:", "log ends at entry 4"}},
		{"reordered", func(t *testing.T, env map[string]string) {
			// Entries 2 and 4 trade places: every column but the ID.
			sqlExec(t, env["SHIFTWISE_DATABASE_URL"], `UPDATE audit_log a SET at = b.at, subject = b.subject, channel = b.channel,
				command = b.command, args = b.args, decision = b.decision, approver = b.approver, result = b.result,
				duration_ns = b.duration_ns, prev_hash = b.prev_hash, hash = b.hash, occurred_at = b.occurred_at
				FROM audit_log b WHERE (a.id, b.id) IN ((2, 4), (4, 2))`)
			// The keys too, one at a time (they are unique).
			db := env["SHIFTWISE_DATABASE_URL"]
			sqlExec(t, db, `UPDATE audit_log a SET entry_key = b.entry_key || '|' || a.entry_key FROM audit_log b WHERE a.id = 4 AND b.id = 2`)
			sqlExec(t, db, `UPDATE audit_log a SET entry_key = split_part(b.entry_key, '|', 2) FROM audit_log b WHERE a.id = 2 AND b.id = 4`)
			sqlExec(t, db, `UPDATE audit_log SET entry_key = split_part(entry_key, '|', 1) WHERE id = 4`)
		}, []string{"entry 2:", "moved"}},
		{"rewritten whole", func(t *testing.T, env map[string]string) {
			// Another, self-consistent log (written by a bot on another
			// database) replaces this one: the chain alone cannot tell.
			other := auditEnv(t)
			for i := 0; i < 6; i++ {
				runWith(other, "", "-user", "mallory", "whoami")
			}
			replaceLog(t, env["SHIFTWISE_DATABASE_URL"], other["SHIFTWISE_DATABASE_URL"])
		}, []string{"entry 5:", "digest kept outside the database", "rewritten"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := auditEnv(t)
			seed(t, env, 5)
			c.tamper(t, env)
			code, out := verifyAs(t, env, "arch")
			t.Logf("audit verify:\n%s", out)
			if code != 1 || !strings.Contains(out, "TAMPERED") {
				t.Fatalf("verify after the log was %s: exit %d\n%s", c.name, code, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("verify after the log was %s does not say %q:\n%s", c.name, w, out)
				}
			}
		})
	}
}

// replaceLog copies the audit log and chain head of database from over
// those of database to.
func replaceLog(t *testing.T, to, from string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	src, err := pgx.Connect(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	dst, err := pgx.Connect(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close(ctx)
	if _, err := dst.Exec(ctx, `DELETE FROM audit_log`); err != nil {
		t.Fatal(err)
	}
	rows, err := src.Query(ctx, `SELECT id, at, subject, channel, command, args, decision, approver, result, duration_ns, prev_hash, hash, entry_key, occurred_at FROM audit_log ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range all {
		if _, err := dst.Exec(ctx, `INSERT INTO audit_log (id, at, subject, channel, command, args, decision, approver, result, duration_ns, prev_hash, hash, entry_key, occurred_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`, v...); err != nil {
			t.Fatal(err)
		}
	}
	var lastID int64
	var hash string
	if err := src.QueryRow(ctx, `SELECT last_id, hash FROM audit_head`).Scan(&lastID, &hash); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Exec(ctx, `UPDATE audit_head SET last_id = $1, hash = $2`, lastID, hash); err != nil {
		t.Fatal(err)
	}
}

func TestAuditListsRecentEntries(t *testing.T) {
	env := auditEnv(t)
	seed(t, env, 3)
	if code, out, _ := runWith(env, "", "-user", "bob", "whoami"); code != 0 {
		t.Fatalf("whoami as bob: %d %s", code, out)
	}
	code, out, stderr := runWith(env, "", "-user", "alice", "audit", "--user", "console:alice", "--limit", "2")
	t.Logf("audit:\n%s", out)
	if code != 0 || strings.Count(out, "console:alice") < 2 || strings.Contains(out, "console:bob") {
		t.Fatalf("audit --user console:alice --limit 2: exit %d\n%s%s", code, out, stderr)
	}
	// A full page says how to get the next one, and that command works.
	i := strings.Index(out, "`audit --before ")
	if i < 0 {
		t.Fatalf("no next page offered:\n%s", out)
	}
	next := strings.Fields(strings.Trim(strings.SplitN(out[i+1:], "`", 2)[0], "`"))
	code, out2, _ := runWith(env, "", append([]string{"-user", "alice"}, next...)...)
	if code != 0 || !strings.Contains(out2, "console:alice") || strings.Contains(out2, "Older entries") {
		t.Fatalf("next page %q: exit %d\n%s", next, code, out2)
	}
	for _, bad := range [][]string{{"--user", "alice"}, {"--user", "console:a;b"}, {"--limit", "0"}, {"--limit", "201"}, {"--since", "0s"}, {"extra"}} {
		if code, out, _ := runWith(env, "", append([]string{"-user", "alice", "audit"}, bad...)...); code != 2 {
			t.Errorf("audit %q: exit %d, want 2\n%s", bad, code, out)
		}
	}
	// Someone without a level may not read the log.
	policy := filepath.Join(t.TempDir(), "policy.csv")
	if err := os.WriteFile(policy, []byte("g, console:arch, level3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runWith(copyEnv(env, "SHIFTWISE_POLICY", policy), "", "-user", "alice", "audit"); code != 3 {
		t.Errorf("audit without a level: exit %d\n%s", code, out)
	}
}

// TestAuditSpooledWhileDatabaseDown: one-shot runs while the bot's
// database is down spool their audit entries under SHIFTWISE_DATA_DIR; the
// next run with the database up writes them, in order, before its own.
func TestAuditSpooledWhileDatabaseDown(t *testing.T) {
	env := auditEnv(t)
	up := env["SHIFTWISE_DATABASE_URL"]
	down := &url.URL{Scheme: "postgres", User: url.UserPassword("bot", "x"), Host: testenv.RefusedAddr(t), Path: "/bot"}
	env["SHIFTWISE_DATABASE_URL"] = down.String() + "?sslmode=disable&connect_timeout=2"
	for _, u := range []string{"dora", "eve", "fred"} {
		if code, out, stderr := runWith(env, "", "-user", u, "whoami"); code != 0 {
			t.Fatalf("whoami with the database down: exit %d\n%s%s", code, out, stderr)
		}
	}
	code, out, _ := runWith(env, "", "-user", "arch", "audit")
	if code != 1 || !strings.Contains(out, "unreachable") || !strings.Contains(out, "wait in the local spool") {
		t.Fatalf("audit with the database down: exit %d\n%s", code, out)
	}
	env["SHIFTWISE_DATABASE_URL"] = up
	if code, out, stderr := runWith(env, "", "-user", "gina", "whoami"); code != 0 {
		t.Fatalf("whoami with the database back: exit %d\n%s%s", code, out, stderr)
	}
	st := storetest.Open(t, up)
	es, err := st.Entries(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var who []string
	for i := len(es) - 1; i >= 0; i-- {
		who = append(who, es[i].Subject+"/"+es[i].Command)
	}
	want := "console:dora/whoami console:eve/whoami console:fred/whoami console:arch/audit console:gina/whoami"
	if got := strings.Join(who, " "); got != want {
		t.Fatalf("log after the outage:\n got %s\nwant %s", got, want)
	}
	for _, e := range es[1:] {
		if e.Occurred.IsZero() {
			t.Errorf("spooled entry %d (%s) lost when it happened", e.ID, e.Subject)
		}
	}
	code, out = verifyAs(t, env, "arch")
	if code != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("verify after the replay: exit %d\n%s", code, out)
	}
	// Nothing left in the spool; a further run writes nothing twice.
	seed(t, env, 1)
	es2, _ := st.Entries(context.Background(), store.Filter{})
	if len(es2) != len(es)+2 { // verify + whoami
		t.Fatalf("%d entries after two more runs, want %d", len(es2), len(es)+2)
	}
}
