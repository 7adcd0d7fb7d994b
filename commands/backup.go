package commands

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/backups"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/host"
)

// ServiceExecer runs a fixed argument vector inside the running container of a
// service of the live compose project (*docker.Client).
type ServiceExecer interface {
	Exec(ctx context.Context, service string, argv []string, opts docker.ExecOptions) (docker.ExecResult, error)
}

// Backups is the runbook's backup procedures on the operated database:
// pg_dump inside the postgres container into the backup directory, list,
// verify by restoring into a throwaway database, prune, and restore.
// Every SQL statement and every program runs inside the container with its
// own pg_dump and psql (a plain dump of pg_dump 15.14+ carries \restrict
// lines that only psql understands), as fixed argument vectors: no user
// text reaches a shell or a statement, and database names are the
// configured one or names the bot makes up.
type Backups struct {
	Docker ServiceExecer
	Dir    string // SHIFTWISE_BACKUP_DIR
	// Service is the compose service running PostgreSQL (default postgres).
	Service string
	// User and Database are the role and database pg_dump and psql use
	// inside the container (default shiftwise/shiftwise: the runbook's
	// `pg_dump -U shiftwise shiftwise`); Password, when set, goes to them
	// as PGPASSWORD in their environment, never on a command line.
	User, Database, Password string
	// Health, when set, runs after a restore and its result is reported.
	Health func(ctx context.Context) bot.Message
	Now    func() time.Time

	restoring sync.Mutex // one restore at a time
}

// Backup timeouts: the commands' deadlines.
const (
	backupCreateTimeout  = 30 * time.Minute
	backupVerifyTimeout  = 30 * time.Minute
	backupRestoreTimeout = 60 * time.Minute
	cleanupStepTimeout   = 30 * time.Second // each admin statement
	progressEvery        = 2 * time.Second
)

// pgName is what a configured role or database name may be: it lands on
// pg_dump's and psql's command lines and in SQL as a quoted identifier.
var pgName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.$-]{0,62}$`)

// backupName is what a user may name: a plain file name of the listing.
var backupName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$`)

// Validate checks the configuration, naming what is wrong.
func (b *Backups) Validate() error {
	switch {
	case b.Docker == nil:
		return errors.New("backups: no Docker client")
	case b.Dir == "":
		return errors.New("backups: SHIFTWISE_BACKUP_DIR is empty")
	case !pgName.MatchString(b.user()):
		return fmt.Errorf("backups: database user %q (from SHIFTWISE_TARGET_DB_URL) is not a name the bot passes to pg_dump: use letters, digits, _ . $ -", b.user())
	case !pgName.MatchString(b.database()):
		return fmt.Errorf("backups: database name %q (from SHIFTWISE_TARGET_DB_URL) is not a name the bot passes to pg_dump: use letters, digits, _ . $ -", b.database())
	}
	return nil
}

func (b *Backups) service() string { return bkFirst(b.Service, "postgres") }
func (b *Backups) user() string    { return bkFirst(b.User, "shiftwise") }
func (b *Backups) database() string {
	return bkFirst(b.Database, b.User, "shiftwise")
}

