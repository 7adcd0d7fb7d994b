package commands

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/permissions"
)

// runbookRegistry builds a registry holding the runbook and cmds, and a
// Runbook over the real policy (the embedded example with extra lines).
func runbookRegistry(t *testing.T, extraPolicy string, cmds ...bot.Command) (*Runbook, *bot.Registry) {
	t.Helper()
	pol, err := permissions.New(permissions.ExamplePolicy+extraPolicy, nil)
	if err != nil {
		t.Fatal(err)
	}
	rb := &Runbook{Policy: pol, DataDir: t.TempDir()}
	reg, err := bot.NewRegistry(append(cmds, rb.Command())...)
	if err != nil {
		t.Fatal(err)
	}
	rb.Parse = reg.Parse
	if err := pol.Reload(permissions.ExamplePolicy + extraPolicy); err != nil { // the registry's defaults are now known
		t.Fatal(err)
	}
	return rb, reg
}

func runLine(t *testing.T, reg *bot.Registry, subject, line string) (bot.Message, error) {
	t.Helper()
	cmd, args, err := reg.Parse(line)
	if err != nil {
		return bot.Message{}, err
	}
	return cmd.Run(context.Background(), bot.Request{Subject: subject, Channel: "console", Text: line, Command: cmd, Args: args})
}

func TestRunbookRunsDiagnosisStepsAtOnceAndOffersResolutions(t *testing.T) {
	// Each diagnosis waits until every one of them has started: run one
	// after another, they would never finish and the barrier fails.
	var barrier sync.WaitGroup
	started := make(chan struct{})
	var once sync.Once
	names := []string{"logs", "health", "db test", "stats"}
	barrier.Add(len(names))
	go func() { barrier.Wait(); once.Do(func() { close(started) }) }()
	diag := func(name string, st bot.Status) bot.Command {
		return bot.Command{Name: name, MaxArgs: -1, Level: bot.Level1, Risk: bot.ReadOnly,
			Flags: []bot.Flag{{Name: "tail", Kind: bot.FlagInt, Default: "100", Min: 1, Max: 5000}},
			Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
				barrier.Done()
				select {
				case <-started:
				case <-time.After(10 * time.Second):
					return bot.Message{}, fmt.Errorf("%s ran alone: the steps are not concurrent", name)
				}
				return bot.Message{Title: name + " done", Status: st, Code: []bot.CodeBlock{{Text: "line\n"}}}, nil
			}}
	}
	var restarted []string
	restart := bot.Command{Name: "restart", MinArgs: 1, MaxArgs: 1, Level: bot.Level1, Risk: bot.Changes,
		Object: func(a bot.Args) string { return "restart:" + a.First() },
		Run: func(_ context.Context, req bot.Request) (bot.Message, error) {
			restarted = append(restarted, req.Args.First())
			return bot.Message{}, nil
		}}
	rb, reg := runbookRegistry(t, "", // the example policy puts restart:postgres at Level 2
		diag("logs", bot.StatusNone), diag("health", bot.StatusFailed), diag("db test", bot.StatusOK), diag("stats", bot.StatusOK), restart)
	_ = rb

	m, err := runLine(t, reg, "console:alice", "runbook api-500")
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != bot.StatusFailed || len(m.Checks) != 4 {
		t.Fatalf("status %v, checks %+v", m.Status, m.Checks)
	}
	want := map[string]bot.Status{"logs api --tail 100": bot.StatusOK, "health": bot.StatusFailed, "db test": bot.StatusOK, "stats api": bot.StatusOK}
	for _, c := range m.Checks {
		if st, ok := want[c.Name]; !ok || st != c.Status {
			t.Errorf("check %q: %v (%q), want %v", c.Name, c.Status, c.Value, st)
		}
	}
	if !strings.Contains(m.Summary, "1 of 4") {
		t.Errorf("summary %q", m.Summary)
	}
	// Resolutions are buttons that type their line; nothing was restarted.
	if len(restarted) != 0 {
		t.Fatalf("a resolution ran during diagnosis: %v", restarted)
	}
	lines := []string{}
	for _, b := range m.Buttons {
		if b.ActionID != bot.ActionRun || !b.Danger {
			t.Errorf("button %+v: want a danger command.run", b)
		}
		lines = append(lines, b.Value)
	}
	if got := strings.Join(lines, "|"); got != "restart api|restart postgres|restart api|restart all" {
		t.Errorf("buttons %q", got)
	}
	// The level shown follows the policy (postgres overridden to Level 2).
	fields := fmt.Sprint(m.Fields)
	for _, w := range []string{"`restart postgres` (Level 2", "`restart api` (Level 1"} {
		if !strings.Contains(fields, w) {
			t.Errorf("fields lack %q: %s", w, fields)
		}
	}
}

