package commands

import (
	"context"
	"strings"
	"testing"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// TestDBTestOnTheDemoStack runs the default check in the shared demo
// stack's api container: it only connects and runs SELECT 1.
func TestDBTestOnTheDemoStack(t *testing.T) {
	project := testenv.Get("SHIFTWISE_TEST_COMPOSE_PROJECT")
	dc, err := docker.New(dockertest.Host(t), project)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	if _, err := dc.ServiceContainer(context.Background(), "api"); err != nil {
		testenv.Missing(t, "the demo stack's api container", err)
	}
	e := bkEngine(t, (&DBTest{Docker: dc}).Command())
	r := bkRun(t, e, "db test")
	if r.Outcome != bot.OutcomeOK || r.Message.Summary != "DB test: PASSED" || field(r.Message, "Exit code") != "0" ||
		len(r.Message.Code) != 1 || !strings.Contains(r.Message.Code[0].Text, "answered SELECT 1") {
		t.Fatalf("db test on the demo stack: %s %+v", bkText(r.Message), r.Message.Code)
	}
}

// TestDBTestFailsAndShowsWhy: an api whose database refuses connections
// fails the check with its output and exit code, the password masked; a
// configured command runs instead of the default; a missing service says so.
func TestDBTestFailsAndShowsWhy(t *testing.T) {
	p := dockertest.StartProject(t, dockertest.Service{
		Name: "api", Image: testenv.Get("SHIFTWISE_TEST_APP_IMAGE"), Ports: []string{"3000"},
		Env: []string{"DEMO_ROLE=api", "DATABASE_URL=postgres://shiftwise:hunter2secret@127.0.0.1:1/shiftwise?sslmode=disable"},
	})
	dc, err := docker.New(dockertest.Host(t), p.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()

	r := bkRun(t, bkEngine(t, (&DBTest{Docker: dc}).Command()), "db test")
	out := bkText(r.Message)
	if len(r.Message.Code) > 0 {
		out += r.Message.Code[0].Text
	}
	if r.Outcome != bot.OutcomeFailed || field(r.Message, "Exit code") != "1" || !strings.Contains(out, "connect") {
		t.Fatalf("refused database: %s", out)
	}
	if strings.Contains(out, "hunter2secret") {
		t.Fatalf("the password reached the output: %s", out)
	}

	argv, err := ParseDBTestCommand(`["shiftwise-demo","healthcheck"]`)
	if err != nil {
		t.Fatal(err)
	}
	r = bkRun(t, bkEngine(t, (&DBTest{Docker: dc, Argv: argv}).Command()), "db test")
	if r.Outcome != bot.OutcomeOK || field(r.Message, "Command") != "shiftwise-demo healthcheck" {
		t.Fatalf("configured command: %s", bkText(r.Message))
	}

	r = bkRun(t, bkEngine(t, (&DBTest{Docker: dc, Service: "backend"}).Command()), "db test")
	if r.Outcome != bot.OutcomeFailed || !strings.Contains(r.Message.Text, "no such service") {
		t.Fatalf("missing service: %s", bkText(r.Message))
	}
	if r = bkRun(t, bkEngine(t, (&DBTest{Docker: dc}).Command()), "db test --now"); r.Outcome != bot.OutcomeUsage {
		t.Fatalf("unknown flag: %s", bkText(r.Message))
	}
}

func TestParseDBTestCommand(t *testing.T) {
	if c := (&DBTest{}).Command(); c.PermissionObject(bot.Args{}) != "db:test" || c.Level != bot.Level1 || c.Approval || c.Risk != bot.ReadOnly {
		t.Errorf("db test defaults: %s %v %v", c.PermissionObject(bot.Args{}), c.Level, c.Approval)
	}
	if got, err := ParseDBTestCommand(""); err != nil || strings.Join(got, " ") != "shiftwise-demo dbtest" {
		t.Errorf("default: %v %v", got, err)
	}
	if got, err := ParseDBTestCommand(`["npm", "run", "db:test"]`); err != nil || len(got) != 3 || got[2] != "db:test" {
		t.Errorf("npm: %v %v", got, err)
	}
	for _, bad := range []string{"npm run db:test", `[]`, `[""]`, `["a", 1]`, `{"a":1}`, `["a\nb"]`} {
		if _, err := ParseDBTestCommand(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