func (b *Backups) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func bkFirst(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func (b *Backups) env() []string {
	if b.Password == "" {
		return nil
	}
	return []string{"PGPASSWORD=" + b.Password}
}

// Create takes a backup now: `pg_dump -U <user> <database>` inside the
// postgres container, streamed into a hidden temporary file in the backup
// directory, fsynced, checked (pg_dump's header and its "dump complete"
// line), and renamed to shiftwise_YYYYMMDD_HHMMSS.sql (the runbook's and
// scripts/demo-backup.sh's naming). A failed or cut-short dump leaves no
// file. The deploy command calls it before a deploy.
func (b *Backups) Create(ctx context.Context) (backups.Backup, error) {
	return b.create(ctx, "shiftwise")
}

func (b *Backups) create(ctx context.Context, prefix string) (backups.Backup, error) {
	if err := b.Validate(); err != nil {
		return backups.Backup{}, err
	}
	if err := os.MkdirAll(b.Dir, 0o750); err != nil {
		return backups.Backup{}, fmt.Errorf("backup: create the backup directory: %w", err)
	}
	start := b.now()
	stamp := start.Format("20060102_150405")
	// The temporary file is locked while it is open: cleanup and prune
	// leave it alone until then, and remove it if this process is killed.
	tmp, err := backups.CreateTemp(b.Dir, prefix, stamp)
	if err != nil {
		return backups.Backup{}, fmt.Errorf("backup: write in %s: %w", b.Dir, err)
	}
	keep := false
	defer func() {
		if !keep {
			os.Remove(tmp.Name())
		}
		tmp.Close() // after the removal: the lock is held until then
	}()
	bw := bufio.NewWriterSize(tmp, 256<<10)
	w := &bkProgressWriter{w: bw}
	stop := bkReportEvery(ctx, progressEvery, func() bot.Message {
		return bot.Message{Title: "backup create", Text: fmt.Sprintf("pg_dump running in %s: %s written so far", b.service(), host.HumanBytes(uint64(w.n.Load())))}
	})
	argv := []string{"pg_dump", "--no-password", "-U", b.user(), b.database()}
	res, err := b.Docker.Exec(ctx, b.service(), argv, docker.ExecOptions{Stdout: w, Env: b.env()})
	stop()
	if err != nil {
		return backups.Backup{}, fmt.Errorf("backup: pg_dump: %w", err)
	}
	if res.ExitCode != 0 {
		return backups.Backup{}, fmt.Errorf("backup: pg_dump -U %s %s in %s exited with %d: %s; no backup written",
			b.user(), b.database(), res.Container, res.ExitCode, bkFirstLines(res.Stderr, 3))
	}
	if err := bw.Flush(); err != nil {
		return backups.Backup{}, fmt.Errorf("backup: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o640); err != nil {
		return backups.Backup{}, fmt.Errorf("backup: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return backups.Backup{}, fmt.Errorf("backup: fsync %s: %w", tmp.Name(), err)
	}
	if err := backups.Inspect(backups.Backup{Path: tmp.Name()}); err != nil {
		return backups.Backup{}, fmt.Errorf("pg_dump's output is not a complete dump (%v); no backup written", err)
	}
	// Link, not rename: it never replaces a backup taken in the same second.
	var final string
	for i := 0; ; i++ {
		name := prefix + "_" + start.Add(time.Duration(i)*time.Second).Format("20060102_150405") + ".sql"
		final = filepath.Join(b.Dir, name)
		err := os.Link(tmp.Name(), final)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || i >= 30 {
			return backups.Backup{}, fmt.Errorf("backup: name the dump %s: %w", name, err)
		}
	}
	os.Remove(tmp.Name())
	keep = true
	bkSyncDir(b.Dir)
	info, err := os.Stat(final)
	if err != nil {
		return backups.Backup{}, fmt.Errorf("backup: %w", err)
	}
	return backups.Backup{Path: final, Name: filepath.Base(final), Size: info.Size(), ModTime: info.ModTime(), Format: backups.FormatPlain}, nil
}

// bkSyncDir makes a rename in dir durable; a failure only weakens that.
func bkSyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Lookup resolves a name the user typed to a backup of the listing. Only
// a plain file name that the listing holds is accepted: no paths, no
// traversal, no metacharacters.
func (b *Backups) Lookup(name string) (backups.Backup, error) {
	if !backupName.MatchString(name) || strings.Contains(name, "..") {
		return backups.Backup{}, &bot.UsageError{Msg: fmt.Sprintf("%q is not a backup file name: give a name from `backup list` (letters, digits, '.', '_', '-'; no paths).", clipMiddle(name, 60))}
	}
	list, err := backups.List(b.Dir)
	if err != nil {
		return backups.Backup{}, err
	}
	for _, bk := range list {
		if bk.Name == name {
			return bk, nil
		}
	}
	return backups.Backup{}, &bot.UsageError{Msg: fmt.Sprintf("There is no backup %q in %s; `backup list` shows them.", name, b.Dir)}
}

// Verification is what a test restore found.
type Verification struct {
	Backup   backups.Backup
	Database string // the throwaway database, dropped afterwards
	Tables   []TableCount
	Rows     int64
	// Expected holds, per table, the rows the dump's COPY blocks carry
	// (plain dumps); Mismatch names the tables that differ.
	Expected map[string]int64
	Mismatch []string
	Duration time.Duration
}

// TableCount is one restored table and its exact row count.
type TableCount struct {
	Table string
	Rows  int64
}

// Verify restores the backup into a throwaway database inside the
// postgres container (created and dropped by the bot), counts the tables
// and rows that came back and compares them with the dump's own COPY
// blocks. `pg_restore --list`, the runbook's check, reads only custom and
// tar archives, not the plain .sql dumps the runbook restores with psql.
func (b *Backups) Verify(ctx context.Context, bk backups.Backup) (Verification, error) {
	start := b.now()
	v := Verification{Backup: bk}
	if err := b.Validate(); err != nil {
		return v, err
	}
	if err := backups.Inspect(bk); err != nil {
		return v, err
	}
	v.Database = b.scratchName("verify")
	if err := b.createDB(ctx, v.Database, ""); err != nil {
		return v, err
	}
	defer b.dropDB(v.Database)
	expected, err := b.load(ctx, bk, v.Database, "backup verify")
	if err != nil {
		return v, err
	}
	v.Expected = expected
	v.Tables, err = b.countRows(ctx, v.Database)
	if err != nil {
		return v, err
	}
	v.Mismatch = compareCounts(v.Tables, expected)
	for _, t := range v.Tables {
		v.Rows += t.Rows
	}
	v.Duration = b.now().Sub(start)
	return v, nil
}

// scratchName makes up a database name: <db>_<what>_<stamp>_<random>.
func (b *Backups) scratchName(what string) string {
	r := make([]byte, 3)
	_, _ = rand.Read(r)
	name := fmt.Sprintf("%s_%s_%s_%s", b.database(), what, b.now().UTC().Format("20060102150405"), hex.EncodeToString(r))
	if len(name) > 63 {
		name = fmt.Sprintf("shiftwise_%s_%s_%s", what, b.now().UTC().Format("20060102150405"), hex.EncodeToString(r))
	}
	return name
}

// psql runs SQL statements (each its own -c, stopping at the first error)
// against db inside the container and returns what they printed, unaligned.
func (b *Backups) psql(ctx context.Context, db string, sql ...string) (string, error) {
	argv := []string{"psql", "-X", "-q", "-A", "-t", "-F", "\t", "--no-password", "-v", "ON_ERROR_STOP=1", "-U", b.user(), "-d", db}
	for _, s := range sql {
		argv = append(argv, "-c", s)
	}
	var out bytes.Buffer
	res, err := b.Docker.Exec(ctx, b.service(), argv, docker.ExecOptions{Stdout: &bkLimitWriter{w: &out, n: 1 << 20}, Env: b.env()})
	if err != nil {
		return "", fmt.Errorf("psql in %s: %w", b.service(), err)
	}
	if res.ExitCode != 0 {
		return out.String(), fmt.Errorf("psql in %s exited with %d: %s", res.Container, res.ExitCode, bkFirstLines(res.Stderr, 3))
	}
	return out.String(), nil
}

func bkIdent(s string) string   { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func bkLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// createDB creates an empty database (owned by owner, or the bot's user).
func (b *Backups) createDB(ctx context.Context, name, owner string) error {
	sql := "CREATE DATABASE " + bkIdent(name) + " TEMPLATE template0"
	if owner != "" {
		sql += " OWNER " + bkIdent(owner)
	}
	if _, err := b.psql(ctx, "postgres", sql); err != nil {
		return fmt.Errorf("create the throwaway database %s: %w", name, err)
	}
	return nil
}

// dropDB drops a database the bot made, even when the command's own
// deadline has passed.
func (b *Backups) dropDB(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupStepTimeout)
	defer cancel()
	_, err := b.psql(ctx, "postgres", "DROP DATABASE IF EXISTS "+bkIdent(name)+" WITH (FORCE)")
	if err != nil {
		return fmt.Errorf("drop the throwaway database %s: %w", name, err)
	}
	return nil
}

// load restores the dump into db inside the container, in one
// transaction that an error rolls back: plain SQL (gzipped or not) with
// psql (ON_ERROR_STOP), returning the rows per table its COPY blocks
// carry; custom archives (gzipped or not) with pg_restore
// (--exit-on-error), returning no expectation.
func (b *Backups) load(ctx context.Context, bk backups.Backup, db, title string) (map[string]int64, error) {
	f, err := os.Open(bk.Path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", bk.Name, err)
	}
	defer f.Close()
	read := &bkProgressReader{r: f}
	var in io.Reader = read
	if bk.Format == backups.FormatGzipPlain || bk.Format == backups.FormatGzipCustom {
		zr, err := gzip.NewReader(read)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", bk.Name, err)
		}
		in = zr
	}
	tool := "psql"
	argv := []string{"psql", "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-U", b.user(), "-d", db}
	var counter *copyCounter
	switch bk.Format {
	case backups.FormatPlain, backups.FormatGzipPlain:
		counter = &copyCounter{rows: map[string]int64{}}
		in = io.TeeReader(in, counter)
	case backups.FormatCustom, backups.FormatGzipCustom:
		tool = "pg_restore"
		argv = []string{"pg_restore", "--no-password", "--exit-on-error", "--single-transaction", "-U", b.user(), "-d", db}
	default:
		return nil, fmt.Errorf("%s: unknown format %q", bk.Name, bk.Format)
	}
	stop := bkReportEvery(ctx, progressEvery, func() bot.Message {
		return bot.Message{Title: title, Text: fmt.Sprintf("%s restoring %s into %s: %s of %s read", tool, bk.Name, db, host.HumanBytes(uint64(read.n.Load())), host.HumanBytes(uint64(bk.Size)))}
	})
	res, err := b.Docker.Exec(ctx, b.service(), argv, docker.ExecOptions{Stdin: in, Env: b.env()})
	stop()
	if err != nil {
		return nil, fmt.Errorf("restore %s with %s: %w", bk.Name, tool, err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("%s stopped restoring %s at an error (exit %d), and rolled back: %s", tool, bk.Name, res.ExitCode, bkFirstLines(res.Stderr, 3))
	}
	if counter == nil {
		return nil, nil
	}
	counter.flush()
	return counter.rows, nil
}

// countRows counts every user table's rows exactly, in one statement.
func (b *Backups) countRows(ctx context.Context, db string) ([]TableCount, error) {
	const q = `SELECT schemaname || '.' || relname,
       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', schemaname, relname), false, true, '')))[1]::text::bigint
FROM pg_stat_user_tables ORDER BY 1`
	out, err := b.psql(ctx, db, q)
	if err != nil {
		return nil, fmt.Errorf("count the restored rows: %w", err)
	}
	var tables []TableCount
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, n, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		rows, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("count the restored rows: %q: %w", line, err)
		}
		tables = append(tables, TableCount{Table: name, Rows: rows})
	}
	return tables, nil
}

// compareCounts names the tables whose restored rows differ from the
// dump's COPY blocks.
func compareCounts(got []TableCount, want map[string]int64) []string {
	seen := map[string]bool{}
	var bad []string
	for _, t := range got {
		seen[t.Table] = true
		if w, ok := want[t.Table]; ok && w != t.Rows {
			bad = append(bad, fmt.Sprintf("%s: %d rows restored, %d in the dump", t.Table, t.Rows, w))
		}
	}
	for table, n := range want {
		if !seen[table] {
			bad = append(bad, fmt.Sprintf("%s: in the dump (%d rows), not restored", table, n))
		}
	}
	sort.Strings(bad)
	return bad
}

// Restored is what a restore did.
type Restored struct {
	Backup   backups.Backup
	Safety   backups.Backup // the backup of the state before
	Tables   []TableCount
	Rows     int64
	Mismatch []string
	Health   *bot.Message
	Duration time.Duration
}

// Restore replaces the operated database with the backup's content, the
// runbook's corruption procedure without a shell:
//  1. a safety backup of the current state (refused if it fails: nothing
//     changed);
//  2. the dump restored with psql into a new database inside the
//     container, in one transaction (a failure drops it: nothing changed);
//  3. the swap: the operated database stops taking connections, its
//     sessions end, and in one transaction it is renamed aside and the new
//     one takes its name; then the old one is dropped. Clients reconnect to
//     the restored database;
//  4. health, when configured.
func (b *Backups) Restore(ctx context.Context, bk backups.Backup) (Restored, error) {
	start := b.now()
	r := Restored{Backup: bk}
	if err := b.Validate(); err != nil {
		return r, err
	}
	if !b.restoring.TryLock() {
		return r, errors.New("another restore is running; nothing was done")
	}
	defer b.restoring.Unlock()
	if err := backups.Inspect(bk); err != nil {
		return r, fmt.Errorf("%w; nothing was done", err)
	}
	bot.Report(ctx, bot.Message{Title: "backup restore", Text: "1/4 safety backup of the current " + b.database() + " database"})
	safety, err := b.create(ctx, "shiftwise_pre_restore")
	if err != nil {
		return r, fmt.Errorf("the safety backup failed, so nothing was restored: %w", err)
	}
	r.Safety = safety

	db := b.database()
	owner, err := b.psql(ctx, "postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = "+bkLiteral(db))
	if err != nil {
		return r, fmt.Errorf("find the owner of %s: %w; nothing was restored", db, err)
	}
	owner = strings.TrimSpace(owner)
	if owner == "" {
		owner = b.user() // the database is gone: restore creates it
	}
	staging := b.scratchName("restore")
	bot.Report(ctx, bot.Message{Title: "backup restore", Text: fmt.Sprintf("2/4 restoring %s into the new database %s (safety backup %s)", bk.Name, staging, safety.Name)})
	if err := b.createDB(ctx, staging, owner); err != nil {
		return r, fmt.Errorf("%w; nothing was restored", err)
	}
	swapped := false
	defer func() {
		if !swapped {
			b.dropDB(staging)
		}
	}()
	expected, err := b.load(ctx, bk, staging, "backup restore")
	if err != nil {
		return r, fmt.Errorf("%w; %s was not touched", err, db)
	}
	r.Tables, err = b.countRows(ctx, staging)
	if err != nil {
		return r, fmt.Errorf("%w; %s was not touched", err, db)
	}
	r.Mismatch = compareCounts(r.Tables, expected)
	if len(r.Mismatch) > 0 {
		return r, fmt.Errorf("the restored copy differs from the dump (%s); %s was not touched", strings.Join(r.Mismatch, "; "), db)
	}
	for _, t := range r.Tables {
		r.Rows += t.Rows
	}

	bot.Report(ctx, bot.Message{Title: "backup restore", Text: fmt.Sprintf("3/4 swapping %s for the restored copy (its sessions are ended)", db)})
	old := b.scratchName("replaced")
	if err := b.swap(ctx, db, staging, old); err != nil {
		return r, err
	}
	swapped = true
	if err := b.dropDB(old); err != nil {
		r.Mismatch = append(r.Mismatch, fmt.Sprintf("the replaced database %s is still there (%v); drop it once you are sure", old, err))
	}
	if b.Health != nil {
		bot.Report(ctx, bot.Message{Title: "backup restore", Text: "4/4 health check"})
		m := b.Health(ctx)
		r.Health = &m
	}
	r.Duration = b.now().Sub(start)
	return r, nil
}

// swap puts staging in db's place. Only the renames share a transaction;
// when they fail, db takes connections again and is left as it was.
func (b *Backups) swap(ctx context.Context, db, staging, old string) error {
	exists, err := b.psql(ctx, "postgres", "SELECT count(*) FROM pg_database WHERE datname = "+bkLiteral(db))
	if err != nil {
		return fmt.Errorf("swap in the restored database: %w; %s was not touched", err, db)
	}
	if strings.TrimSpace(exists) == "0" {
		if _, err := b.psql(ctx, "postgres", "ALTER DATABASE "+bkIdent(staging)+" RENAME TO "+bkIdent(db)); err != nil {
			return fmt.Errorf("rename the restored database to %s: %w", db, err)
		}
		return nil
	}
	_, err = b.psql(ctx, "postgres",
		"ALTER DATABASE "+bkIdent(db)+" ALLOW_CONNECTIONS false",
		"SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE datname = "+bkLiteral(db)+" AND pid <> pg_backend_pid()",
		"BEGIN; ALTER DATABASE "+bkIdent(db)+" RENAME TO "+bkIdent(old)+"; ALTER DATABASE "+bkIdent(staging)+" RENAME TO "+bkIdent(db)+"; COMMIT;",
	)
	if err != nil {
		uctx, cancel := context.WithTimeout(context.Background(), cleanupStepTimeout)
		defer cancel()
		_, _ = b.psql(uctx, "postgres", "ALTER DATABASE "+bkIdent(db)+" ALLOW_CONNECTIONS true")
		return fmt.Errorf("swap in the restored database: %w; %s was left as it was", err, db)
	}
	return nil
}

// PruneItem is one backup file prune looked at.
type PruneItem struct {
	backups.Backup
	// Problem is nil for a complete, verified dump (backups.Inspect), or
	// says why the file is broken: empty, truncated, not a dump.
	Problem error
}

// problem is the item's Problem as a short phrase without the path.
func (p PruneItem) problem() string {
	if p.Problem == nil {
		return ""
	}
	return strings.TrimPrefix(p.Problem.Error(), "backup "+p.Path+": ")
}

// brokenKind names how a broken file is broken, in the words of the
// request: empty, truncated, or not a dump, with the detail.
func (p PruneItem) brokenKind() string {
	why := p.problem()
	if i := strings.Index(why, " (neither"); i > 0 {
		why = why[:i]
	}
	switch {
	case strings.HasPrefix(why, "empty file"):
		return "empty" + strings.TrimPrefix(why, "empty file")
	case strings.HasPrefix(why, "empty"), strings.HasPrefix(why, "truncated"):
		return why
	case strings.HasPrefix(why, "not checked"):
		return why
	}
	return "not a dump: " + why
}

// PruneResult is what a prune did, or with a dry run would do.
type PruneResult struct {
	Dir   string
	Older time.Duration
	Now   time.Time // when the files were looked at
	// Newest is the newest complete dump, kept whatever its age (nil when
	// the directory holds none).
	Newest *PruneItem
	// Deleted are the backup files deleted (to delete): every file older
	// than Older but Newest, complete or broken.
	Deleted []PruneItem
	// Kept are the other files kept: younger than Older.
	Kept []PruneItem
	// Leftovers are the temporary files of dumps that no longer run
	// (killed, crashed) removed (to remove); Running are those of dumps in
	// progress, left alone.
	Leftovers, Running []backups.Temp
	// Refused, when set, says in one sentence why nothing was done: the
	// prune would have left no complete dump.
	Refused string
}

// Broken returns the broken files among Deleted and Kept.
func (r PruneResult) Broken() (deleted, kept []PruneItem) {
	for _, d := range r.Deleted {
		if d.Problem != nil {
			deleted = append(deleted, d)
		}
	}
	for _, k := range r.Kept {
		if k.Problem != nil {
			kept = append(kept, k)
		}
	}
	return deleted, kept
}

// Prune deletes the backups older than `older` — the runbook's `find
// ./backups -name "*.sql" -mtime +30 -delete` — but never the newest
// complete dump (non-empty, a pg_dump header and completion line, gzip
// read to its end: backups.Inspect), whatever its age; a broken file
// (empty, truncated, not a dump) never counts as that newest one and is
// deleted like any other file once older than `older`. It also removes the
// hidden temporary files of dumps that were killed (backups.Temps: no
// running dump holds them). When the directory holds no complete dump at
// all, and the prune would delete anything, it is refused (Refused) and
// deletes nothing. With dryRun it only says what it would do.
func (b *Backups) Prune(ctx context.Context, older time.Duration, dryRun bool) (PruneResult, error) {
	now := b.now()
	r := PruneResult{Dir: b.Dir, Older: older, Now: now}
	list, err := backups.List(b.Dir)
	if err != nil {
		return r, err
	}
	temps, err := backups.Temps(b.Dir, now)
	if err != nil {
		return r, err
	}
	for _, t := range temps {
		if t.InUse {
			r.Running = append(r.Running, t)
		} else {
			r.Leftovers = append(r.Leftovers, t)
		}
	}
	cutoff := now.Add(-older)
	items := make([]PruneItem, len(list))
	for i, bk := range list { // newest first
		items[i] = PruneItem{Backup: bk, Problem: backups.InspectContext(ctx, bk)}
		if items[i].Problem == nil && r.Newest == nil {
			r.Newest = &items[i]
		}
	}
	for i := range items {
		switch {
		case &items[i] == r.Newest:
		case items[i].ModTime.Before(cutoff):
			r.Deleted = append(r.Deleted, items[i])
		default:
			r.Kept = append(r.Kept, items[i])
		}
	}
	if r.Newest == nil && len(r.Deleted) > 0 {
		r.Refused = fmt.Sprintf("Refused: %s holds no complete dump (%s) and prune never leaves none, so nothing was deleted; "+
			"take a backup with `backup create` first.", b.Dir, bkBrokenCount(items))
		r.Deleted, r.Kept = nil, items
		return r, nil
	}
	if dryRun {
		return r, nil
	}
	removed := r.Leftovers[:0:0]
	for _, t := range r.Leftovers {
		ok, err := backups.RemoveTemp(t, b.now())
		if err != nil {
			r.Leftovers = removed
			return r, err
		}
		if ok {
			removed = append(removed, t)
		} else {
			r.Running = append(r.Running, t) // a dump took it meanwhile
		}
	}
	r.Leftovers = removed
	deleted := r.Deleted[:0:0]
	defer func() {
		if len(deleted) > 0 || len(r.Leftovers) > 0 {
			bkSyncDir(b.Dir)
		}
	}()
	for _, d := range r.Deleted {
		if err := os.Remove(d.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.Deleted = deleted
			return r, fmt.Errorf("delete %s: %w", d.Name, err)
		}
		deleted = append(deleted, d)
	}
	r.Deleted = deleted
	return r, nil
}

// bkBrokenCount says how many files there are and that they are broken.
func bkBrokenCount(items []PruneItem) string {
	switch len(items) {
	case 0:
		return "no backup files at all"
	case 1:
		return fmt.Sprintf("its one backup file, %s, is %s", items[0].Name, items[0].brokenKind())
	}
	return fmt.Sprintf("all %d backup files in it are broken", len(items))
}

// pruneNotes are the sentences of a prune's message that say what is kept
// and why, which files are broken and what becomes of them, and the
// temporary files of interrupted and running dumps.
func pruneNotes(r PruneResult, dryRun bool) []string {
	var notes []string
	if r.Refused != "" {
		notes = append(notes, r.Refused)
	}
	if n := r.Newest; n != nil {
		notes = append(notes, fmt.Sprintf("kept: %s — the newest complete dump (%s, %s, %s old), kept whatever its age.",
			n.Name, n.Format, bkSize(n.Size), human(r.age(n.ModTime))))
	}
	remove := "to delete"
	if !dryRun {
		remove = "deleted"
	}
	brokenDeleted, brokenKept := r.Broken()
	for _, d := range brokenDeleted {
		notes = append(notes, fmt.Sprintf("broken: %s — %s; %s (older than %s), never counted as a dump.", d.Name, d.brokenKind(), remove, human(r.Older)))
	}
	for _, k := range brokenKept {
		what := fmt.Sprintf("kept while younger than %s, then deleted by prune; never counted as a dump.", human(r.Older))
		if r.Refused != "" {
			what = "nothing was deleted."
		}
		notes = append(notes, fmt.Sprintf("broken: %s — %s; %s", k.Name, k.brokenKind(), what))
	}
	if young := len(r.Kept) - len(brokenKept); young > 0 && r.Refused == "" {
		notes = append(notes, fmt.Sprintf("kept: %d more complete %s younger than %s.", young, bkPlural(young, "dump", "dumps"), human(r.Older)))
	}
	for _, t := range r.Leftovers {
		what := strings.Replace(remove, "delete", "remove", 1)
		if r.Refused != "" {
			what = "left as it is"
		}
		notes = append(notes, fmt.Sprintf("leftover: %s — a temporary file from an interrupted dump, %s, %s old; %s.", t.Name, bkSize(t.Size), human(r.age(t.ModTime)), what))
	}
	if n := len(r.Running); n > 0 {
		notes = append(notes, fmt.Sprintf("left alone: %d %s (temporary %s, %s so far).",
			n, bkPlural(n, "dump in progress", "dumps in progress"), bkPlural(n, "file", "files"), bkSize(bkTempSize(r.Running))))
	}
	return notes
}

func (r PruneResult) age(t time.Time) time.Duration { return r.Now.Sub(t) }

func bkTempSize(ts []backups.Temp) int64 {
	var n int64
	for _, t := range ts {
		n += t.Size
	}
	return n
}

func bkPlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// bkSize is the one size format of the backup and cleanup commands:
// powers of 1024 rounded up as `df -h` does, always with a unit — 4 B,
// 3.0 KB, 12 MB.
func bkSize(n int64) string {
	if n < 0 {
		n = 0
	}
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	h := host.HumanBytes(uint64(n))
	return h[:len(h)-1] + " " + h[len(h)-1:] + "B"
}

// Commands returns backup create, list, verify, prune and restore.
func (b *Backups) Commands() []bot.Command {
	return []bot.Command{b.createCommand(), b.listCommand(), b.verifyCommand(), b.pruneCommand(), b.restoreCommand()}
}

func bkObj(o string) func(bot.Args) string { return func(bot.Args) string { return o } }

func (b *Backups) createCommand() bot.Command {
	return bot.Command{
		Name:    "backup create",
		Summary: "pg_dump the ShiftWise database into the backup directory",
		Help: "The runbook's `docker-compose exec postgres pg_dump -U shiftwise shiftwise > backup.sql`: pg_dump runs inside the " +
			"postgres container and its output streams into SHIFTWISE_BACKUP_DIR as a hidden temporary file, fsynced, checked " +
			"(pg_dump's header and its `dump complete` line) and renamed to shiftwise_YYYYMMDD_HHMMSS.sql. A failed dump leaves no file.",
		Object: bkObj("backup:create"), Level: bot.Level1, Risk: bot.Changes, Timeout: backupCreateTimeout,
		Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			start := b.now()
			bk, err := b.Create(ctx)
			if err != nil {
				return bot.Message{Title: "Backup failed", Status: bot.StatusFailed, Text: err.Error()}, nil
			}
			d := b.now().Sub(start)
			return bot.Message{
				Title: "Backup created", Status: bot.StatusOK,
				Fields: []bot.Field{
					{Name: "File", Value: bk.Name},
					{Name: "Size", Value: host.HumanBytes(uint64(bk.Size))},
					{Name: "Took", Value: ms(d)},
					{Name: "Rate", Value: bkRate(bk.Size, d)},
					{Name: "Directory", Value: b.Dir},
				},
				Summary: fmt.Sprintf("Backup: %s, %s in %s", bk.Name, host.HumanBytes(uint64(bk.Size)), ms(d)),
			}, nil
		},
	}
}

