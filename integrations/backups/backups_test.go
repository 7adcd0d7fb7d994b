package backups_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/integrations/backups"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

func write(t *testing.T, path string, data []byte, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func names(list []backups.Backup) []string {
	var out []string
	for _, b := range list {
		out = append(out, b.Name)
	}
	return out
}

func TestListNewestFirstOnlyBackups(t *testing.T) {
	dir := t.TempDir()
	base := time.Date(2024, 3, 1, 2, 0, 0, 0, time.UTC)
	body := []byte("x")
	write(t, filepath.Join(dir, "shiftwise_20240301.sql"), body, base)
	write(t, filepath.Join(dir, "shiftwise_20240303.sql.gz"), body, base.Add(48*time.Hour))
	write(t, filepath.Join(dir, "maintenance_20240302.dump"), body, base.Add(24*time.Hour))
	write(t, filepath.Join(dir, "OLD.SQL"), body, base.Add(-24*time.Hour))
	// Not backups, however new.
	newer := base.Add(72 * time.Hour)
	for _, name := range []string{
		"shiftwise_20240304.sql.tmp", "shiftwise_20240304.sql.partial", ".shiftwise_20240304.sql",
		".sql", "notes.txt", "shiftwise.sql.bak",
	} {
		write(t, filepath.Join(dir, name), body, newer)
	}
	if err := os.Mkdir(filepath.Join(dir, "archive.sql"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A link to a listed dump is not a second backup; a link to one kept
	// elsewhere is; a dangling link is nothing.
	if err := os.Symlink("shiftwise_20240301.sql", filepath.Join(dir, "latest_backup.sql")); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "offsite.sql")
	write(t, elsewhere, body, base.Add(36*time.Hour))
	if err := os.Symlink(elsewhere, filepath.Join(dir, "offsite.sql")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "gone.sql"), filepath.Join(dir, "dangling.sql")); err != nil {
		t.Fatal(err)
	}

	list, err := backups.List(dir)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := []string{"shiftwise_20240303.sql.gz", "offsite.sql", "maintenance_20240302.dump", "shiftwise_20240301.sql", "OLD.SQL"}
	if got := names(list); !reflect.DeepEqual(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	first := list[0]
	if first.Path != filepath.Join(dir, first.Name) || first.Size != 1 || !first.ModTime.Equal(base.Add(48*time.Hour)) {
		t.Fatalf("List[0] = %+v", first)
	}

	latest, err := backups.Latest(dir)
	if err != nil || latest.Name != "shiftwise_20240303.sql.gz" {
		t.Fatalf("Latest = %+v, %v", latest, err)
	}
	// Touching an older dump makes it the newest.
	if err := os.Chtimes(filepath.Join(dir, "OLD.SQL"), newer, newer); err != nil {
		t.Fatal(err)
	}
	if latest, err := backups.Latest(dir); err != nil || latest.Name != "OLD.SQL" {
		t.Fatalf("Latest after touching OLD.SQL = %+v, %v", latest, err)
	}
}

func TestLatestNoBackup(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "dump.sql.tmp"), []byte("x"), time.Now())
	_, err := backups.Latest(dir)
	if !errors.Is(err, backups.ErrNoBackup) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Latest of a directory without backups = %v, want ErrNoBackup naming it", err)
	}
}

func TestMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backups")
	for name, f := range map[string]func() error{
		"List":   func() error { _, err := backups.List(dir); return err },
		"Latest": func() error { _, err := backups.Latest(dir); return err },
	} {
		err := f()
		if err == nil || errors.Is(err, backups.ErrNoBackup) || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s(missing dir) = %v, want a not-exist error naming %s", name, err, dir)
		}
	}
}

// realDumps makes a throwaway database on the host PostgreSQL, fills it,
// and dumps it with pg_dump in plain and custom format, once per test run.
var realDumps = struct {
	sync.Once
	plain, custom []byte
	err           error
	missing       string
}{}

func dumps(t *testing.T) (plain, custom []byte) {
	t.Helper()
	for _, tool := range []string{"psql", "pg_dump"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, tool, err)
		}
	}
	dbURL := testenv.BotDB(t)
	realDumps.Do(func() { realDumps.plain, realDumps.custom, realDumps.err = makeDumps(dbURL) })
	if realDumps.err != nil {
		t.Fatal(realDumps.err)
	}
	return realDumps.plain, realDumps.custom
}

