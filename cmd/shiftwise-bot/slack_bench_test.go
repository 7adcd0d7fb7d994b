package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot/slack"
	"github.com/shiftwise/shiftwise-bot/bot/slack/slacktest"
	"github.com/shiftwise/shiftwise-bot/permissions"
)

// benchSeconds is how long each load level runs (10 s by default, as the
// issue sets; SHIFTWISE_BENCH_SECONDS shortens it for a quick look).
func benchSeconds() time.Duration {
	if n, err := strconv.Atoi(os.Getenv("SHIFTWISE_BENCH_SECONDS")); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 10 * time.Second
}

// benchSettle is how long a freshly started client may settle after it
// connected, before the load starts.
const benchSettle = time.Second

// BenchmarkSlackAck measures the time from the fake sending a slash
// command envelope to it receiving the ack, at 1, 50 and 200 commands a
// second, for the real bot binary (one command in twenty a `health` on
// the demo stack, the rest `help`) and, in the same run, for a bare
// slack-go Socket Mode client that only acks (bot/slack/slacktest/
// bareclient). Each runs in a process of its own, built here; the fake
// and the load run in this one, so neither client shares its goroutines,
// scheduler or garbage collector with the fake. Run with -benchtime 1x
// (scripts/bench.sh slack does).
func BenchmarkSlackAck(b *testing.B) {
	env := demoEnv(b)
	dir := b.TempDir()
	botBin := buildBench(b, dir, "shiftwise-bot", ".")
	bareBin := buildBench(b, dir, "bareclient", "../../bot/slack/slacktest/bareclient")
	botEnv := copyEnv(env, "SHIFTWISE_POLICY", benchPolicy(b))
	for _, rate := range []int{1, 50, 200} {
		b.Run(fmt.Sprintf("bot/rate=%d", rate), func(b *testing.B) {
			for b.Loop() {
				fake := slacktest.New(b)
				stop := startClientProcess(b, fake, botBin, botEnv)
				warmUp(b, fake)
				report(b, loadOf(fake, rate))
				stop()
			}
		})
		b.Run(fmt.Sprintf("bare/rate=%d", rate), func(b *testing.B) {
			for b.Loop() {
				fake := slacktest.New(b)
				stop := startClientProcess(b, fake, bareBin, nil)
				warmUp(b, fake)
				report(b, loadOf(fake, rate))
				stop()
			}
		})
	}
}

// warmUp sends each client, before its measured load, one envelope of
// each kind the load sends (a `health`, a `help`) and waits until they
// are acknowledged and the work they started is over, so that neither
// client's first-use costs (the first policy decision, the first pool
// connections to the stack) fall on the first measured envelope; at 1/s
// the p99 of ten envelopes is their slowest one. Nothing of the warm-up
// is counted.
func warmUp(b *testing.B, fake *slacktest.Server) {
	b.Helper()
	for _, text := range []string{"health", "help"} {
		env := fake.SlashCommand(slacktest.SlashCommand{User: "UOPS", Channel: "C0WARMUP", Text: text})
		if _, err := fake.WaitAck(env, 5*time.Second); err != nil {
			b.Fatalf("warm-up %s: %v", text, err)
		}
	}
	time.Sleep(2 * time.Second) // the warm-up health run ends well within its 5 s deadline
}

// loadOf sends slash commands at rate a second, spread over enough
// channels that each stays within Slack's one post a second, so that the
// bot runs and answers every one of them while the load lasts.
func loadOf(fake *slacktest.Server, rate int) slacktest.LoadReport {
	channels := max(20, rate)
	return fake.Load(rate, benchSeconds(), 10*time.Second, func(i int) slacktest.Envelope {
		text := "help"
		if i%20 == 0 && os.Getenv("SHIFTWISE_BENCH_NO_HEALTH") == "" {
			text = "health"
		}
		return fake.SlashCommand(slacktest.SlashCommand{User: "UOPS", Channel: fmt.Sprintf("C0LOAD%03d", i%channels), Text: text})
	})
}