func bkRate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return host.HumanBytes(uint64(float64(n)/d.Seconds())) + "/s"
}

func (b *Backups) listCommand() bot.Command {
	return bot.Command{
		Name:    "backup list",
		Summary: "the backups, newest first; --older shows what prune would delete",
		Usage:   "[--older 30d]",
		Help: "Lists SHIFTWISE_BACKUP_DIR (the runbook's `ls -la ./backups/`): name, size, age, format, and whether the file is a " +
			"complete dump (non-empty, pg_dump's header and completion line, a gzip stream read to its end), naming the newest " +
			"complete one, which prune always keeps. Hidden temporary files of dumps in progress, and those left by a dump that " +
			"was killed (which cleanup and prune remove), are counted. With --older, marks the backups `backup prune --older` " +
			"would delete.",
		Flags:  []bot.Flag{{Name: "older", Kind: bot.FlagDuration, Usage: "mark backups older than this", MinDuration: minPruneAge, MaxDuration: maxPruneAge}},
		Object: bkObj("backup:list"), Level: bot.Level1, Risk: bot.ReadOnly, Timeout: time.Minute,
		Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			older := 30 * 24 * time.Hour
			if req.Args.Has("older") {
				older = req.Args.Duration("older")
			}
			r, err := b.Prune(ctx, older, true)
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return bot.Message{Title: "Backups", Status: bot.StatusWarn, Text: fmt.Sprintf("The backup directory %s does not exist yet; `backup create` makes it.", b.Dir)}, nil
				}
				return bot.Message{}, err
			}
			m := bot.Message{Title: fmt.Sprintf("Backups in %s", b.Dir), Status: bot.StatusOK}
			doomed := map[string]bool{}
			var marked int64
			if req.Args.Has("older") {
				for _, d := range r.Deleted {
					doomed[d.Name] = true
					marked += d.Size
				}
			}
			all := append(append([]PruneItem{}, r.Deleted...), r.Kept...)
			if r.Newest != nil {
				all = append(all, *r.Newest)
			}
			sort.SliceStable(all, func(i, j int) bool {
				if !all[i].ModTime.Equal(all[j].ModTime) {
					return all[i].ModTime.After(all[j].ModTime)
				}
				return all[i].Name > all[j].Name
			})
			var total int64
			for _, it := range all {
				total += it.Size
				status, value := bot.StatusOK, fmt.Sprintf("%s, %s old, %s", bkSize(it.Size), human(b.now().Sub(it.ModTime)), it.Format)
				if it.Problem != nil {
					status, value = bot.StatusFailed, value+"; broken: "+it.brokenKind()
				}
				if r.Newest != nil && it.Name == r.Newest.Name {
					value += "; the newest complete dump (prune keeps it)"
				}
				if doomed[it.Name] {
					value += "; prune deletes it"
				}
				m.Checks = append(m.Checks, bot.Check{Name: it.Name, Status: status, Value: value})
			}
			if len(r.Leftovers) > 0 {
				n := len(r.Leftovers)
				m.Checks = append(m.Checks, bot.Check{Name: "temporary files", Status: bot.StatusWarn,
					Value: fmt.Sprintf("%d leftover temporary %s from %s, %s, will be removed by cleanup (or backup prune): %s",
						n, bkPlural(n, "file", "files"), bkPlural(n, "an interrupted dump", "interrupted dumps"), bkSize(bkTempSize(r.Leftovers)), bkTempNames(r.Leftovers))})
			}
			if n := len(r.Running); n > 0 {
				m.Checks = append(m.Checks, bot.Check{Name: "temporary files", Status: bot.StatusOK,
					Value: fmt.Sprintf("%d %s (temporary %s, %s so far): %s", n, bkPlural(n, "dump in progress", "dumps in progress"),
						bkPlural(n, "file", "files"), bkSize(bkTempSize(r.Running)), bkTempNames(r.Running))})
			}
			if len(all) == 0 {
				m.Status = bot.StatusWarn
				m.Text = "No backups yet: `backup create` takes one."
				return m, nil
			}
			if bd, bk := r.Broken(); len(bd)+len(bk) > 0 {
				m.Status = bot.StatusWarn
			}
			if r.Newest == nil {
				m.Status = bot.StatusFailed
				m.Text = fmt.Sprintf("There is no complete dump in %s: take one with `backup create`.", b.Dir)
			}
			m.Summary = fmt.Sprintf("%d backups, %s", len(all), bkSize(total))
			if req.Args.Has("older") {
				if r.Refused != "" {
					m.Summary += "; " + r.Refused
				} else {
					m.Summary += fmt.Sprintf("; `backup prune --older %s` would delete %d (%s)", req.Args.String("older"), len(doomed), bkSize(marked))
				}
			}
			return m, nil
		},
	}
}

