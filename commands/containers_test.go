package commands

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
	"github.com/shiftwise/shiftwise-bot/permissions"
)

// containersPolicy gives the console users of these tests their levels; stop all
// and start all keep their approval unless a test lifts it.
const containersPolicy = `
g, console:l1, level1
g, console:l2, level2
g, console:l3, level3
`

// ops is a Stack on a throwaway project, behind a real engine and policy.
type ops struct {
	t       testing.TB
	s       *Stack
	dc      *docker.Client
	project *dockertest.Project
	engine  *bot.Engine
	channel string
}

func newOps(t *testing.T, policy string, services ...dockertest.Service) *ops {
	t.Helper()
	p := dockertest.StartProject(t, services...)
	for i, c := range p.Containers {
		if services[i].Health != nil {
			dockertest.WaitHealthy(t, c.ID, 60*time.Second)
		}
	}
	return opsOn(t, p, policy)
}

func opsOn(t testing.TB, p *dockertest.Project, policy string) *ops {
	t.Helper()
	dc, err := docker.New(dockertest.Host(t), p.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	s := &Stack{Engine: dc, Logs: dc, ReadyTimeout: 60 * time.Second, StopGrace: 2 * time.Second}
	authz, err := permissions.New(policy, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := bot.NewRegistry(append(s.Commands(), (&Host{}).Command())...)
	if err != nil {
		t.Fatal(err)
	}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: authz, Redactor: same{}})
	if err != nil {
		t.Fatal(err)
	}
	return &ops{t: t, s: s, dc: dc, project: p, engine: e}
}

// run handles one line as subject, collecting the progress it reports.
func (o *ops) run(subject, text string) (bot.Reply, []bot.Message) {
	o.t.Helper()
	var mu sync.Mutex
	var progress []bot.Message
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	channel := o.channel
	if channel == "" {
		channel = "C0OPS" // a Slack channel: progress replaces one message
	}
	r := o.engine.Handle(ctx, bot.Request{Subject: subject, Channel: channel, Text: text, Progress: func(m bot.Message) {
		mu.Lock()
		progress = append(progress, m)
		mu.Unlock()
	}})
	mu.Lock()
	defer mu.Unlock()
	return r, progress
}

// startedAt is when the container last started, from the engine.
func startedAt(t *testing.T, id string) string {
	t.Helper()
	return dockertest.Inspect(t, id).State.StartedAt
}

func render(m bot.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s]\n%s\n", m.Title, m.Status, m.Text)
	for _, c := range m.Checks {
		fmt.Fprintf(&b, "  %s | %s | %s\n", c.Name, c.Status, c.Value)
	}
	for _, f := range m.Fields {
		fmt.Fprintf(&b, "  %s: %s\n", f.Name, f.Value)
	}
	for _, c := range m.Code {
		fmt.Fprintf(&b, "--- %s\n%s\n", c.Title, c.Text)
	}
	return b.String() + m.Summary
}

// tableRows parses a code block written by tabwriter: the first line is
// the header; cells are separated by two or more spaces.
func tableRows(t *testing.T, text string) []map[string]string {
	t.Helper()
	lines := strings.Split(text, "\n")
	split := regexp.MustCompile(`\s{2,}`)
	header := split.Split(strings.TrimSpace(lines[0]), -1)
	var out []map[string]string
	for _, l := range lines[1:] {
		cells := split.Split(strings.TrimSpace(l), -1)
		row := map[string]string{}
		for i, h := range header {
			if i < len(cells) {
				row[h] = cells[i]
			}
		}
		out = append(out, row)
	}
	return out
}

// dockerCLI runs the docker CLI in the test (the bot never does).
func dockerCLI(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(cmd.Environ(), "DOCKER_HOST="+dockertest.Host(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, lerr := exec.LookPath("docker"); lerr != nil {
			testenv.Missing(t, "the docker CLI", lerr)
		}
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

type psRow struct{ service, name, state, health, status, image string }

var psHealth = regexp.MustCompile(`\((healthy|unhealthy|health: starting)\)`)

// dockerPS is `docker ps -a` of the project, by container name.
func dockerPS(t *testing.T, project string) map[string]psRow {
	t.Helper()
	out := dockerCLI(t, "ps", "-a", "--no-trunc", "--filter", "label=com.docker.compose.project="+project,
		"--format", `{{.Label "com.docker.compose.service"}}|{{.Names}}|{{.State}}|{{.Status}}|{{.Image}}`)
	rows := map[string]psRow{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(l, "|")
		if len(f) != 5 {
			continue
		}
		r := psRow{service: f[0], name: f[1], state: f[2], status: f[3], image: f[4]}
		if m := psHealth.FindStringSubmatch(f[3]); m != nil && r.state == "running" {
			r.health = strings.TrimPrefix(m[1], "health: ")
		}
		rows[r.name] = r
	}
	return rows
}

func TestContainerCommandsWhenTheEngineIsDown(t *testing.T) {
	t.Parallel()
	silent := testenv.NewSilent(t)
	for name, host := range map[string]string{"refused": "tcp://" + testenv.RefusedAddr(t), "silent": "tcp://" + silent.Addr} {
		dc, err := docker.New(host, "shiftwise")
		if err != nil {
			t.Fatal(err)
		}
		defer dc.Close()
		s := &Stack{Engine: dc, Logs: dc}
		reg, err := bot.NewRegistry(s.Commands()...)
		if err != nil {
			t.Fatal(err)
		}
		e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: allow{}, Redactor: same{}})
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{"status", "stats", "top api", "restart api", "logs api", "errors"} {
			r, _ := testenv.Within(t, text, 30*time.Second, func() (bot.Reply, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				return e.Handle(ctx, bot.Request{Subject: "console:t", Text: text}), nil
			})
			if r.Outcome != bot.OutcomeFailed || !strings.Contains(r.Message.Text, "project shiftwise") {
				t.Errorf("%s, engine %s: %v\n%s", text, name, r.Outcome, render(r.Message))
			}
		}
	}
}

// `restart all` counts the live project's services among its targets even
// on the bot's first request: a p2 line for a service outside the runbook's
// five raises it too.
