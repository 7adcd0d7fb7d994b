package commands

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
)

const deployPolicy = `
g, console:ops, level1
g, console:dev, level2
g, console:arch, level3
p2, deploy:*, -, no-approval
p2, rollback*, -, no-approval
`

// deployEnv is a throwaway project with one api service on v1, the three
// test images, and the commands wired to it through the real engine.
type deployEnv struct {
	project    string
	c          *docker.Client
	d          *Deploy
	v1, v2, v3 string
	v1ID, v2ID string
	backups    []string
	mu         sync.Mutex
	progress   []bot.Message
	backupErr  error
}

func newDeployEnv(t *testing.T) *deployEnv {
	t.Helper()
	env := &deployEnv{project: dockertest.ProjectName(t)}
	repo := "shiftwise-test/deploy-cmd:" + strings.TrimPrefix(env.project, "swtest-")
	env.v1, env.v2, env.v3 = repo+"-v1", repo+"-v2", repo+"-v3"
	dockertest.Tag(t, dockertest.Image(t), env.v1)
	env.v1ID = dockertest.ImageID(t, env.v1)
	env.v2ID = dockertest.DeriveImage(t, env.v1, env.v2)
	dockertest.DeriveImage(t, env.v1, env.v3, "ENV DEMO_HEALTH_MODE=fail")
	t.Cleanup(func() { dockertest.Untag(t, docker.KeepRef(env.project, "api")) })
	dockertest.SweepProject(t, env.project)
	p := dockertest.StartNamedProject(t, env.project, dockertest.Service{
		Name: "api", Image: env.v1, Ports: []string{"3000"}, Health: dockertest.HTTPHealth(),
	})
	dockertest.WaitHealthy(t, p.Service("api").ID, 30*time.Second)
	c, err := docker.New(dockertest.Host(t), env.project)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	env.c = c
	authz := newAuthz(t, deployPolicy)
	env.d = &Deploy{
		Docker: c,
		Backup: func(ctx context.Context) (string, error) {
			env.mu.Lock()
			defer env.mu.Unlock()
			if env.backupErr != nil {
				return "", env.backupErr
			}
			name := "shiftwise_test_" + time.Now().Format("150405.000") + ".sql"
			env.backups = append(env.backups, name)
			return name, nil
		},
		LevelOf:       authz.Level,
		HealthTimeout: 30 * time.Second,
	}
	return env
}

