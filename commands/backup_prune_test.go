package commands

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/store/botstore"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// bkDumps are real dumps, made once per test binary by the host's pg_dump
// (PostgreSQL 15, as in the demo container) of a database of the test's
// own on the host PostgreSQL, holding the demo's tables and rows: plain
// SQL and custom format (-Fc).
var bkDumps struct {
	sync.Mutex
	plain, custom []byte
}

func bkRealDumps(t *testing.T) (plain, custom []byte) {
	t.Helper()
	bkDumps.Lock()
	defer bkDumps.Unlock()
	if bkDumps.plain != nil {
		return bkDumps.plain, bkDumps.custom
	}
	for _, tool := range []string{"psql", "pg_dump"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, tool, err)
		}
	}
	db := testenv.NewDatabase(t)
	run := func(name string, args ...string) []byte {
		t.Helper()
		var stderr bytes.Buffer
		c := exec.Command(name, args...)
		c.Stderr = &stderr
		c.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10")
		out, err := c.Output()
		if err != nil {
			t.Fatalf("%s: %v: %s", name, err, stderr.String())
		}
		return out
	}
	run("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", `
		CREATE TABLE employees (id serial PRIMARY KEY, name text NOT NULL, level int NOT NULL);
		CREATE TABLE assignments (id serial PRIMARY KEY, employee_id int REFERENCES employees, starts timestamptz NOT NULL);
		INSERT INTO employees (name, level) SELECT 'employee ' || i, i % 3 + 1 FROM generate_series(1, 200) i;
		INSERT INTO assignments (employee_id, starts) SELECT i % 200 + 1, now() + i * interval '8 hours' FROM generate_series(1, 2000) i;`)
	bkDumps.plain = run("pg_dump", "--no-owner", "-d", db)
	bkDumps.custom = run("pg_dump", "-Fc", "--no-owner", "-d", db)
	return bkDumps.plain, bkDumps.custom
}

func bkGzip(data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// bkPut writes a file of the given content and age.
func bkPut(t *testing.T, dir, name string, data []byte, age time.Duration) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-age)
	if err := os.Chtimes(p, at, at); err != nil {
		t.Fatal(err)
	}
	return p
}

// bkApprovalRig is the engine of backup_approval_test.go: approvals and
// audit in a real PostgreSQL store, a developer asks, another approves.
type bkApprovalRig struct {
	t *testing.T
	e *bot.Engine
}

func newBkApprovalRig(t *testing.T, s *store.Store, cmds ...bot.Command) *bkApprovalRig {
	t.Helper()
	reg, err := bot.NewRegistry(cmds...)
	if err != nil {
		t.Fatal(err)
	}
	people := bkLevels{"console:dev": bot.Level2, "console:dev2": bot.Level2}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: people, Redactor: redact.New(),
		Approvals: botstore.Approvals{S: s}, Auditor: botstore.Auditor{S: s}})
	if err != nil {
		t.Fatal(err)
	}
	return &bkApprovalRig{t: t, e: e}
}

func (r *bkApprovalRig) ask(who, line string) bot.Reply {
	return r.e.Handle(context.Background(), bot.Request{Subject: who, Channel: "C1", Text: line})
}

// request asks as console:dev and returns the pending request.
func (r *bkApprovalRig) request(line string) bot.Reply {
	r.t.Helper()
	rep := r.ask("console:dev", line)
	if rep.Outcome != bot.OutcomePending || len(rep.Message.Buttons) == 0 {
		r.t.Fatalf("%s: want an approval request, got %v: %s", line, rep.Outcome, bkAll(rep.Message))
	}
	return rep
}

// approve approves a pending request as console:dev2.
func (r *bkApprovalRig) approve(req bot.Reply) bot.Reply {
	r.t.Helper()
	return r.ask("console:dev2", "approve "+req.Message.Buttons[0].Value)
}

// lineWith returns the line of text that names name, or "".
func lineWith(text, name string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, name) {
			return l
		}
	}
	return ""
}

