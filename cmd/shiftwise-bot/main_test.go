package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

	"github.com/sirupsen/logrus"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/bot/slack/slacktest"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
	"github.com/shiftwise/shiftwise-bot/permissions"
)

// demoEnv points the bot at the demo stack, with a backup dir holding a
// real dump and host-dependent thresholds relaxed.
func demoEnv(t testing.TB) map[string]string {
	t.Helper()
	dir := t.TempDir()
	dump, err := exec.Command("pg_dump", "--dbname", testenv.TargetDB(t)).Output()
	if err != nil {
		testenv.Missing(t, "pg_dump of the demo database", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "shiftwise_now.sql"), dump, 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"SHIFTWISE_API_URL":               testenv.DemoAPI(t),
		"SHIFTWISE_FRONTEND_URL":          testenv.DemoFrontend(t),
		"SHIFTWISE_TARGET_DB_URL":         testenv.TargetDB(t),
		"SHIFTWISE_TARGET_REDIS_URL":      testenv.TargetRedis(t),
		"SHIFTWISE_COMPOSE_PROJECT":       testenv.Get("SHIFTWISE_TEST_COMPOSE_PROJECT"),
		"DOCKER_HOST":                     dockertest.Host(t),
		"SHIFTWISE_BACKUP_DIR":            dir,
		"SHIFTWISE_HEALTH_DISK_PERCENT":   "100",
		"SHIFTWISE_HEALTH_MEMORY_PERCENT": "100",
		// The shared demo stack's own logs are not this test's subject.
		"SHIFTWISE_HEALTH_MAX_ERRORS": "1000000",
	}
}

// runWith runs the bot in-process. A test that sets no SHIFTWISE_DATA_DIR
// gets a fresh one for this run alone, removed afterwards, so that no run
// writes ./data into the source tree or leaves spooled entries to the next.
func runWith(env map[string]string, stdin string, args ...string) (int, string, string) {
	return runWithCommands(nil, env, stdin, args...)
}