// bkTempNames lists temporary files by name, the first few.
func bkTempNames(ts []backups.Temp) string {
	var names []string
	for i, t := range ts {
		if i == 3 {
			names = append(names, fmt.Sprintf("and %d more", len(ts)-3))
			break
		}
		names = append(names, t.Name)
	}
	return strings.Join(names, ", ")
}

func (b *Backups) verifyCommand() bot.Command {
	return bot.Command{
		Name:    "backup verify",
		Summary: "test-restore a backup into a throwaway database and count what came back",
		Usage:   "<file>",
		Help: "The runbook's Backup Verification. `pg_restore --list` cannot read the plain .sql dumps the runbook restores with psql, " +
			"so this does the runbook's \"test restore on staging\" instead: inside the postgres container it creates a throwaway " +
			"database (named by the bot), restores the file into it with the container's psql in one transaction (pg_dump 15.14+ " +
			"writes \\restrict lines only psql reads), counts every table's rows and compares them with the dump's COPY blocks, then " +
			"drops the database. Custom archives (.dump, pg_dump -Fc) are restored with the container's pg_restore instead and " +
			"their rows counted. <file> is a name from `backup list`.",
		MinArgs: 1, MaxArgs: 1,
		Object: bkObj("backup:verify"), Level: bot.Level1, Risk: bot.Changes, Timeout: backupVerifyTimeout,
		Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			bk, err := b.Lookup(req.Args.First())
			if err != nil {
				return bot.Message{}, err
			}
			v, err := b.Verify(ctx, bk)
			if err != nil {
				return bot.Message{Title: "Backup verification failed: " + bk.Name, Status: bot.StatusFailed, Text: err.Error(),
					Summary: "Verify: FAILED"}, nil
			}
			m := bot.Message{Title: "Backup verified: " + bk.Name, Status: bot.StatusOK,
				Fields: []bot.Field{
					{Name: "Restored into", Value: v.Database + " (dropped)"},
					{Name: "Tables", Value: strconv.Itoa(len(v.Tables))},
					{Name: "Rows", Value: strconv.FormatInt(v.Rows, 10)},
					{Name: "Took", Value: ms(v.Duration)},
				},
			}
			for _, t := range v.Tables {
				c := bot.Check{Name: t.Table, Status: bot.StatusOK, Value: fmt.Sprintf("%d rows", t.Rows)}
				if w, ok := v.Expected[t.Table]; ok {
					c.Threshold = fmt.Sprintf("%d in the dump", w)
					if w != t.Rows {
						c.Status = bot.StatusFailed
					}
				}
				m.Checks = append(m.Checks, c)
			}
			m.Summary = fmt.Sprintf("Verify: PASSED (%d tables, %d rows, as in the dump)", len(v.Tables), v.Rows)
			if v.Expected == nil {
				m.Summary = fmt.Sprintf("Verify: PASSED (%d tables, %d rows restored; a custom archive states no row counts to compare)", len(v.Tables), v.Rows)
			}
			switch {
			case len(v.Mismatch) > 0:
				m.Status = bot.StatusFailed
				m.Text = "The restored copy differs from the dump: " + strings.Join(v.Mismatch, "; ")
				m.Summary = "Verify: FAILED"
			case len(v.Tables) == 0:
				m.Status = bot.StatusWarn
				m.Text = "The dump restored without error but holds no tables."
				m.Summary = "Verify: WARN (no tables)"
			}
			return m, nil
		},
	}
}

