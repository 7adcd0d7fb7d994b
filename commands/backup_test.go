package commands

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/backups"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// bkPostgres is a throwaway project whose postgres service is the demo
// data image running PostgreSQL 15 with the demo data seeded at its first
// start, as in the shared stack, published on 127.0.0.1.
type bkPostgres struct {
	project *dockertest.Project
	docker  *docker.Client
	url     string // postgres://shiftwise:shiftwise@127.0.0.1:N/shiftwise
}

func startBackupPostgres(t testing.TB) *bkPostgres {
	t.Helper()
	p := dockertest.StartProject(t, dockertest.Service{
		Name: "postgres", Image: testenv.Get("SHIFTWISE_TEST_DATA_IMAGE"), Cmd: []string{"postgres"},
		Ports: []string{"5432"}, NoWait: true,
	})
	dc, err := docker.New(dockertest.Host(t), p.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	// The image's own healthcheck: TCP readiness after the seed is loaded
	// (a bound, not a timing: the seed takes minutes on a loaded machine).
	deadline := time.Now().Add(5 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := dc.Exec(ctx, "postgres", []string{"shiftwise-data", "healthcheck"}, docker.ExecOptions{})
		cancel()
		if err == nil && res.ExitCode == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("throwaway postgres not ready after 5m: %+v %v", res, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	pg := &bkPostgres{project: p, docker: dc}
	pg.url = "postgres://shiftwise:shiftwise@" + p.Service("postgres").Addr("5432") + "/shiftwise?sslmode=disable"
	return pg
}

// sql runs one statement with psql inside the throwaway container.
func (pg *bkPostgres) sql(t testing.TB, db, stmt string) string {
	t.Helper()
	b := &Backups{Docker: pg.docker, Dir: "unused"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := b.psql(ctx, db, stmt)
	if err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	return strings.TrimSpace(out)
}

// bkAllow lets everyone run everything without approval: these tests are
// about what the commands do; the levels are checked on their own.
type bkAllow struct{}

func (bkAllow) Authorize(context.Context, string, *bot.Command, bot.Args) bot.Decision {
	return bot.Decision{Allowed: true}
}
func (bkAllow) Requirement(c *bot.Command, _ bot.Args) (bot.Level, bool) { return c.Level, false }

func bkEngine(t testing.TB, cmds ...bot.Command) *bot.Engine {
	t.Helper()
	reg, err := bot.NewRegistry(cmds...)
	if err != nil {
		t.Fatal(err)
	}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: bkAllow{}, Redactor: redact.New()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func bkRun(t testing.TB, e *bot.Engine, line string) bot.Reply {
	t.Helper()
	return e.Handle(context.Background(), bot.Request{Subject: "console:test", Channel: "console", Text: line})
}

func bkText(m bot.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s]\n%s\n", m.Title, m.Status, m.Text)
	for _, f := range m.Fields {
		fmt.Fprintf(&b, "  %s: %s\n", f.Name, f.Value)
	}
	for _, c := range m.Checks {
		fmt.Fprintf(&b, "  %s %s %s (%s)\n", c.Name, c.Status, c.Value, c.Threshold)
	}
	fmt.Fprintf(&b, "%s\n", m.Summary)
	return b.String()
}

func field(m bot.Message, name string) string {
	for _, f := range m.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// TestBackupLifecycle: create -> list -> verify -> restore (data changed
// after the backup comes back, a safety backup of the changed state is
// kept, health runs) -> prune, on a throwaway seeded PostgreSQL.
func TestBackupLifecycle(t *testing.T) {
	pg := startBackupPostgres(t)
	dir := t.TempDir()
	db := openDB(t, pg.url)
	h := &Health{Docker: pg.docker, DB: db, Limits: DefaultHealthLimits()}
	b := &Backups{Docker: pg.docker, Dir: dir, Health: func(ctx context.Context) bot.Message {
		checks := h.RunCheck(ctx, "postgres")
		m := bot.Message{Checks: checks, Status: bot.StatusOK, Summary: "Health: PASSED"}
		for _, c := range checks {
			if c.Status == bot.StatusFailed {
				m.Status, m.Summary = bot.StatusFailed, "Health: FAILED"
			}
		}
		return m
	}}
	e := bkEngine(t, b.Commands()...)
	seededEmployees := pg.sql(t, "shiftwise", "SELECT count(*) FROM employees")
	// A name that needs quoting, in a schema of its own.
	pg.sql(t, "shiftwise", `CREATE SCHEMA "ops.archive"; CREATE TABLE "ops.archive"."Odd ""Name""" (v int); INSERT INTO "ops.archive"."Odd ""Name""" SELECT generate_series(1, 3)`)

	// create
	r := bkRun(t, e, "backup create")
	if r.Outcome != bot.OutcomeOK {
		t.Fatalf("backup create: %s", bkText(r.Message))
	}
	name := field(r.Message, "File")
	if !regexp.MustCompile(`^shiftwise_\d{8}_\d{6}\.sql$`).MatchString(name) || field(r.Message, "Size") == "" || field(r.Message, "Took") == "" {
		t.Fatalf("backup create reply: %s", bkText(r.Message))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != name {
		t.Fatalf("backup dir holds %v, want only %s (no temporary file left)", entries, name)
	}
	bk, err := backups.Latest(dir)
	if err != nil || bk.Name != name || backups.Inspect(bk) != nil {
		t.Fatalf("backups.Latest = %+v, %v; Inspect = %v", bk, err, backups.Inspect(bk))
	}

	// list
	r = bkRun(t, e, "backup list")
	if r.Outcome != bot.OutcomeOK || len(r.Message.Checks) != 1 || r.Message.Checks[0].Name != name {
		t.Fatalf("backup list: %s", bkText(r.Message))
	}

	// verify: every table of the seed, with the rows the dump holds
	r = bkRun(t, e, "backup verify "+name)
	if r.Outcome != bot.OutcomeOK {
		t.Fatalf("backup verify: %s", bkText(r.Message))
	}
	if got := field(r.Message, "Tables"); got != "5" {
		t.Errorf("verify restored %s tables, want the seed's 4 and the odd one: %s", got, bkText(r.Message))
	}
	if !strings.Contains(bkText(r.Message), `ops.archive.Odd "Name" PASSED 3 rows (3 in the dump)`) {
		t.Errorf("the odd table's rows: %s", bkText(r.Message))
	}
	employees := ""
	for _, c := range r.Message.Checks {
		if c.Name == "public.employees" {
			employees = c.Value
		}
	}
	if employees != seededEmployees+" rows" {
		t.Errorf("verify counted employees %q, the database holds %s", employees, seededEmployees)
	}
	if left := pg.sql(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE '%verify%'"); left != "0" {
		t.Errorf("%s throwaway databases left behind", left)
	}

	plainRows := field(r.Message, "Rows")
	// verify: a gzipped plain dump and a custom archive (pg_restore)
	raw, err := os.ReadFile(bk.Path)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	if err := os.WriteFile(filepath.Join(dir, "shiftwise_gz.sql.gz"), gz.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	custom, err := os.Create(filepath.Join(dir, "shiftwise_custom.dump"))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := pg.docker.Exec(context.Background(), "postgres", []string{"pg_dump", "-Fc", "-U", "shiftwise", "shiftwise"}, docker.ExecOptions{Stdout: custom}); err != nil || res.ExitCode != 0 {
		t.Fatalf("pg_dump -Fc: %+v %v", res, err)
	}
	custom.Close()
	for _, f := range []string{"shiftwise_gz.sql.gz", "shiftwise_custom.dump"} {
		r = bkRun(t, e, "backup verify "+f)
		if r.Outcome != bot.OutcomeOK || field(r.Message, "Tables") != "5" || field(r.Message, "Rows") != plainRows {
			t.Errorf("verify %s: %s", f, bkText(r.Message))
		}
	}

	// restore: change the data after the backup, then bring it back
	pg.sql(t, "shiftwise", "DELETE FROM assignments")
	pg.sql(t, "shiftwise", "CREATE TABLE after_backup (x int)")
	r = bkRun(t, e, "backup restore "+name)
	if r.Outcome != bot.OutcomeOK {
		t.Fatalf("backup restore: %s", bkText(r.Message))
	}
	safety := strings.Fields(field(r.Message, "Safety backup"))
	if len(safety) == 0 || !strings.HasPrefix(safety[0], "shiftwise_pre_restore_") {
		t.Fatalf("no safety backup named: %s", bkText(r.Message))
	}
	sb, err := b.Lookup(safety[0])
	if err != nil || backups.Inspect(sb) != nil {
		t.Fatalf("safety backup %s: %v", safety[0], err)
	}
	if raw, _ := os.ReadFile(sb.Path); !strings.Contains(string(raw), "CREATE TABLE public.after_backup") {
		t.Error("the safety backup does not hold the state before the restore")
	}
	if n := pg.sql(t, "shiftwise", "SELECT count(*) FROM assignments"); n == "0" {
		t.Error("assignments deleted after the backup did not come back")
	}
	if n := pg.sql(t, "shiftwise", "SELECT count(*) FROM pg_tables WHERE tablename = 'after_backup'"); n != "0" {
		t.Error("a table created after the backup survived the restore")
	}
	if n := pg.sql(t, "shiftwise", "SELECT count(*) FROM employees"); n != seededEmployees {
		t.Errorf("employees = %s after restore, want %s", n, seededEmployees)
	}
	if !strings.Contains(r.Message.Summary, "Health: PASSED") || len(r.Message.Checks) == 0 {
		t.Errorf("restore did not report health: %s", bkText(r.Message))
	}
	if left := pg.sql(t, "postgres", "SELECT string_agg(datname, ',') FROM pg_database WHERE datname NOT IN ('postgres','template0','template1','shiftwise')"); left != "" {
		t.Errorf("databases left behind by restore: %s", left)
	}
	// The database still answers through the published port (new sessions).
	if checks := h.RunCheck(context.Background(), "postgres"); len(checks) == 0 || checks[0].Status != bot.StatusOK {
		t.Errorf("postgres after restore: %+v", checks)
	}

	// prune: the backup is made 40 days old; the newest (the safety one) stays
	old := time.Now().Add(-40 * 24 * time.Hour)
	if err := os.Chtimes(bk.Path, old, old); err != nil {
		t.Fatal(err)
	}
	r = bkRun(t, e, "backup list --older 30d")
	if !strings.Contains(bkText(r.Message), name+" PASSED") || !strings.Contains(r.Message.Summary, "would delete 1") {
		t.Errorf("list --older does not show what prune deletes: %s", bkText(r.Message))
	}
	if _, err := os.Stat(bk.Path); err != nil {
		t.Fatal("list --older deleted something")
	}
	r = bkRun(t, e, "backup prune --older 30d")
	if r.Outcome != bot.OutcomeOK || len(r.Message.Checks) != 1 || r.Message.Checks[0].Name != name {
		t.Fatalf("backup prune: %s", bkText(r.Message))
	}
	if _, err := os.Stat(bk.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pruned backup still there: %v", err)
	}
	if _, err := os.Stat(sb.Path); err != nil {
		t.Errorf("prune deleted the newest backup: %v", err)
	}
	// Everything old: the newest one still stays.
	for _, p := range []string{sb.Path, filepath.Join(dir, "shiftwise_gz.sql.gz"), filepath.Join(dir, "shiftwise_custom.dump")} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	old2 := old.Add(-time.Hour)
	for _, p := range []string{filepath.Join(dir, "shiftwise_gz.sql.gz"), filepath.Join(dir, "shiftwise_custom.dump")} {
		os.Chtimes(p, old2, old2)
	}
	if r = bkRun(t, e, "backup prune --older 30d"); len(r.Message.Checks) != 2 {
		t.Errorf("prune of the two older files: %s", bkText(r.Message))
	}
	if r = bkRun(t, e, "backup prune --older 30d"); len(r.Message.Checks) != 0 {
		t.Errorf("prune deleted the last backup: %s", bkText(r.Message))
	}
	if r = bkRun(t, e, "backup prune --older 1h"); r.Outcome != bot.OutcomeUsage {
		t.Errorf("prune --older 1h: %s", bkText(r.Message))
	}
}

// TestBackupFailedDumpLeavesNoFile: pg_dump of a database that does not
// exist fails; nothing is left in the directory and the reply says why.
func TestBackupFailedDumpLeavesNoFile(t *testing.T) {
	pg := startBackupPostgres(t)
	dir := t.TempDir()
	b := &Backups{Docker: pg.docker, Dir: dir, Database: "no_such_database"}
	e := bkEngine(t, b.Commands()...)
	r := bkRun(t, e, "backup create")
	if r.Outcome != bot.OutcomeFailed || !strings.Contains(r.Message.Text, "no_such_database") || !strings.Contains(r.Message.Text, "no backup written") {
		t.Fatalf("reply: %s", bkText(r.Message))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a failed dump left %v", entries)
	}
	// Cut short by the deadline: no file either.
	b.Database = ""
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := b.Create(ctx); err == nil {
		t.Fatal("a dump cut off by its deadline succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a cut-off dump left %v", entries)
	}
	// Backups taken at once all land, each under its own name.
	var wg sync.WaitGroup
	names := make([]string, 3)
	errs := make([]error, 3)
	for i := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bk, err := b.Create(context.Background())
			names[i], errs[i] = bk.Name, err
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, n := range names {
		if errs[i] != nil || seen[n] {
			t.Fatalf("concurrent creates: %v %v", names, errs)
		}
		seen[n] = true
	}
	if list, _ := backups.List(dir); len(list) != 3 {
		t.Fatalf("%d backups listed after 3 concurrent creates", len(list))
	}
	for _, n := range names {
		os.Remove(filepath.Join(dir, n))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("concurrent creates left %v", entries)
	}

	// A failed restore changes nothing and keeps the safety backup.
	bad := filepath.Join(dir, "shiftwise_20200101_000000.sql")
	good, err := b.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good.Path)
	broken := strings.Replace(string(raw), "COPY public.stations", "COPY public.no_such_table", 1)
	if err := os.WriteFile(bad, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	before := pg.sql(t, "shiftwise", "SELECT count(*) FROM assignments")
	pg.sql(t, "shiftwise", "CREATE TABLE marker (x int)")
	r = bkRun(t, e, "backup restore shiftwise_20200101_000000.sql")
	if r.Outcome != bot.OutcomeFailed || !strings.Contains(r.Message.Text, "was not touched") || field(r.Message, "Safety backup") == "" ||
		!strings.Contains(r.Message.Text, `psql stopped restoring shiftwise_20200101_000000.sql at an error`) || !strings.Contains(r.Message.Text, "no_such_table") {
		t.Fatalf("restore of a broken dump: %s", bkText(r.Message))
	}
	if pg.sql(t, "shiftwise", "SELECT count(*) FROM pg_tables WHERE tablename = 'marker'") != "1" ||
		pg.sql(t, "shiftwise", "SELECT count(*) FROM assignments") != before {
		t.Error("a failed restore changed the database")
	}
	if left := pg.sql(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE '%restore%'"); left != "0" {
		t.Errorf("%s staging databases left behind", left)
	}
	// verify catches the broken dump too
	if r = bkRun(t, e, "backup verify shiftwise_20200101_000000.sql"); r.Outcome != bot.OutcomeFailed || !strings.Contains(r.Message.Text, "no_such_table") {
		t.Errorf("verify of a broken dump: %s", bkText(r.Message))
	}
}

// TestBackupHostileNames: names that are not a plain name of the listing
// are refused with one sentence and nothing runs (no Docker is needed to
// refuse them: the engine here has none).
func TestBackupHostileNames(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret.sql")
	os.WriteFile(outside, []byte("-- PostgreSQL database dump\n-- PostgreSQL database dump complete\n"), 0o600)
	os.WriteFile(filepath.Join(dir, ".hidden.sql"), []byte("x"), 0o600)
	os.Mkdir(filepath.Join(dir, "sub"), 0o700)
	os.WriteFile(filepath.Join(dir, "sub", "x.sql"), []byte("x"), 0o600)
	ex := &bkNoExec{}
	b := &Backups{Docker: ex, Dir: dir}
	e := bkEngine(t, b.Commands()...)
	for _, name := range []string{
		"../" + filepath.Base(filepath.Dir(outside)) + "/secret.sql", outside, "..", ".hidden.sql", "sub/x.sql",
		"a;rm -rf /.sql", "`id`.sql", "$(id).sql", "x.sql|cat", "'x.sql'", "x\\.sql", "nosuch.sql",
		"x.sql\x00", strings.Repeat("a", 300) + ".sql", "-x.sql", "--help",
	} {
		for _, cmd := range []string{"backup verify", "backup restore"} {
			line := cmd + " " + strconv.Quote(name)
			r := bkRun(t, e, line)
			if r.Outcome != bot.OutcomeUsage {
				t.Errorf("%s: outcome %v: %s", line, r.Outcome, bkText(r.Message))
			}
		}
	}
	if ex.calls > 0 {
		t.Errorf("%d execs ran for refused names", ex.calls)
	}
}

type bkNoExec struct{ calls int }

func (n *bkNoExec) Exec(context.Context, string, []string, docker.ExecOptions) (docker.ExecResult, error) {
	n.calls++
	return docker.ExecResult{}, errors.New("must not run")
}

func TestBackupCommandDefaults(t *testing.T) {
	want := map[string]struct {
		object   string
		level    bot.Level
		approval bool
	}{
		"backup create":  {"backup:create", bot.Level1, false},
		"backup list":    {"backup:list", bot.Level1, false},
		"backup verify":  {"backup:verify", bot.Level1, false},
		"backup prune":   {"backup:prune", bot.Level2, true},
		"backup restore": {"backup:restore", bot.Level3, true},
	}
	for _, c := range (&Backups{}).Commands() {
		w, ok := want[c.Name]
		if !ok {
			t.Errorf("unexpected command %s", c.Name)
			continue
		}
		if c.PermissionObject(bot.Args{}) != w.object || c.Level != w.level || c.Approval != w.approval || c.Timeout == 0 {
			t.Errorf("%s: object %s level %v approval %v timeout %v", c.Name, c.PermissionObject(bot.Args{}), c.Level, c.Approval, c.Timeout)
		}
	}
}