// runWithCommands is runWith with cmds registered after the runbook's.
func runWithCommands(cmds []bot.Command, env map[string]string, stdin string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	dataDir := env["SHIFTWISE_DATA_DIR"]
	if dataDir == "" {
		dir, err := os.MkdirTemp("", "shiftwise-bot-test-data-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		dataDir = dir
	}
	getenv := func(k string) string {
		if k == "SHIFTWISE_DATA_DIR" {
			return dataDir
		}
		return env[k]
	}
	m := &Main{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut, Commands: cmds}
	code := run(context.Background(), m, args, getenv)
	return code, out.String(), errOut.String()
}

// openMain wires the bot from env as Run does, without serving it, with
// a quiet log; it is closed when the test ends (or earlier by the test).
func openMain(tb testing.TB, ctx context.Context, env map[string]string) *Main {
	tb.Helper()
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		tb.Fatal(err)
	}
	log := logrus.New()
	log.Out = io.Discard
	m := &Main{Config: cfg, Log: log}
	if err := m.Open(ctx); err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

func TestOneShotExitCodes(t *testing.T) {
	env := demoEnv(t)

	code, out, stderr := runWith(env, "", "health")
	if code != 0 || !strings.Contains(out, "Health: PASSED") {
		t.Fatalf("health on the demo stack: exit %d\n%s%s", code, out, stderr)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	failing := copyEnv(env, "SHIFTWISE_API_URL", down)
	if code, out, _ := runWith(failing, "", "/shiftwise", "health"); code != 1 || !strings.Contains(out, "Health: FAILED (1 of") {
		t.Errorf("health with the api down: exit %d\n%s", code, out)
	}

	for _, args := range [][]string{{"helth"}, {"health", "--bogus"}, {"health", "extra"}, {"health", "--timeout", "x"}, {"rm -rf /; health"}} {
		if code, out, _ := runWith(env, "", args...); code != 2 || !strings.Contains(out, "Usage error") {
			t.Errorf("%q: exit %d, want 2\n%s", args, code, out)
		}
	}

	policy := filepath.Join(t.TempDir(), "policy.csv")
	if err := os.WriteFile(policy, []byte("g, level2, level1\ng, console:someone-else, level1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runWith(copyEnv(env, "SHIFTWISE_POLICY", policy), "", "-user", "alice", "health"); code != 3 || !strings.Contains(out, "needs Level 1") {
		t.Errorf("health without a level: exit %d, want 3\n%s", code, out)
	}
	if code, out, _ := runWith(copyEnv(env, "SHIFTWISE_POLICY", policy), "", "-user", "alice", "help"); code != 0 || !strings.Contains(out, "needs Level 1") {
		t.Errorf("help without a level: exit %d\n%s", code, out)
	}
}

func TestStartupErrorsNameTheSetting(t *testing.T) {
	cases := map[string]map[string]string{
		"SHIFTWISE_HEALTH_DISK_PERCENT": {"SHIFTWISE_HEALTH_DISK_PERCENT": "180"},
		"SHIFTWISE_HEALTH_TIMEOUT":      {"SHIFTWISE_HEALTH_TIMEOUT": "soon"},
		"SHIFTWISE_API_URL":             {"SHIFTWISE_API_URL": "ftp://x"},
		"SLACK_BOT_TOKEN":               {"SLACK_APP_TOKEN": "xapp-1"},
		"SHIFTWISE_POLICY":              {"SHIFTWISE_POLICY": "/nonexistent/policy.csv"},
		"SHIFTWISE_ROLLBACK_COMMAND":    {"SHIFTWISE_ROLLBACK_COMMAND": "/opt/deploy.sh rollback"}, // not a JSON argv
		"SHIFTWISE_ROLLBACK_TIMEOUT":    {"SHIFTWISE_ROLLBACK_TIMEOUT": "-1m"},
	}
	for name, env := range cases {
		code, _, stderr := runWith(env, "", "health")
		if code == 0 || !strings.Contains(stderr, name) {
			t.Errorf("%s: exit %d, stderr %q", name, code, stderr)
		}
	}
	if code, _, stderr := runWith(nil, "", "-user", "a;b", "health"); code != 2 || !strings.Contains(stderr, "-user") {
		t.Errorf("bad -user: exit %d %q", code, stderr)
	}
	if code, _, _ := runWith(nil, "", "-nope"); code != 2 {
		t.Errorf("unknown flag: exit %d", code)
	}
}

func TestSecretsNeverReachOutput(t *testing.T) {
	env := map[string]string{
		"SHIFTWISE_TARGET_DB_URL":    "postgres://shiftwise:Sup3rSecretPw@127.0.0.1:1/shiftwise",
		"SHIFTWISE_TARGET_REDIS_URL": "redis://:R3disSecretPw@127.0.0.1:1/0",
		"SHIFTWISE_LOG_LEVEL":        "debug",
	}
	_, out, stderr := runWith(env, "", "health", "--timeout", "500ms")
	for _, secret := range []string{"Sup3rSecretPw", "R3disSecretPw"} {
		if strings.Contains(out+stderr, secret) {
			t.Errorf("output leaks %s:\n%s\n%s", secret, out, stderr)
		}
	}
}

func TestConsoleThroughAPipe(t *testing.T) {
	env := demoEnv(t)
	bin := filepath.Join(t.TempDir(), "shiftwise-bot")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-user", "pipe-tester")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "PATH="+os.Getenv("PATH"))
	cmd.Stdin = strings.NewReader("help\n/shiftwise health\nhelth\n\"unclosed\n" + strings.Repeat("x", 100*1024) + "\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) || err != nil {
		t.Fatalf("console exit: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"Commands you may run", "Health: PASSED", `Did you mean "health"?`, "A quote is not closed", "limit is 4096", "console:pipe-tester"} {
		if !strings.Contains(out, want) {
			t.Errorf("console output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "shiftwise>") {
		t.Error("a pipe gets no prompt")
	}
}

func copyEnv(env map[string]string, k, v string) map[string]string {
	c := map[string]string{}
	for a, b := range env {
		c[a] = b
	}
	c[k] = v
	return c
}

// runSlackBot runs the bot in-process as main runs it (run with no
// arguments) in Slack mode against fake, with a data directory of its own
// and cmds registered after the runbook's, until the test ends; it must
// then stop with exit 0.
func runSlackBot(t *testing.T, env map[string]string, fake *slacktest.Server, cmds ...bot.Command) {
	t.Helper()
	env = copyEnv(env, "SLACK_APP_TOKEN", fake.AppToken())
	env["SLACK_BOT_TOKEN"], env["SLACK_API_URL"] = fake.BotToken(), fake.APIURL()
	if env["SHIFTWISE_DATA_DIR"] == "" {
		env["SHIFTWISE_DATA_DIR"] = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	stderr := &syncBuffer{}
	go func() {
		m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: stderr, Commands: cmds}
		done <- run(ctx, m, nil, func(k string) string { return env[k] })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("bot exit %d after SIGTERM-like cancel\n%s", code, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("bot did not stop")
		}
	})
	if err := fake.WaitConnected(1, 10*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
}

// TestSlackEndToEnd runs the real bot, wired as in production, against
// the Slack fake and the demo stack: `/shiftwise health` is acked in time
// and answered with a Block Kit result in the channel; a mention inside a
// thread is answered in that thread.
func TestSlackEndToEnd(t *testing.T) {
	env := demoEnv(t)
	fake := slacktest.New(t)
	policy := filepath.Join(t.TempDir(), "policy.csv")
	if err := os.WriteFile(policy, []byte(permissions.ExamplePolicy+"\ng, slack:UOPS, level1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env = copyEnv(env, "SHIFTWISE_POLICY", policy)
	runSlackBot(t, env, fake)

	envl := fake.SlashCommand(slacktest.SlashCommand{User: "UOPS", Channel: "C0OPS", Text: "health"})
	if _, err := fake.WaitAck(envl, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	msgs, err := fake.WaitMessages("C0OPS", 1, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []map[string]any
	if err := json.Unmarshal(msgs[0].Blocks, &blocks); err != nil || len(blocks) < 3 {
		t.Fatalf("result blocks: %v %s", err, msgs[0].Blocks)
	}
	if msgs[0].Ephemeral || !strings.Contains(msgs[0].Text, "Health: PASSED") {
		t.Errorf("result: %+v", msgs[0])
	}

	fake.Mention(slacktest.Mention{User: "UOPS", Channel: "C0OPS", Text: "<@" + fake.BotUserID() + "> help health", ThreadTS: msgs[0].TS})
	msgs, err = fake.WaitMessages("C0OPS", 2, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[1].ThreadTS != msgs[0].TS || !strings.Contains(string(msgs[1].Blocks), "Daily Health Check") {
		t.Errorf("mention in the thread: %+v", msgs[1])
	}
	if v := fake.Violations(); len(v) > 0 {
		t.Errorf("Slack limits violated: %q", v)
	}
}

// TestSIGHUPReloadsThePolicy runs the real binary at the console, changes
// the policy file, sends SIGHUP and sees the new level; a broken file then
// leaves the policy in force.
func TestSIGHUPReloadsThePolicy(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "shiftwise-bot")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	policy := filepath.Join(dir, "policy.csv")
	write := func(text string) {
		if err := os.WriteFile(policy, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("g, console:alice, level1\n")
	cmd := exec.Command(bin, "-user", "alice")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SHIFTWISE_POLICY=" + policy}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ask := func(want string) {
		t.Helper()
		before := out.Len()
		if _, err := io.WriteString(stdin, "whoami\n"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String()[before:], "(console:alice · whoami") {
			if time.Now().After(deadline) {
				t.Fatalf("no whoami answer:\n%s\n%s", out.String(), errOut.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := out.String()[before:]; !strings.Contains(got, want) {
			t.Errorf("whoami after reload: want %q in\n%s", want, got)
		}
	}
	ask("Level 1 (Operations)")
	write("g, console:alice, level3\n")
	hangup := func(logWant string) {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(errOut.String(), logWant) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log:\n%s", logWant, errOut.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	hangup("policy reloaded")
	ask("Level 3 (System Architects)")
	write("g, console:alice, level9\n")
	hangup("policy NOT reloaded")
	ask("Level 3 (System Architects)")
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("console exit: %v\n%s", err, errOut.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a writer process and a reader test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}