// TestBackupPruneIssueReproduction is issue 11's reproduction: two
// complete dumps 46 and 66 days old and an empty
// shiftwise_20261205_000000.sql. An approved `backup prune` keeps the
// newest complete dump (not the empty file), and its request says which
// file is kept and why, and that the empty file is empty.
func TestBackupPruneIssueReproduction(t *testing.T) {
	plain, _ := bkRealDumps(t)
	s, _ := storetest.OpenTest(t)
	day := 24 * time.Hour
	dir := t.TempDir()
	older := bkPut(t, dir, "shiftwise_20260930_000000.sql", plain, 66*day)
	newer := bkPut(t, dir, "shiftwise_20261020_000000.sql", plain, 46*day)
	empty := bkPut(t, dir, "shiftwise_20261205_000000.sql", nil, 0)
	b := &Backups{Docker: &bkNoExec{}, Dir: dir}
	rig := newBkApprovalRig(t, s, b.Commands()...)

	req := rig.request("backup prune")
	text := bkAll(req.Message)
	if !strings.Contains(text, "kept: shiftwise_20261020_000000.sql — the newest complete dump") {
		t.Errorf("the request does not name the newest complete dump as kept:\n%s", text)
	}
	if l := lineWith(text, "shiftwise_20261205_000000.sql"); !strings.Contains(l, "broken") || !strings.Contains(l, "empty") {
		t.Errorf("the request does not say the newest file is empty (%q):\n%s", l, text)
	}
	if l := lineWith(text, "shiftwise_20260930_000000.sql"); !strings.Contains(l, "to delete") {
		t.Errorf("the request does not list the 66-day-old dump for deletion (%q):\n%s", l, text)
	}
	if !bkExists(older) || !bkExists(newer) || !bkExists(empty) {
		t.Fatal("a pending prune deleted something")
	}

	done := rig.approve(req)
	if done.Outcome != bot.OutcomeOK {
		t.Fatalf("approved prune: %v %s", done.Outcome, bkAll(done.Message))
	}
	if !bkExists(newer) {
		t.Fatalf("the approved prune deleted the newest complete dump:\n%s", bkAll(done.Message))
	}
	if bkExists(older) {
		t.Errorf("the 66-day-old dump was not deleted:\n%s", bkAll(done.Message))
	}
	if !bkExists(empty) {
		t.Errorf("the empty file, younger than 30d, was deleted:\n%s", bkAll(done.Message))
	}
	if !strings.Contains(bkAll(done.Message), "kept: shiftwise_20261020_000000.sql — the newest complete dump") {
		t.Errorf("the reply does not say what was kept:\n%s", bkAll(done.Message))
	}
}

// bkBroken are the ways the newest file can fail to be a dump, with a word
// the request must use for it.
func bkBroken(plain []byte) []struct {
	name, ext, word string
	data            []byte
} {
	return []struct {
		name, ext, word string
		data            []byte
	}{
		{"empty", ".sql", "empty", nil},
		{"header only", ".sql", "truncated", []byte("--\n-- PostgreSQL database dump\n--\n\n")},
		{"truncated", ".sql", "truncated", plain[:len(plain)*2/3]},
		{"garbage", ".sql", "not a dump", []byte("<html>502 Bad Gateway</html>\n")},
		{"gzip truncated", ".sql.gz", "truncated", func() []byte { g := bkGzip(plain); return g[:len(g)*2/3] }()},
		{"gzip of a truncated dump", ".sql.gz", "truncated", bkGzip(plain[:len(plain)/2])},
		{"custom named, garbage", ".dump", "not a dump", []byte("PGDMQ not really\n")},
	}
}