// minPruneAge refuses a prune that would delete today's backups.
const minPruneAge = 24 * time.Hour

// maxPruneAge bounds the ages prune and cleanup take: ten years.
const maxPruneAge = 3650 * 24 * time.Hour

func (b *Backups) pruneCommand() bot.Command {
	return bot.Command{
		Name:    "backup prune",
		Summary: "delete backups older than --older (default 30d), never the newest complete dump",
		Usage:   "[--older 30d]",
		Help: "The runbook's `find ./backups -name \"*.sql\" -mtime +30 -delete`, for every backup file of the listing, but never the " +
			"newest complete dump (non-empty, pg_dump's header and completion line, a gzip stream read to its end), whatever its age, " +
			"so that a real dump always remains. A broken file (empty, truncated, not a dump) never counts as that newest one: it is " +
			"named as broken, kept while younger than --older and deleted like any other file once older. A prune that would leave " +
			"no complete dump is refused and deletes nothing. Hidden temporary files of dumps that were killed " +
			"(.shiftwise_*.sql.*.tmp that no running dump holds) are removed too. The approval request lists exactly the files it " +
			"will delete and names the file kept and why (so does `backup list --older 30d`); the reply names every file deleted " +
			"and the space freed. --older must be at least 1d.",
		Flags:  []bot.Flag{{Name: "older", Kind: bot.FlagDuration, Default: "30d", Usage: "age of the backups to delete", MinDuration: minPruneAge, MaxDuration: maxPruneAge}},
		Object: bkObj("backup:prune"), Level: bot.Level2, Approval: true, Risk: bot.Destructive, Timeout: 2 * time.Minute,
		Preview: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			return b.prune(ctx, req, true)
		},
		Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			return b.prune(ctx, req, false)
		},
	}
}