func makeDumps(dbURL string) (plain, custom []byte, err error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return nil, nil, err
	}
	name := fmt.Sprintf("shiftwise_backups_test_%d", time.Now().UnixNano())
	run := func(cmd string, args ...string) ([]byte, error) {
		var stderr bytes.Buffer
		c := exec.Command(cmd, args...)
		c.Stderr = &stderr
		c.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10")
		out, err := c.Output()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %v: %s", cmd, args[len(args)-1], err, stderr.String())
		}
		return out, nil
	}
	if _, err := run("psql", "-v", "ON_ERROR_STOP=1", "-d", dbURL, "-c", "CREATE DATABASE "+name); err != nil {
		return nil, nil, err
	}
	defer run("psql", "-d", dbURL, "-c", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	u.Path = "/" + name
	db := u.String()
	if _, err := run("psql", "-v", "ON_ERROR_STOP=1", "-d", db, "-c",
		`CREATE TABLE shifts (id serial PRIMARY KEY, worker text NOT NULL, starts timestamptz NOT NULL);
		 INSERT INTO shifts (worker, starts) SELECT 'worker ' || i, now() + i * interval '8 hours' FROM generate_series(1, 500) i;`); err != nil {
		return nil, nil, err
	}
	if plain, err = run("pg_dump", "-d", db); err != nil {
		return nil, nil, err
	}
	if custom, err = run("pg_dump", "-Fc", "-d", db); err != nil {
		return nil, nil, err
	}
	return plain, custom, nil
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func only(t *testing.T, dir string) backups.Backup {
	t.Helper()
	b, err := backups.Latest(dir)
	if err != nil {
		t.Fatalf("Latest: %v", err)
	}
	return b
}

func TestInspectRealDumps(t *testing.T) {
	plain, custom := dumps(t)
	for _, tc := range []struct {
		name, format string
		data         []byte
	}{
		{"shiftwise.sql", backups.FormatPlain, plain},
		{"shiftwise.dump", backups.FormatCustom, custom},
		{"shiftwise.sql.gz", backups.FormatGzipPlain, gz(t, plain)},
		{"custom.sql.gz", backups.FormatGzipCustom, gz(t, custom)},
		// Named like a custom dump, but psql's to restore: the format is the content's.
		{"plain-named.dump", backups.FormatPlain, plain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, tc.name), tc.data, time.Now())
			b := only(t, dir)
			if b.Format != tc.format {
				t.Fatalf("Format = %q, want %q", b.Format, tc.format)
			}
			if err := backups.Inspect(b); err != nil {
				t.Fatalf("Inspect of a real dump: %v", err)
			}
		})
	}
}

func TestInspectRejects(t *testing.T) {
	plain, custom := dumps(t)
	garbage := []byte("this is not a database dump\n")
	for _, tc := range []struct {
		name  string
		data  []byte
		wants string
	}{
		{"empty.sql", nil, "empty file"},
		{"garbage.sql", garbage, "no pg_dump header"},
		{"garbage.dump", garbage, "no pg_dump header"},
		{"garbage.sql.gz", gz(t, garbage), "no pg_dump header"},
		{"empty.sql.gz", gz(t, nil), "empty file inside gzip"},
		{"cut.sql", plain[:len(plain)*2/3], "truncated"},
		{"badgzip.sql.gz", append([]byte{0x1f, 0x8b}, garbage...), "gzip"},
		{"header-only.sql", []byte("--\n-- PostgreSQL database dump\n--\n"), "truncated"},
		// A gzip cut short: its first KB decompresses fine, its end is missing.
		{"cut.sql.gz", func() []byte { g := gz(t, plain); return g[:len(g)*2/3] }(), "truncated"},
		{"cut-custom.sql.gz", func() []byte { g := gz(t, custom); return g[:len(g)-9] }(), "truncated"},
		{"cut-header.sql.gz", gz(t, plain)[:12], "truncated"},
		// A whole gzip of a dump that was already cut short.
		{"gz-of-cut.sql.gz", gz(t, plain[:len(plain)/2]), "truncated"},
		{"gz-header-only.sql.gz", gz(t, []byte("-- PostgreSQL database dump\n")), "truncated"},
		// A damaged byte in the middle fails the checksum or the stream.
		{"flipped.sql.gz", func() []byte { g := gz(t, plain); g[len(g)/2] ^= 0xff; return g }(), "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, tc.name), tc.data, time.Now())
			b := only(t, dir)
			err := backups.Inspect(b)
			if err == nil || !strings.Contains(err.Error(), tc.wants) || !strings.Contains(err.Error(), b.Path) {
				t.Fatalf("Inspect = %v, want an error naming the file and saying %q", err, tc.wants)
			}
		})
	}
}

func TestInspectMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gone.sql")
	err := backups.Inspect(backups.Backup{Path: path, Name: "gone.sql"})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Inspect of a removed file = %v", err)
	}
}

// TestInspectGzipVerdictFollowsTheFile: the remembered verdict of a gzip
// file is the file's as it is now: rewritten, it is read again.
func TestInspectGzipVerdictFollowsTheFile(t *testing.T) {
	plain, _ := dumps(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "shiftwise.sql.gz")
	whole := gz(t, plain)
	at := time.Now().Add(-time.Hour)
	write(t, path, whole, at)
	if err := backups.Inspect(only(t, dir)); err != nil {
		t.Fatalf("complete gzip: %v", err)
	}
	write(t, path, whole[:len(whole)/2], at) // same mtime, other size
	if err := backups.Inspect(only(t, dir)); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("the same file cut short: %v", err)
	}
	write(t, path, whole, at)
	if err := backups.Inspect(only(t, dir)); err != nil {
		t.Fatalf("complete again: %v", err)
	}
}

// TestTemps: a dump's temporary file is in use while its writer holds it
// open, however old its time stamp, and a leftover once closed without a
// final name; a fresh unlocked one counts as in use for TempGrace;
// RemoveTemp removes only leftovers; other names are not temporary dump
// files.
func TestTemps(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	old := now.Add(-3 * time.Hour)
	f, err := backups.CreateTemp(dir, "shiftwise", "20261205_000000")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("-- PostgreSQL database dump\n")
	if err := os.Chtimes(f.Name(), old, old); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(dir, ".shiftwise_pre_restore_20261101_000000.sql.77.tmp")
	write(t, leftover, []byte("x"), old)
	fresh := filepath.Join(dir, ".shiftwise_20261205_000001.sql.78.tmp")
	write(t, fresh, []byte("x"), now)
	for _, name := range []string{"shiftwise_20261101.sql.tmp", ".shiftwise_x.sql", ".other_20261101.sql.1.tmp", ".shiftwise_20261101.sql.1.tmp.bak"} {
		write(t, filepath.Join(dir, name), []byte("x"), old)
	}
	if err := os.Mkdir(filepath.Join(dir, ".shiftwise_dir.sql.1.tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(leftover, filepath.Join(dir, ".shiftwise_link.sql.1.tmp")); err != nil {
		t.Fatal(err)
	}

	temps, err := backups.Temps(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, tmp := range temps {
		got[filepath.Base(tmp.Path)] = tmp.InUse
	}
	want := map[string]bool{filepath.Base(f.Name()): true, filepath.Base(leftover): false, filepath.Base(fresh): true}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Temps in use = %v, want %v", got, want)
	}
	for _, tmp := range temps {
		removed, err := backups.RemoveTemp(tmp, now)
		if err != nil || removed != !tmp.InUse {
			t.Errorf("RemoveTemp(%s) = %v, %v", tmp.Name, removed, err)
		}
	}
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Error("the leftover is still there")
	}
	for _, p := range []string{f.Name(), fresh} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s in use was removed: %v", p, err)
		}
	}
	// Closed without a final name, as when its process is killed: a leftover.
	f.Close()
	temps, _ = backups.Temps(dir, now)
	for _, tmp := range temps {
		if tmp.Path == f.Name() && tmp.InUse {
			t.Error("a closed temporary file is still in use")
		}
	}
	if temps, err := backups.Temps(filepath.Join(dir, "nope"), now); err != nil || len(temps) != 0 {
		t.Errorf("Temps of a missing directory = %v, %v", temps, err)
	}
}