// TestBackupPruneBrokenNewest: whatever way the newest file is broken,
// and whether it is younger or older than the age, `backup prune` and
// `cleanup` (approved) keep the newest complete dump — plain, gzip or
// custom — delete the complete ones older than the age, never count the
// broken file as the newest, name it as broken in the request, and delete
// it only when it is older than the age.
func TestBackupPruneBrokenNewest(t *testing.T) {
	plain, custom := bkRealDumps(t)
	s, _ := storetest.OpenTest(t)
	day := 24 * time.Hour
	completes := []struct {
		ext  string
		data []byte
	}{{".sql", plain}, {".sql.gz", bkGzip(plain)}, {".dump", custom}, {".sql.gz", bkGzip(custom)}}
	for _, broken := range bkBroken(plain) {
		for ci, complete := range completes {
			for _, brokenAge := range []time.Duration{0, 40 * day} {
				for _, cmd := range []string{"backup prune", "cleanup"} {
					name := fmt.Sprintf("%s/%s%s#%d/%s/%s", broken.name, "complete", complete.ext, ci, human(brokenAge), cmd)
					t.Run(name, func(t *testing.T) {
						dir := t.TempDir()
						oldest := bkPut(t, dir, "shiftwise_20260930_000000.sql", plain, 66*day)
						keep := bkPut(t, dir, "shiftwise_20261020_000000"+complete.ext, complete.data, 46*day)
						bad := bkPut(t, dir, "shiftwise_20261205_000000"+broken.ext, broken.data, brokenAge)
						b := &Backups{Docker: &bkNoExec{}, Dir: dir}
						c := &Cleanup{Backups: b}
						rig := newBkApprovalRig(t, s, append(b.Commands(), c.Command())...)

						req := rig.request(cmd)
						text := bkAll(req.Message)
						if !strings.Contains(text, "kept: "+filepath.Base(keep)+" — the newest complete dump") {
							t.Errorf("request does not name %s as the newest complete dump, kept:\n%s", filepath.Base(keep), text)
						}
						l := lineWith(text, filepath.Base(bad))
						if !strings.Contains(l, "broken") || !strings.Contains(l, broken.word) {
							t.Errorf("request does not call %s broken (%s): %q\n%s", filepath.Base(bad), broken.word, l, text)
						}
						done := rig.approve(req)
						all := bkAll(done.Message)
						if done.Outcome != bot.OutcomeOK && done.Outcome != bot.OutcomeFailed {
							t.Fatalf("approved %s: %v %s", cmd, done.Outcome, all)
						}
						if !bkExists(keep) {
							t.Fatalf("%s deleted the newest complete dump %s:\n%s", cmd, filepath.Base(keep), all)
						}
						if bkExists(oldest) {
							t.Errorf("%s kept the 66-day-old dump:\n%s", cmd, all)
						}
						if wantBad := brokenAge < 30*day; bkExists(bad) != wantBad {
							t.Errorf("broken file %s (%s old) exists = %v, want %v:\n%s", filepath.Base(bad), human(brokenAge), !wantBad, wantBad, all)
						}
					})
				}
			}
		}
	}
}

// TestBackupPruneRefusesToLeaveNoCompleteDump: when no complete dump
// would remain, prune is refused with one sentence before anyone is asked
// and deletes nothing; a request approved while a complete dump existed
// is refused at run time when it no longer does; cleanup leaves the
// backups alone then and still does its other steps.
func TestBackupPruneRefusesToLeaveNoCompleteDump(t *testing.T) {
	plain, _ := bkRealDumps(t)
	s, _ := storetest.OpenTest(t)
	day := 24 * time.Hour
	dir, logs := t.TempDir(), t.TempDir()
	files := []string{
		bkPut(t, dir, "shiftwise_20260930_000000.sql", plain[:len(plain)/2], 66*day),
		bkPut(t, dir, "shiftwise_20261020_000000.sql", nil, 46*day),
		bkPut(t, dir, "shiftwise_20261120_000000.sql.gz", []byte("not gzip"), 15*day),
	}
	oldLog := bkPut(t, logs, "api.log", []byte("old\n"), 9*day)
	b := &Backups{Docker: &bkNoExec{}, Dir: dir}
	c := &Cleanup{Backups: b, LogDir: logs}
	rig := newBkApprovalRig(t, s, append(b.Commands(), c.Command())...)
	same := func() {
		t.Helper()
		for _, f := range files {
			if !bkExists(f) {
				t.Fatalf("%s was deleted", filepath.Base(f))
			}
		}
	}

	r := rig.ask("console:dev", "backup prune")
	if r.Outcome != bot.OutcomeUsage || len(r.Message.Buttons) != 0 || !strings.Contains(bkAll(r.Message), "no complete dump") {
		t.Fatalf("prune with no complete dump: want a refusal, got %v: %s", r.Outcome, bkAll(r.Message))
	}
	same()

	// Approved while a complete dump was there; by the time it runs, that
	// dump turned out broken.
	good := bkPut(t, dir, "shiftwise_20261001_000000.sql", plain, 60*day)
	req := rig.request("backup prune")
	if err := os.Truncate(good, int64(len(plain)/3)); err != nil {
		t.Fatal(err)
	}
	files = append(files, good)
	done := rig.approve(req)
	if done.Outcome != bot.OutcomeFailed || !strings.Contains(bkAll(done.Message), "no complete dump") {
		t.Errorf("run with no complete dump left: %v %s", done.Outcome, bkAll(done.Message))
	}
	same()

	// cleanup: the backups are left alone, and said so; the logs still go.
	req = rig.request("cleanup")
	if text := bkAll(req.Message); !strings.Contains(text, "no complete dump") {
		t.Errorf("cleanup request does not say the backups are left alone:\n%s", text)
	}
	done = rig.approve(req)
	if !strings.Contains(bkAll(done.Message), "no complete dump") {
		t.Errorf("cleanup reply: %s", bkAll(done.Message))
	}
	same()
	if bkExists(oldLog) {
		t.Errorf("cleanup did not delete the old log: %s", bkAll(done.Message))
	}
}