// prune runs or previews `backup prune`. A refused preview is a usage
// error: nobody is asked to approve what would not run.
func (b *Backups) prune(ctx context.Context, req bot.Request, dryRun bool) (bot.Message, error) {
	older := req.Args.Duration("older")
	if older < minPruneAge {
		return bot.Message{}, &bot.UsageError{Msg: "--older must be at least 1d: prune keeps today's backups."}
	}
	r, err := b.Prune(ctx, older, dryRun)
	if dryRun && err != nil {
		return bot.Message{}, err
	}
	if dryRun && r.Refused != "" {
		return bot.Message{}, &bot.UsageError{Msg: r.Refused}
	}
	return backupPruneMessage(r, dryRun, err), nil
}

func backupPruneMessage(r PruneResult, dryRun bool, err error) bot.Message {
	m := bot.Message{Title: "Backup prune", Status: bot.StatusOK}
	verb, done, removeVerb := "deleted", "Deleted", "removed"
	if dryRun {
		verb, done, removeVerb = "to delete", "Would delete", "to remove"
	}
	var freed int64
	for _, d := range r.Deleted {
		freed += d.Size
		value := fmt.Sprintf("%s, %s, from %s", verb, bkSize(d.Size), d.ModTime.UTC().Format("2006-01-02 15:04 UTC"))
		status := bot.StatusOK
		if d.Problem != nil {
			value += "; broken: " + d.brokenKind()
			status = bot.StatusWarn
		}
		m.Checks = append(m.Checks, bot.Check{Name: d.Name, Status: status, Value: value})
	}
	for _, t := range r.Leftovers {
		if r.Refused != "" {
			break
		}
		freed += t.Size
		m.Checks = append(m.Checks, bot.Check{Name: t.Name, Status: bot.StatusOK,
			Value: fmt.Sprintf("%s, %s; leftover temporary file from an interrupted dump", removeVerb, bkSize(t.Size))})
	}
	m.Text = strings.Join(pruneNotes(r, dryRun), "\n")
	kept := len(r.Kept)
	if r.Newest != nil {
		kept++
	}
	m.Summary = fmt.Sprintf("%s %d backups older than %s", done, len(r.Deleted), human(r.Older))
	if n := len(r.Leftovers); n > 0 && r.Refused == "" {
		m.Summary += fmt.Sprintf(" and %d leftover temporary %s", n, bkPlural(n, "file", "files"))
	}
	m.Summary += fmt.Sprintf(" (%s); %d kept", bkSize(freed), kept)
	if r.Newest != nil {
		m.Summary += ", the newest complete dump " + r.Newest.Name + " among them"
	}
	switch {
	case r.Refused != "":
		m.Status = bot.StatusFailed
		m.Summary = "Backup prune: refused, nothing deleted"
	case err != nil:
		m.Status = bot.StatusFailed
		m.Text = strings.TrimSpace(m.Text + "\n" + err.Error())
	case r.Newest == nil:
		m.Status = bot.StatusWarn
		m.Text = strings.TrimSpace(fmt.Sprintf("There is no complete dump in %s: take one with `backup create`.\n", r.Dir) + m.Text)
	}
	return m
}