func (env *deployEnv) engine(t *testing.T) *bot.Engine {
	t.Helper()
	reg, err := bot.NewRegistry(All(Deps{Health: &Health{}, Deploy: env.d})...)
	if err != nil {
		t.Fatal(err)
	}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: newAuthz(t, deployPolicy), Redactor: noRedact{}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (env *deployEnv) run(t *testing.T, subject, line string) bot.Reply {
	t.Helper()
	env.mu.Lock()
	env.progress = nil
	env.mu.Unlock()
	return env.engine(t).Handle(context.Background(), bot.Request{Subject: subject, Channel: "console", Text: line,
		Progress: func(m bot.Message) {
			env.mu.Lock()
			defer env.mu.Unlock()
			env.progress = append(env.progress, m)
		}})
}

// steps are the step names of the last progress message.
func (env *deployEnv) steps() []string {
	env.mu.Lock()
	defer env.mu.Unlock()
	if len(env.progress) == 0 {
		return nil
	}
	var out []string
	for _, c := range env.progress[len(env.progress)-1].Checks {
		out = append(out, c.Name)
	}
	return out
}

func (env *deployEnv) api(t *testing.T) docker.Container {
	t.Helper()
	list, err := env.c.Containers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []docker.Container
	for _, c := range list {
		if c.Service == "api" {
			got = append(got, c)
		}
	}
	if len(got) != 1 {
		t.Fatalf("api has %d containers: %+v", len(got), got)
	}
	return got[0]
}

func (env *deployEnv) apiImage(t *testing.T) string {
	t.Helper()
	return dockertest.Inspect(t, env.api(t).ID).Image
}

func TestDeployCommandThenRollback(t *testing.T) {
	t.Parallel()
	env := newDeployEnv(t)
	r := env.run(t, "console:dev", "/shiftwise deploy api "+env.v2)
	if r.Outcome != bot.OutcomeOK {
		t.Fatalf("deploy: %v\n%s", r.Outcome, text(r.Message))
	}
	if got := env.apiImage(t); got != env.v2ID {
		t.Fatalf("api runs %s, want v2 %s", got, env.v2ID)
	}
	if len(env.backups) != 1 || !strings.Contains(text(r.Message), env.backups[0]) {
		t.Errorf("backups %v; message:\n%s", env.backups, text(r.Message))
	}
	want := []string{"backup", "recorded", "stopping old", "starting new", "waiting for health", "removing old"}
	if got := env.steps(); !slices.Equal(got, want) {
		t.Errorf("progress steps %v, want %v", got, want)
	}
	if r.Message.Summary != "Deploy: PASSED" || !strings.Contains(r.Message.Text, "rollback api") {
		t.Errorf("message:\n%s", text(r.Message))
	}

	// An L1 may not roll back by themselves (the engine would ask an L2).
	if r := env.run(t, "console:ops", "rollback api"); r.Outcome != bot.OutcomeDenied {
		t.Errorf("L1 rollback: %v %s", r.Outcome, text(r.Message))
	}
	r = env.run(t, "console:dev", "rollback")
	if r.Outcome != bot.OutcomeOK {
		t.Fatalf("rollback: %v\n%s", r.Outcome, text(r.Message))
	}
	if got := env.apiImage(t); got != env.v1ID {
		t.Fatalf("after rollback api runs %s, want v1 %s", got, env.v1ID)
	}
	if len(env.backups) != 1 {
		t.Errorf("rollback took a backup: %v", env.backups)
	}
	if got := env.steps(); !slices.Equal(got, want[1:]) {
		t.Errorf("rollback progress steps %v", got)
	}
	if env.api(t).Health != "healthy" {
		t.Errorf("api after rollback: %+v", env.api(t))
	}
}

func TestDeployCommandBrokenImageRollsBack(t *testing.T) {
	t.Parallel()
	env := newDeployEnv(t)
	before := env.api(t)
	r := env.run(t, "console:dev", "deploy api "+env.v3+" --wait 20s")
	if r.Outcome != bot.OutcomeFailed {
		t.Fatalf("deploy of v3: %v\n%s", r.Outcome, text(r.Message))
	}
	if !strings.Contains(r.Message.Summary, "rolled back to "+env.v1) || !strings.Contains(r.Message.Text, "healthcheck failed") {
		t.Errorf("message:\n%s", text(r.Message))
	}
	if !slices.Contains(env.steps(), "rolling back") {
		t.Errorf("steps %v", env.steps())
	}
	for _, c := range r.Message.Checks {
		if c.Name == "waiting for health" && c.Status != bot.StatusFailed {
			t.Errorf("the health step that failed shows %v", c.Status)
		}
	}
	now := env.api(t)
	if now.ID != before.ID || env.apiImage(t) != env.v1ID {
		t.Fatalf("after: %+v", now)
	}
	dockertest.WaitHealthy(t, now.ID, 30*time.Second)
}

func TestDeployCommandRefusals(t *testing.T) {
	t.Parallel()
	env := newDeployEnv(t)
	before := env.api(t)
	for _, line := range []string{
		"deploy api 'app:v2; rm -rf /'",
		"deploy api '$(curl evil)'",
		"deploy api App:Latest",
		"deploy api " + strings.Repeat("x", 400),
		"deploy 'api;ls' " + env.v2,
		"deploy nosuch " + env.v2,
		"deploy api shiftwise-test/never-built:v1",
		"deploy api",
		"deploy api " + env.v2 + " --wait 0s",
		"rollback 'api`id`'",
		"rollback nosuch",
	} {
		r := env.run(t, "console:arch", line)
		if r.Outcome != bot.OutcomeUsage {
			t.Errorf("%q: %v\n%s", line, r.Outcome, text(r.Message))
		}
	}
	// No history yet: rollback says so and does nothing.
	if r := env.run(t, "console:dev", "rollback api"); r.Outcome != bot.OutcomeFailed || !strings.Contains(r.Message.Text, "no previous image") {
		t.Errorf("rollback without a deploy: %v %s", r.Outcome, text(r.Message))
	}
	// A failing backup stops the deploy.
	env.backupErr = errors.New("pg_dump: connection refused")
	if r := env.run(t, "console:dev", "deploy api "+env.v2); r.Outcome != bot.OutcomeFailed || !strings.Contains(r.Message.Text, "backup failed") {
		t.Errorf("failed backup: %v %s", r.Outcome, text(r.Message))
	}
	env.backupErr = nil
	// --no-backup needs Level 3 held by the asker.
	if r := env.run(t, "console:dev", "deploy api "+env.v2+" --no-backup"); r.Outcome != bot.OutcomeFailed || !strings.Contains(r.Message.Text, "Level 3") {
		t.Errorf("--no-backup as L2: %v %s", r.Outcome, text(r.Message))
	}
	// Without a backup hook nothing is deployed unless --no-backup.
	env.d.Backup = nil
	if r := env.run(t, "console:arch", "deploy api "+env.v2); r.Outcome != bot.OutcomeFailed || !strings.Contains(r.Message.Text, "No pre-deploy backup is configured") {
		t.Errorf("no backup hook: %v %s", r.Outcome, text(r.Message))
	}
	if len(env.backups) != 0 {
		t.Errorf("backups taken: %v", env.backups)
	}
	if now := env.api(t); now.ID != before.ID {
		t.Fatalf("refused input changed the service: %+v", now)
	}
	// An architect may skip it.
	if r := env.run(t, "console:arch", "deploy api "+env.v2+" --no-backup"); r.Outcome != bot.OutcomeOK || !strings.Contains(text(r.Message), "skipped") {
		t.Fatalf("--no-backup as L3: %v %s", r.Outcome, text(r.Message))
	}
	if env.apiImage(t) != env.v2ID {
		t.Error("--no-backup deploy did not deploy")
	}
}

func TestRollbackConfiguredCommand(t *testing.T) {
	t.Parallel()
	env := newDeployEnv(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "rollback.sh")
	out := filepath.Join(dir, "args")
	body := "#!/bin/sh\necho \"rolling back $1\"\necho \"$@|$SHIFTWISE_SERVICE|$SHIFTWISE_COMPOSE_PROJECT|${SLACK_BOT_TOKEN:-none}\" > " + out + "\necho done >&2\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	env.d.RollbackCommand = []string{script, "{service}"}
	// The bot's own environment holds its tokens; the command must not get them.
	getenv := func(k string) string {
		if k == "SLACK_BOT_TOKEN" {
			return "xoxb-must-not-leak"
		}
		return os.Getenv(k)
	}
	env.d.RollbackEnv = RollbackEnv(getenv, env.project, "")
	r := env.run(t, "console:dev", "rollback api")
	if r.Outcome != bot.OutcomeOK {
		t.Fatalf("rollback command: %v\n%s", r.Outcome, text(r.Message))
	}
	if got := code(r.Message, "last output"); got != "rolling back api\ndone" && got != "done\nrolling back api" {
		t.Errorf("output %q", got)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(b)), "api|api|"+env.project+"|none"; got != want {
		t.Errorf("script saw %q, want %q", got, want)
	}
	env.mu.Lock()
	streamed := len(env.progress)
	env.mu.Unlock()
	if streamed < 2 {
		t.Errorf("progress messages: %d", streamed)
	}
	if r := env.run(t, "console:dev", "rollback"); r.Outcome != bot.OutcomeUsage {
		t.Errorf("rollback without the service the command needs: %v", r.Outcome)
	}
	if r := env.run(t, "console:dev", "rollback nosuch"); r.Outcome != bot.OutcomeUsage {
		t.Errorf("unknown service: %v", r.Outcome)
	}
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'cannot reach host' >&2\nexit 4\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if r := env.run(t, "console:dev", "rollback api"); r.Outcome != bot.OutcomeFailed || !strings.Contains(r.Message.Text, "code 4") ||
		!strings.Contains(code(r.Message, "last output"), "cannot reach host") {
		t.Errorf("failing command: %v %s", r.Outcome, text(r.Message))
	}
}

// TestDeployDefaults pins the permission defaults the README documents.
func TestDeployDefaults(t *testing.T) {
	t.Parallel()
	d := &Deploy{}
	dep, rb := d.DeployCommand(), d.RollbackCmd()
	if dep.Level != bot.Level2 || !dep.Approval || rb.Level != bot.Level2 || !rb.Approval {
		t.Errorf("deploy %v %v, rollback %v %v", dep.Level, dep.Approval, rb.Level, rb.Approval)
	}
	args := func(s ...string) bot.Args { return bot.Args{Positional: s} }
	if dep.PermissionObject(args("api", "x:1")) != "deploy:api" || rb.PermissionObject(args()) != "rollback" || rb.PermissionObject(args("api")) != "rollback:api" {
		t.Error("permission objects")
	}
}

func TestServiceHealthURLs(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
		}
	}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer bad.Close()
	verify := ServiceHealthURLs(nil, map[string]string{"api": ok.URL + "/", "frontend": bad.URL})
	ctx := context.Background()
	if err := verify(ctx, "api"); err != nil {
		t.Errorf("api: %v", err)
	}
	if err := verify(ctx, "frontend"); err == nil || !strings.Contains(err.Error(), "502") {
		t.Errorf("frontend: %v", err)
	}
	if err := verify(ctx, "postgres"); err != nil {
		t.Errorf("a service without /health: %v", err)
	}
	if err := verify(ctx, ""); err == nil || !strings.Contains(err.Error(), "frontend") {
		t.Errorf("whole stack: %v", err)
	}
}