// TestCleanupSizesHaveUnits: every size cleanup and prune show carries a
// unit, a 4-byte log included.
func TestCleanupSizesHaveUnits(t *testing.T) {
	day := 24 * time.Hour
	logs, dir := t.TempDir(), t.TempDir()
	bkPut(t, logs, "tiny.log", []byte("abc\n"), 9*day)
	dump := []byte("-- PostgreSQL database dump\n\n-- PostgreSQL database dump complete\n\n")
	bkPut(t, dir, "shiftwise_20260101_000000.sql", dump, 60*day)
	bkPut(t, dir, "shiftwise_20261201_000000.sql", dump, 4*day)
	b := &Backups{Docker: &bkNoExec{}, Dir: dir}
	c := &Cleanup{Backups: b, LogDir: logs}
	cmd := c.Command()
	m, err := cmd.Preview(context.Background(), bkRequest(t, cmd, "cleanup"))
	if err != nil {
		t.Fatal(err)
	}
	text := bkAll(m)
	if !strings.Contains(text, "1 *.log files to delete in "+logs+", 4 B") {
		t.Errorf("the log size has no unit:\n%s", text)
	}
	// The same through the engine (the request text is the preview's).
	for _, line := range []string{"backup prune", "backup list --older 30d"} {
		r := bkRun(t, bkEngine(t, b.Commands()...), line)
		if all := bkAll(r.Message); !strings.Contains(all, "B)") && !strings.Contains(all, " B,") {
			t.Errorf("%s: no size with a unit:\n%s", line, all)
		}
	}
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {4, "4 B"}, {1023, "1023 B"}, {1024, "1.0 KB"}, {3000, "3.0 KB"}, {12 << 20, "12 MB"}, {5 << 30, "5.0 GB"}} {
		if got := bkSize(tc.n); got != tc.want {
			t.Errorf("bkSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// bkRequest parses line into a request for cmd.
func bkRequest(t *testing.T, cmd bot.Command, line string) bot.Request {
	t.Helper()
	reg, err := bot.NewRegistry(cmd)
	if err != nil {
		t.Fatal(err)
	}
	c, args, err := reg.Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	return bot.Request{Subject: "console:test", Channel: "console", Text: line, Command: c, Args: args}
}

// TestBackupHelperDump is not a test: TestBackupTempFiles runs the test
// binary again with it, as a bot process taking a backup that it then
// kills with SIGKILL in the middle of the dump.
func TestBackupHelperDump(t *testing.T) {
	dir, project := os.Getenv("SHIFTWISE_BK_HELPER_DIR"), os.Getenv("SHIFTWISE_BK_HELPER_PROJECT")
	if dir == "" {
		t.Skip("helper process of TestBackupTempFiles")
	}
	dc, err := docker.New(os.Getenv("SHIFTWISE_BK_HELPER_DOCKER"), project)
	if err != nil {
		t.Fatal(err)
	}
	b := &Backups{Docker: dc, Dir: dir}
	_, err = b.Create(context.Background())
	t.Fatalf("the dump was to hang until killed; it ended: %v", err)
}

// bkTemps returns the hidden temporary dump files in dir.
func bkTemps(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".shiftwise_*.sql.*.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// bkWaitTemps waits until dir holds n temporary dump files.
func bkWaitTemps(t *testing.T, dir string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if m := bkTemps(t, dir); len(m) >= n {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d temporary dump files in %s after 1m, want %d", len(bkTemps(t, dir)), dir, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func bkAge(t *testing.T, path string, age time.Duration) {
	t.Helper()
	at := time.Now().Add(-age)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

// TestBackupTempFiles: the hidden temporary file of a dump that was
// killed with SIGKILL is listed by `backup list` as a leftover and
// removed by prune and cleanup; the temporary files of dumps still
// running — in this process and in another one — are left alone however
// old their time stamp, and so is one written a moment ago.
func TestBackupTempFiles(t *testing.T) {
	pg := startBackupPostgres(t)
	dir := t.TempDir()
	b := &Backups{Docker: pg.docker, Dir: dir}
	good, err := b.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	bkAge(t, good.Path, 2*time.Hour)

	// pg_dump waits for a table another session holds locked: the dumps
	// below hang mid-way, with their temporary files open.
	go pg.docker.Exec(context.Background(), "postgres", []string{"psql", "-X", "-U", "shiftwise", "-d", "shiftwise", "-c",
		"BEGIN; LOCK TABLE employees IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600); COMMIT;"}, docker.ExecOptions{})
	for deadline := time.Now().Add(time.Minute); ; {
		if pg.sql(t, "shiftwise", "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'employees' AND l.mode = 'AccessExclusiveLock' AND l.granted") == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the table lock was not taken")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A dump running in this process.
	ctx, cancel := context.WithCancel(context.Background())
	ownDone := make(chan error, 1)
	go func() { _, err := b.Create(ctx); ownDone <- err }()
	defer func() { cancel(); <-ownDone }()
	own := bkWaitTemps(t, dir, 1)[0]

	// A dump running in another bot process.
	child := exec.Command(os.Args[0], "-test.run=^TestBackupHelperDump$", "-test.count=1")
	child.Env = append(os.Environ(), "SHIFTWISE_BK_HELPER_DIR="+dir, "SHIFTWISE_BK_HELPER_PROJECT="+pg.project.Name,
		"SHIFTWISE_BK_HELPER_DOCKER="+dockertest.Host(t))
	var childOut bytes.Buffer
	child.Stdout, child.Stderr = &childOut, &childOut
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	childDone := make(chan struct{})
	go func() { child.Wait(); close(childDone) }()
	defer func() { child.Process.Kill(); <-childDone }()
	var other string
	for _, p := range bkWaitTemps(t, dir, 2) {
		if p != own {
			other = p
		}
	}
	// Time stamps say nothing of a running dump: both look 3 hours old.
	bkAge(t, own, 3*time.Hour)
	bkAge(t, other, 3*time.Hour)

	e := bkEngine(t, b.Commands()...)
	r := bkRun(t, e, "backup list")
	if text := bkAll(r.Message); !strings.Contains(text, "2 dumps in progress") || strings.Contains(text, "leftover") {
		t.Errorf("list while two dumps run:\n%s", text)
	}
	r = bkRun(t, e, "backup prune")
	if !bkExists(own) || !bkExists(other) {
		t.Fatalf("prune removed the temporary file of a running dump:\n%s\nchild: %s", bkAll(r.Message), childOut.String())
	}

	// SIGKILL the other process mid-dump: its temporary file stays.
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-childDone
	if !bkExists(other) {
		t.Fatal("the killed dump left no temporary file; nothing to test")
	}
	bkAge(t, other, 3*time.Hour)
	// One written a moment ago by whatever: not old enough to be sure.
	fresh := bkPut(t, dir, ".shiftwise_20261205_000000.sql.424242.tmp", []byte("-- PostgreSQL database dump\n"), 0)
	// One more from an older crash, 12 MB.
	big := bkPut(t, dir, ".shiftwise_pre_restore_20261101_000000.sql.777.tmp", bytes.Repeat([]byte("x"), 12<<20), 30*24*time.Hour)

	r = bkRun(t, e, "backup list")
	text := bkAll(r.Message)
	if !strings.Contains(text, "2 leftover temporary files from interrupted dumps, 12 MB, will be removed by cleanup") ||
		!strings.Contains(text, "2 dumps in progress") {
		t.Errorf("list after the kill:\n%s", text)
	}
	r = bkRun(t, e, "backup prune")
	text = bkAll(r.Message)
	if bkExists(other) || bkExists(big) {
		t.Errorf("prune did not remove the leftovers of killed dumps:\n%s", text)
	}
	if !bkExists(own) || !bkExists(fresh) || !bkExists(good.Path) {
		t.Errorf("prune removed a running dump's file, a fresh one or the only dump:\n%s", text)
	}
	if l := lineWith(text, filepath.Base(other)); !strings.Contains(l, "leftover") {
		t.Errorf("prune does not name the leftover it removed (%q):\n%s", l, text)
	}

	// cleanup does the same; its request lists the leftover first.
	bkAge(t, fresh, 2*time.Hour)
	s, _ := storetest.OpenTest(t)
	c := &Cleanup{Backups: b}
	rig := newBkApprovalRig(t, s, c.Command())
	req := rig.request("cleanup")
	if l := lineWith(bkAll(req.Message), filepath.Base(fresh)); !strings.Contains(l, "leftover") {
		t.Errorf("cleanup request does not list the leftover (%q):\n%s", l, bkAll(req.Message))
	}
	done := rig.approve(req)
	if bkExists(fresh) || !bkExists(own) || !bkExists(good.Path) {
		t.Errorf("cleanup: leftover removed %v, running dump's file kept %v, dump kept %v:\n%s",
			!bkExists(fresh), bkExists(own), bkExists(good.Path), bkAll(done.Message))
	}

	// The dump of this process, cut off, removes its own file.
	cancel()
	if err := <-ownDone; err == nil {
		t.Error("a cancelled dump succeeded")
	}
	ownDone <- nil
	if left := bkTemps(t, dir); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestCleanupSecuritySnapshots: `runbook security` snapshots
// (SHIFTWISE_DATA_DIR/security_*.log) older than --snapshots-older
// (default 30d) are listed in the request and removed; younger ones,
// other files of the data directory, subdirectories and links stay.
func TestCleanupSecuritySnapshots(t *testing.T) {
	s, _ := storetest.OpenTest(t)
	day := 24 * time.Hour
	data, outside := t.TempDir(), t.TempDir()
	old := bkPut(t, data, "security_20261001_000000.log", []byte("api | raw line\n"), 60*day)
	recent := bkPut(t, data, "security_20261201_000000.log", []byte("api | raw line\n"), 4*day)
	other := bkPut(t, data, "notes.log", []byte("x"), 60*day)
	os.Mkdir(filepath.Join(data, "audit-spool"), 0o700)
	nested := bkPut(t, filepath.Join(data, "audit-spool"), "security_20200101_000000.log", []byte("x"), 60*day)
	target := bkPut(t, outside, "precious.log", []byte("x"), 60*day)
	link := filepath.Join(data, "security_20200102_000000.log")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	c := &Cleanup{DataDir: data}
	cmd := c.Command()
	if !strings.Contains(cmd.Help, "security_") || !strings.Contains(cmd.Help, "--snapshots-older") {
		t.Errorf("cleanup's help does not say it removes the security snapshots: %s", cmd.Help)
	}
	rig := newBkApprovalRig(t, s, cmd)
	req := rig.request("cleanup")
	text := bkAll(req.Message)
	if !strings.Contains(text, "security_20261001_000000.log") || strings.Contains(text, "security_20261201_000000.log") {
		t.Errorf("cleanup request does not list exactly the old snapshot:\n%s", text)
	}
	if !bkExists(old) {
		t.Fatal("a pending cleanup removed a snapshot")
	}
	done := rig.approve(req)
	if bkExists(old) || !bkExists(recent) || !bkExists(other) || !bkExists(nested) || !bkExists(link) || !bkExists(target) {
		t.Errorf("after cleanup: old %v recent %v notes %v nested %v link %v target %v (want false, then all true):\n%s",
			bkExists(old), bkExists(recent), bkExists(other), bkExists(nested), bkExists(link), bkExists(target), bkAll(done.Message))
	}
	req = rig.request("cleanup --snapshots-older 3d")
	rig.approve(req)
	if bkExists(recent) {
		t.Error("--snapshots-older 3d kept a 4-day-old snapshot")
	}
	if r := rig.ask("console:dev", "cleanup --snapshots-older 1h"); r.Outcome != bot.OutcomeUsage {
		t.Errorf("--snapshots-older 1h: %v %s", r.Outcome, bkAll(r.Message))
	}
}