func TestRunbookNeverRunsAboveTheAskersLevelOrAChangingStep(t *testing.T) {
	ran := map[string]int{}
	var mu sync.Mutex
	cmd := func(name string, level bot.Level, risk bot.Risk) bot.Command {
		return bot.Command{Name: name, MaxArgs: -1, Level: level, Risk: risk,
			Flags: []bot.Flag{{Name: "tail", Kind: bot.FlagInt, Min: 1, Max: 5000}, {Name: "older", Kind: bot.FlagDuration, MinDuration: time.Second, MaxDuration: time.Hour}},
			Run: func(context.Context, bot.Request) (bot.Message, error) {
				mu.Lock()
				ran[name]++
				mu.Unlock()
				return bot.Message{Title: name}, nil
			}}
	}
	_, reg := runbookRegistry(t, "p2, db size, level3, -\n",
		cmd("db connections", bot.Level1, bot.ReadOnly),
		cmd("db long-running", bot.Level1, bot.ReadOnly),
		cmd("db size", bot.Level1, bot.ReadOnly),        // raised to Level 3 by the policy
		cmd("db slow-queries", bot.Level1, bot.Changes), // a step that changes things is never run by a runbook
		// "db tables" is missing from this bot
	)
	m, err := runLine(t, reg, "console:alice", "runbook db-slow")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range m.Checks {
		got[c.Name] = c.Status.String() + " " + c.Value
	}
	for line, want := range map[string]string{
		"db connections":              "PASSED db connections",
		"db long-running --older 30s": "PASSED db long-running",
		"db size":                     "WARN not run: it needs Level 3",
		"db slow-queries":             "FAILED not run: a diagnosis step must be read-only",
		"db tables":                   "WARN not available in this bot",
	} {
		if !strings.HasPrefix(got[line], want) {
			t.Errorf("%s: %q, want %q…", line, got[line], want)
		}
	}
	if ran["db size"] != 0 || ran["db slow-queries"] != 0 || ran["db connections"] != 1 {
		t.Errorf("ran %v", ran)
	}
}

func TestRunbookBadInput(t *testing.T) {
	_, reg := runbookRegistry(t, "")
	for _, line := range []string{"runbook nope", "runbook " + strings.Repeat("x", 2000), "runbook 'api-500; rm -rf /'"} {
		_, err := runLine(t, reg, "console:alice", line)
		var ue *bot.UsageError
		if err == nil || !asUsage(err, &ue) || !strings.Contains(ue.Msg, "api-500") {
			t.Errorf("%.40q: %v, want a usage error naming the symptoms", line, err)
		}
	}
	if _, err := runLine(t, reg, "console:alice", "runbook api-500 extra"); err == nil {
		t.Error("two arguments accepted")
	}
	m, err := runLine(t, reg, "console:alice", "runbook")
	if err != nil || len(m.Fields) != len(Symptoms) {
		t.Fatalf("list: %v %+v", err, m.Fields)
	}
	help := rbCommandHelp(t, reg)
	for _, w := range []string{"point-in-time recovery", "--build", ".env", "e-mail"} {
		if !strings.Contains(help, w) {
			t.Errorf("help runbook does not say %q is out of scope", w)
		}
	}
}