func report(b *testing.B, r slacktest.LoadReport) {
	b.ReportMetric(float64(r.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(r.P99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(r.Sent-r.Acked), "unacked")
	b.ReportMetric(float64(r.SendLag.Microseconds())/1000, "sendlag-ms")
	if r.Acked != r.Sent {
		b.Errorf("%d of %d envelopes never acked", r.Sent-r.Acked, r.Sent)
	}
}

// buildBench builds the package at pkg (relative to this directory) into
// dir/name.
func buildBench(b *testing.B, dir, name, pkg string) string {
	b.Helper()
	bin := filepath.Join(dir, name)
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		b.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// benchPolicy is the example policy with the load's Slack user at Level 1.
func benchPolicy(b *testing.B) string {
	policy := filepath.Join(b.TempDir(), "policy.csv")
	if err := os.WriteFile(policy, []byte(permissions.ExamplePolicy+"\ng, slack:UOPS, level1\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	return policy
}

// startClientProcess starts bin pointed at the fake, waits until it is
// connected and has settled, and returns a function that stops it
// (SIGTERM, then SIGKILL after 30 s) and reports its CPU time.
func startClientProcess(b *testing.B, fake *slacktest.Server, bin string, env map[string]string) func() {
	b.Helper()
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SLACK_APP_TOKEN=" + fake.AppToken(), "SLACK_BOT_TOKEN=" + fake.BotToken(), "SLACK_API_URL=" + fake.APIURL()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// SHIFTWISE_BENCH_CLIENT_X=v sets X=v for both clients (GOGC,
	// GOMAXPROCS, GODEBUG), for experiments.
	for _, kv := range os.Environ() {
		if rest, ok := strings.CutPrefix(kv, "SHIFTWISE_BENCH_CLIENT_"); ok {
			cmd.Env = append(cmd.Env, rest)
		}
	}
	// The bot's JSON log, as in production (info level), straight into a
	// file: no goroutine of this process copies it.
	logPath := filepath.Join(b.TempDir(), filepath.Base(bin)+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := fake.WaitConnected(1, 10*time.Second); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		out, _ := os.ReadFile(logPath)
		b.Fatalf("%s did not connect: %v\n%s", filepath.Base(bin), err, tail(string(out), 2000))
	}
	time.Sleep(benchSettle)
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if u, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			cpu := time.Duration(u.Utime.Nano() + u.Stime.Nano())
			b.ReportMetric(float64(cpu.Milliseconds()), "cpu-ms")
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// BenchmarkSlackAckInProcess is the same load with the bot wired in this
// process, beside the fake: not what the README quotes (the fake then
// shares the bot's cores, scheduler and collector), but it can be
// profiled: go test -run '^$' -bench SlackAckInProcess -benchtime 1x
// -cpuprofile cpu.out ./cmd/shiftwise-bot.
func BenchmarkSlackAckInProcess(b *testing.B) {
	env := demoEnv(b)
	for _, rate := range []int{1, 50, 200} {
		b.Run(fmt.Sprintf("bot/rate=%d", rate), func(b *testing.B) {
			for b.Loop() {
				fake := slacktest.New(b)
				stop := startBenchBot(b, env, fake)
				report(b, loadOf(fake, rate))
				stop()
			}
		})
	}
}

// startBenchBot wires the bot in this process as main does.
func startBenchBot(b *testing.B, env map[string]string, fake *slacktest.Server) func() {
	env = copyEnv(env, "SHIFTWISE_POLICY", benchPolicy(b))
	ctx, cancel := context.WithCancel(context.Background())
	m := openMain(b, ctx, env)
	m.Health.Follow(ctx) // as Run does for a bot that keeps running
	sb, err := slack.New(slack.Options{AppToken: fake.AppToken(), BotToken: fake.BotToken(), APIURL: fake.APIURL(),
		Core: m.Engine, Logger: m.Log, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sb.Run(ctx) }()
	if err := fake.WaitConnected(1, 10*time.Second); err != nil {
		b.Fatal(err)
	}
	time.Sleep(benchSettle)
	return func() {
		cancel()
		<-done
		m.Close()
	}
}

// BenchmarkSlackRSSAtRest starts the real binary in Slack mode against
// the fake, lets it connect and settle, and reports its resident memory.
func BenchmarkSlackRSSAtRest(b *testing.B) {
	env := demoEnv(b)
	bin := buildBench(b, b.TempDir(), "shiftwise-bot", ".")
	for b.Loop() {
		fake := slacktest.New(b)
		cmd := exec.Command(bin)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SLACK_APP_TOKEN=" + fake.AppToken(), "SLACK_BOT_TOKEN=" + fake.BotToken(), "SLACK_API_URL=" + fake.APIURL()}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		if err := fake.WaitConnected(1, 10*time.Second); err != nil {
			b.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.Atoi(f[1])
				b.ReportMetric(float64(kb)/1024, "rss-MB")
			}
		}
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
}