func (b *Backups) restoreCommand() bot.Command {
	return bot.Command{
		Name:    "backup restore",
		Summary: "replace the ShiftWise database with a backup (safety backup first, health after)",
		Usage:   "<file>",
		Help: "The runbook's Database Corruption procedure: first a safety backup of the current state (shiftwise_pre_restore_…sql; " +
			"if it fails nothing happens), then the file is restored with the container's psql, in one transaction, into a new database; " +
			"only when that succeeded and its row counts match the dump does the operated database stop taking connections, its " +
			"sessions end, and the restored copy take its name (the replaced one is then dropped). Then health runs. <file> is a name " +
			"from `backup list`. The API reconnects on its own; run `restart api` if it does not.",
		MinArgs: 1, MaxArgs: 1,
		Object: bkObj("backup:restore"), Level: bot.Level3, Approval: true, Risk: bot.Destructive, Timeout: backupRestoreTimeout,
		Preview: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			bk, err := b.Lookup(req.Args.First())
			if err != nil {
				return bot.Message{}, err
			}
			if err := backups.Inspect(bk); err != nil {
				return bot.Message{}, &bot.UsageError{Msg: strings.TrimPrefix(err.Error(), "backup "+bk.Path+": ") + ": not a backup to restore."}
			}
			return bot.Message{
				Text: fmt.Sprintf("It replaces the whole %s database with %s (%s, taken %s, %s ago). A safety backup of the current "+
					"state is taken first; sessions on %s are ended during the swap; health runs afterwards.",
					b.database(), bk.Name, host.HumanBytes(uint64(bk.Size)), bk.ModTime.UTC().Format("2006-01-02 15:04 UTC"),
					human(b.now().Sub(bk.ModTime)), b.database()),
			}, nil
		},
		Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			bk, err := b.Lookup(req.Args.First())
			if err != nil {
				return bot.Message{}, err
			}
			r, err := b.Restore(ctx, bk)
			m := bot.Message{Title: "Restore of " + bk.Name}
			if r.Safety.Name != "" {
				m.Fields = append(m.Fields, bot.Field{Name: "Safety backup", Value: fmt.Sprintf("%s (%s)", r.Safety.Name, host.HumanBytes(uint64(r.Safety.Size)))})
			}
			if err != nil {
				m.Status, m.Text, m.Summary = bot.StatusFailed, err.Error(), "Restore: FAILED"
				return m, nil
			}
			m.Status = bot.StatusOK
			m.Fields = append(m.Fields,
				bot.Field{Name: "Database", Value: b.database()},
				bot.Field{Name: "Tables", Value: strconv.Itoa(len(r.Tables))},
				bot.Field{Name: "Rows", Value: strconv.FormatInt(r.Rows, 10)},
				bot.Field{Name: "Took", Value: ms(r.Duration)})
			m.Summary = fmt.Sprintf("Restore: DONE (%d tables, %d rows)", len(r.Tables), r.Rows)
			if len(r.Mismatch) > 0 {
				m.Status = bot.StatusWarn
				m.Text = strings.Join(r.Mismatch, "; ")
			}
			if r.Health != nil {
				m.Checks = r.Health.Checks
				m.Status = bot.Worst(m.Status, r.Health.Status)
				m.Summary += "; " + r.Health.Summary
			}
			return m, nil
		},
	}
}

