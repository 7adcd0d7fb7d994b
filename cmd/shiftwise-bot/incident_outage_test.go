package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shiftwise/shiftwise-bot/internal/spool"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

const pgBin = "/usr/lib/postgresql/15/bin"

// throwawayPG is a PostgreSQL cluster of the test's own, in a temporary
// directory on a free loopback port: one the test may stop and start
// (never the shared host PostgreSQL). It runs as the postgres user.
type throwawayPG struct {
	t       *testing.T
	dir     string
	port    int
	running bool
}

func newThrowawayPG(t *testing.T) *throwawayPG {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pgBin, "pg_ctl")); err != nil || os.Geteuid() != 0 {
		testenv.Missing(t, "PostgreSQL 15 server binaries and root (to run them as postgres)", err)
		return nil
	}
	dir, err := os.MkdirTemp("", "shiftwise-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "postgres:postgres", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pg := &throwawayPG{t: t, dir: dir, port: l.Addr().(*net.TCPAddr).Port}
	l.Close()
	pg.run(filepath.Join(pgBin, "initdb"), "-D", pg.data(), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	pg.start()
	t.Cleanup(pg.stop)
	return pg
}

func (pg *throwawayPG) data() string { return filepath.Join(pg.dir, "data") }

func (pg *throwawayPG) run(args ...string) {
	pg.t.Helper()
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
	cmd.Dir = pg.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		pg.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (pg *throwawayPG) start() {
	pg.t.Helper()
	pg.run(filepath.Join(pgBin, "pg_ctl"), "-D", pg.data(), "-l", filepath.Join(pg.dir, "log"), "-w", "-t", "60", "start",
		"-o", fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c max_connections=30", pg.port, pg.dir))
	pg.running = true
}

func (pg *throwawayPG) stop() {
	if !pg.running {
		return
	}
	pg.run(filepath.Join(pgBin, "pg_ctl"), "-D", pg.data(), "-m", "fast", "-w", "-t", "60", "stop")
	pg.running = false
}

func (pg *throwawayPG) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
}

// botProcess is the real binary at the console, fed through a pipe.
type botProcess struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	mu  sync.Mutex
	out bytes.Buffer
}

func (b *botProcess) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.Write(p)
}

func (b *botProcess) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

func startBot(t *testing.T, bin string, env []string) *botProcess {
	t.Helper()
	b := &botProcess{cmd: exec.Command(bin, "-user", "alice")}
	b.cmd.Env = env
	b.cmd.Stdout, b.cmd.Stderr = b, b
	in, err := b.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	b.in = in
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b.cmd.ProcessState == nil {
			_ = b.cmd.Process.Kill()
			_ = b.cmd.Wait()
		}
	})
	return b
}

// send types a line and waits until the output shows want n times.
func (b *botProcess) send(t *testing.T, line, want string, n int) {
	t.Helper()
	if _, err := io.WriteString(b.in, line+"\n"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if strings.Count(b.output(), want) >= n {
			return
		}
	}
	t.Fatalf("after %q the output never showed %q %d times:\n%s", line, want, n, b.output())
}

// TestIncidentSurvivesTheBotDatabaseAndAKill is the outage: the
// bot's own PostgreSQL stops mid-incident, commands go on, the bot is
// killed with SIGKILL; PostgreSQL and the bot come back, and the timeline
// is complete, each entry once, in order.
func TestIncidentSurvivesTheBotDatabaseAndAKill(t *testing.T) {
	pg := newThrowawayPG(t)
	bin := filepath.Join(t.TempDir(), "shiftwise-bot")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dataDir := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"SHIFTWISE_DATABASE_URL=" + pg.url(), "SHIFTWISE_DATA_DIR=" + dataDir, "SHIFTWISE_LOG_LEVEL=error",
		"SHIFTWISE_TARGET_DB_URL=postgres://nobody@" + testenv.RefusedAddr(t) + "/none"}

	bot := startBot(t, bin, env)
	bot.send(t, `incident start sev2 "bot database outage"`, "INC-1 opened", 1)
	bot.send(t, "whoami", "· whoami ·", 1)

	pg.stop()
	bot.send(t, "policy show", "· policy show ·", 1)
	bot.send(t, "whoami", "· whoami ·", 2)
	bot.send(t, "policy show", "· policy show ·", 2)
	note := bot.output()
	if err := bot.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = bot.cmd.Wait()
	// What the database could not take is on disk.
	sp, err := spool.Open(filepath.Join(dataDir, "timeline-spool"))
	if err != nil {
		t.Fatal(err)
	}
	if n := sp.Len(); n != 3 {
		t.Errorf("the killed bot left %d entries in the spool, want 3", n)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}

	pg.start()
	bot = startBot(t, bin, env)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var whats []string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		whats = timelineOf(ctx, t, pg.url())
		if len(whats) >= 5 {
			break
		}
	}
	want := []string{"incident start sev2 bot database outage", "whoami", "policy show", "whoami", "policy show"}
	if strings.Join(whats, " | ") != strings.Join(want, " | ") {
		t.Errorf("timeline after the outage:\n got %q\nwant %q\n(before the kill:\n%s)", whats, want, note)
	}
	bot.send(t, "incident timeline", "Page 1 of 1", 1)
	if err := bot.in.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bot.cmd.Wait(); err != nil {
		t.Fatalf("bot exit: %v\n%s", err, bot.output())
	}
	sp, err = spool.Open(filepath.Join(dataDir, "timeline-spool"))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if sp.Len() != 0 {
		t.Errorf("%d entries left in the spool", sp.Len())
	}
	// Nothing written twice, however often it was offered.
	if again := timelineOf(ctx, t, pg.url()); len(again) != len(want) {
		t.Errorf("timeline grew to %q", again)
	}
}

func timelineOf(ctx context.Context, t *testing.T, url string) []string {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT what FROM incident_timeline ORDER BY at, seq`)
	if err != nil {
		return nil
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}