func asUsage(err error, ue **bot.UsageError) bool {
	u, ok := err.(*bot.UsageError)
	*ue = u
	return ok
}

func rbCommandHelp(t *testing.T, reg *bot.Registry) string {
	c := reg.Lookup("runbook")
	if c == nil {
		t.Fatal("no runbook command")
	}
	return c.Help
}

func TestSecurityRunbookKeepsTheLogsAndCountsSuspiciousLines(t *testing.T) {
	p := dockertest.StartProject(t,
		dockertest.Service{Name: "api", Ports: []string{"3000"}, Health: dockertest.HTTPHealth()},
		dockertest.Service{Name: "frontend", Ports: []string{"3000"}, Health: dockertest.HTTPHealth()},
	)
	dc, err := docker.New(dockertest.Host(t), p.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	say := func(svc, level, text string, n int) {
		u := fmt.Sprintf("%s/control/log?n=%d&level=%s&text=%s", p.Service(svc).URL("3000"), n, level, url.QueryEscape(text))
		resp, err := http.Post(u, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	say("api", "warn", "Unauthorized token for user 7", 3)
	say("api", "error", "db down", 2)
	say("frontend", "info", "login failed for bob", 4)

	status := bot.Command{Name: "status", Level: bot.Level1, Risk: bot.ReadOnly,
		Run: func(context.Context, bot.Request) (bot.Message, error) { return bot.Message{Title: "status"}, nil }}
	stopStart := func(name string) bot.Command {
		return bot.Command{Name: name, MinArgs: 1, MaxArgs: 1, Level: bot.Level3, Risk: bot.Destructive, Approval: true,
			Run: func(context.Context, bot.Request) (bot.Message, error) {
				t.Error(name + " ran")
				return bot.Message{}, nil
			}}
	}
	rb, reg := runbookRegistry(t, "", status, stopStart("stop"), stopStart("start"))
	rb.Logs = dc
	var m bot.Message
	deadline := time.Now().Add(15 * time.Second)
	for {
		m, err = runLine(t, reg, "console:alice", "runbook security")
		if err != nil {
			t.Fatal(err)
		}
		snap := m.Checks[len(m.Checks)-1]
		if strings.HasPrefix(snap.Value, "9 suspicious") || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	snap := m.Checks[len(m.Checks)-1]
	if snap.Status != bot.StatusWarn || !strings.HasPrefix(snap.Value, "9 suspicious lines") {
		t.Fatalf("snapshot check %+v", snap)
	}
	table := m.Code[len(m.Code)-1].Text
	for _, row := range [][]string{{"api", "3", "0", "2"}, {"frontend", "0", "4", "0"}} {
		if !strings.Contains(strings.Join(strings.Fields(table), " "), strings.Join(row, " ")) {
			t.Errorf("table lacks row %v:\n%s", row, table)
		}
	}
	// The kept file holds the lines, readable by the bot's user only.
	files, _ := filepath.Glob(filepath.Join(rb.DataDir, "security_*.log"))
	if len(files) == 0 {
		t.Fatal("no snapshot file")
	}
	last := files[len(files)-1]
	st, err := os.Stat(last)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot %s: %v %v", last, st.Mode(), err)
	}
	body, _ := os.ReadFile(last)
	if !strings.Contains(string(body), "Unauthorized token for user 7") || !strings.Contains(string(body), "frontend ") {
		t.Errorf("snapshot lacks the lines:\n%.500s", body)
	}
	// The stop-everything step and the credentials checklist are offered.
	if len(m.Buttons) != 2 || m.Buttons[0].Value != "stop all" || !strings.Contains(fmt.Sprint(m.Fields), "Level 3 (System Architects), with approval") ||
		!strings.Contains(fmt.Sprint(m.Fields), "JWT") {
		t.Errorf("buttons %+v fields %+v", m.Buttons, m.Fields)
	}
}