// bkFirstLines returns the first n non-empty lines of s, joined.
func bkFirstLines(s string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
			if len(out) == n {
				break
			}
		}
	}
	if len(out) == 0 {
		return "(no message)"
	}
	return clipMiddle(strings.Join(out, " / "), 600)
}

// bkReportEvery reports msg() as progress every interval until stop.
func bkReportEvery(ctx context.Context, every time.Duration, msg func() bot.Message) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				bot.Report(ctx, msg())
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

type bkProgressWriter struct {
	w io.Writer
	n atomic.Int64
}

func (p *bkProgressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n.Add(int64(n))
	return n, err
}

type bkProgressReader struct {
	r io.Reader
	n atomic.Int64
}

func (p *bkProgressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n.Add(int64(n))
	return n, err
}

// bkLimitWriter keeps at most n bytes and drops the rest silently.
type bkLimitWriter struct {
	w io.Writer
	n int
}

func (l *bkLimitWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// copyCounter counts the data rows of a plain dump's COPY blocks per
// table while the dump streams past, holding only a line's first bytes.
type copyCounter struct {
	rows  map[string]int64
	line  []byte // the current line's start, up to 512 bytes
	table string // inside a COPY block of this table
}

func (c *copyCounter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := 512 - len(c.line); room > 0 {
			c.line = append(c.line, chunk[:min(room, len(chunk))]...)
		}
		if i < 0 {
			break
		}
		c.endLine()
		p = p[i+1:]
	}
	return n, nil
}

func (c *copyCounter) endLine() {
	line := c.line
	c.line = c.line[:0]
	if c.table != "" {
		if string(line) == `\.` {
			c.table = ""
			return
		}
		c.rows[c.table]++
		return
	}
	if bytes.HasPrefix(line, []byte("COPY ")) && bytes.HasSuffix(line, []byte(" FROM stdin;")) {
		c.table = copyTable(string(line[len("COPY "):]))
		c.rows[c.table] += 0
	}
}

// copyTable reads the qualified table name at the start of a COPY
// statement's rest (`public."Odd Name" (a, b) FROM stdin;`) as PostgreSQL
// names it unquoted: public.Odd Name.
func copyTable(s string) string {
	var parts []string
	for {
		var part strings.Builder
		if strings.HasPrefix(s, `"`) {
			s = s[1:]
			for len(s) > 0 {
				if s[0] == '"' {
					if strings.HasPrefix(s, `""`) {
						part.WriteByte('"')
						s = s[2:]
						continue
					}
					s = s[1:]
					break
				}
				part.WriteByte(s[0])
				s = s[1:]
			}
		} else {
			i := strings.IndexAny(s, ". (")
			if i < 0 {
				i = len(s)
			}
			part.WriteString(s[:i])
			s = s[i:]
		}
		parts = append(parts, part.String())
		if !strings.HasPrefix(s, ".") {
			return strings.Join(parts, ".")
		}
		s = s[1:]
	}
}

func (c *copyCounter) flush() {
	if len(c.line) > 0 {
		c.endLine()
	}
}
