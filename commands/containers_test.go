package commands

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
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

func TestStatusAgreesWithDockerPs(t *testing.T) {
	t.Parallel()
	img := dockertest.Image(t)
	imageID := strings.TrimSpace(dockerCLI(t, "image", "inspect", "--format", "{{.Id}}", img))
	p := dockertest.StartProject(t,
		dockertest.Service{Name: "api", Ports: []string{"3000"}, Health: dockertest.HTTPHealth(),
			Labels: map[string]string{docker.LabelDeployedImage: imageID}},
		dockertest.Service{Name: "frontend", Ports: []string{"3000"},
			Labels: map[string]string{docker.LabelDeployedImage: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}},
		dockertest.Service{Name: "job", Cmd: []string{"exit", "3"}},
		dockertest.Service{Name: "stopped", Ports: []string{"3000"}},
	)
	dockertest.WaitHealthy(t, p.Service("api").ID, 60*time.Second)
	dockertest.WaitState(t, p.Service("job").ID, "exited", 30*time.Second)
	dockertest.Stop(t, p.Service("stopped").ID)
	o := opsOn(t, p, containersPolicy)

	before := dockerPS(t, p.Name)
	r, _ := o.run("console:l1", "status")
	after := dockerPS(t, p.Name)
	m := r.Message
	if len(m.Code) != 1 {
		t.Fatalf("status: %s", render(m))
	}
	rows := tableRows(t, m.Code[0].Text)
	if len(rows) != len(before) || len(before) != 4 {
		t.Fatalf("status lists %d containers, docker ps %d:\n%s", len(rows), len(before), render(m))
	}
	for _, row := range rows {
		name := row["NAME"]
		want, ok := before[name]
		again := after[name]
		again.status = want.status // "Up 4 seconds" may turn "Up 5 seconds" meanwhile
		if !ok || again != want {
			t.Fatalf("container %s: docker ps %+v then %+v", name, want, after[name])
		}
		state := strings.Fields(row["STATE"])[0]
		health := row["HEALTH"]
		if health == "-" {
			health = ""
		}
		if row["SERVICE"] != want.service || state != want.state || health != want.health ||
			!strings.HasPrefix(row["IMAGE"], want.image+" (") {
			t.Errorf("status row %v; docker ps %+v", row, want)
		}
		if want.state == "exited" {
			code := regexp.MustCompile(`^Exited \((\d+)\)`).FindStringSubmatch(want.status)
			if code == nil || row["STATE"] != "exited ("+code[1]+")" {
				t.Errorf("%s: state %q, docker ps status %q", name, row["STATE"], want.status)
			}
			if !strings.HasSuffix(row["UPTIME"], " ago") {
				t.Errorf("%s: an exited container's uptime column %q", name, row["UPTIME"])
			}
		} else if !strings.HasPrefix(row["UPTIME"], "Up ") || !strings.HasPrefix(want.status, "Up ") {
			t.Errorf("%s: uptime %q, docker ps %q", name, row["UPTIME"], want.status)
		}
		// Only frontend runs an image other than the one deployed.
		if marked := strings.HasSuffix(row["IMAGE"], " *"); marked != (row["SERVICE"] == "frontend") {
			t.Errorf("%s: deployed-image mark %v in %q", name, marked, row["IMAGE"])
		}
	}
	if m.Status != bot.StatusFailed || m.Summary != "2 of 4 Up" {
		t.Errorf("status %s, summary %q; want FAILED and 2 of 4 Up\n%s", m.Status, m.Summary, render(m))
	}
	if !strings.Contains(m.Text, "frontend runs "+shortImageID(imageID)+", not 0123456789ab that the bot last deployed") {
		t.Errorf("the note on frontend's image is missing:\n%s", render(m))
	}

	// One service; an unknown one lists the real ones.
	r, _ = o.run("console:l1", "status api")
	if rows := tableRows(t, r.Message.Code[0].Text); len(rows) != 1 || rows[0]["SERVICE"] != "api" || r.Message.Status != bot.StatusOK {
		t.Errorf("status api:\n%s", render(r.Message))
	}
	r, _ = o.run("console:l1", "status nosuch")
	if r.Outcome != bot.OutcomeUsage || !strings.Contains(r.Message.Text, "Services of project "+p.Name+": api, frontend, job, stopped.") {
		t.Errorf("status nosuch: %v\n%s", r.Outcome, render(r.Message))
	}
}

// A deploy record, when there is one, decides over the label.
type deployRecord map[string]string

func (d deployRecord) DeployedImage(_ context.Context, svc string) (string, bool, error) {
	id, ok := d[svc]
	return id, ok, nil
}

func TestStatusMarksAgainstTheDeployRecord(t *testing.T) {
	t.Parallel()
	o := newOps(t, containersPolicy, dockertest.Service{Name: "api", Ports: []string{"3000"}})
	o.s.Deployed = deployRecord{"api": "sha256:feedfacefeedfacefeedface"}
	r, _ := o.run("console:l1", "status")
	if r.Message.Status != bot.StatusWarn || !strings.Contains(r.Message.Text, "not feedfacefeed that the bot last deployed") {
		t.Errorf("status with a deploy record naming another image:\n%s", render(r.Message))
	}
	o.s.Deployed = deployRecord{}
	r, _ = o.run("console:l1", "status")
	if r.Message.Status != bot.StatusOK || r.Message.Text != "" {
		t.Errorf("status without a record or label:\n%s", render(r.Message))
	}
}

// parseDockerSize reads the docker CLI's "12.5MiB", "1.2GB", "0B".
func parseDockerSize(t *testing.T, s string) float64 {
	t.Helper()
	m := regexp.MustCompile(`^([0-9.]+)([A-Za-z]+)$`).FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		t.Fatalf("size %q", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	mult := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
		"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[m[2]]
	if mult == 0 {
		t.Fatalf("unit of %q", s)
	}
	return v * mult
}

func TestStatsAndTopAgreeWithDocker(t *testing.T) {
	t.Parallel()
	data := testenv.Get("SHIFTWISE_TEST_DATA_IMAGE")
	o := newOps(t, containersPolicy,
		dockertest.Service{Name: "idle", Ports: []string{"3000"}},
		// Busy for at most 90 s, so a test killed midway leaves nothing spinning.
		dockertest.Service{Name: "busy", Image: data, Cmd: []string{"timeout", "90", "sh", "-c", "while :; do :; done"}, NoWait: true},
	)
	var (
		wg     sync.WaitGroup
		cli    string
		r      bot.Reply
		errCLI error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "docker", "stats", "--no-stream", "--format",
			"{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.PIDs}}",
			o.project.Service("idle").ID, o.project.Service("busy").ID).CombinedOutput()
		cli, errCLI = string(out), err
	}()
	go func() {
		defer wg.Done()
		r, _ = o.run("console:l1", "stats")
	}()
	wg.Wait()
	if errCLI != nil {
		t.Fatalf("docker stats: %v\n%s", errCLI, cli)
	}
	ours := map[string]map[string]string{}
	for _, row := range tableRows(t, r.Message.Code[0].Text) {
		ours[row["NAME"]] = row
	}
	for _, l := range strings.Split(strings.TrimSpace(cli), "\n") {
		f := strings.Split(l, "|")
		row := ours[f[0]]
		if row == nil {
			t.Fatalf("stats has no row for %s:\n%s", f[0], render(r.Message))
		}
		cpuCLI, _ := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
		cpuOurs, _ := strconv.ParseFloat(strings.TrimSuffix(row["CPU %"], "%"), 64)
		busy := strings.Contains(f[0], "-busy-")
		// The two may read different one-second intervals of the same
		// load, on a machine other work shares: close, and busy is busy.
		if d := cpuOurs - cpuCLI; d > 15 || d < -15 || busy && (cpuCLI < 2 || cpuOurs < 2) || !busy && (cpuCLI > 2 || cpuOurs > 2) {
			t.Errorf("%s: CPU %v%% here, %v%% by docker stats", f[0], cpuOurs, cpuCLI)
		}
		usageCLI, limitCLI, _ := strings.Cut(f[2], " / ")
		usage, limit, _ := strings.Cut(row["MEM USAGE / LIMIT"], " / ")
		if limit != strings.TrimSpace(limitCLI) {
			t.Errorf("%s: memory limit %q here, %q by docker stats", f[0], limit, limitCLI)
		}
		if a, b := parseDockerSize(t, usage), parseDockerSize(t, usageCLI); a < b*0.8-1<<20 || a > b*1.2+1<<20 {
			t.Errorf("%s: memory %s here, %s by docker stats", f[0], usage, usageCLI)
		}
		if !busy && row["PIDS"] != f[4] {
			t.Errorf("%s: %s PIDs here, %s by docker stats", f[0], row["PIDS"], f[4])
		}
	}

	// stats of one service, and top: the same processes as docker top.
	r, _ = o.run("console:l1", "stats idle")
	if rows := tableRows(t, r.Message.Code[0].Text); len(rows) != 1 || rows[0]["SERVICE"] != "idle" {
		t.Errorf("stats idle:\n%s", render(r.Message))
	}
	for _, svc := range []string{"idle", "busy"} {
		id := o.project.Service(svc).ID
		before := dockerCLI(t, "top", id)
		r, _ = o.run("console:l1", "top "+svc)
		after := dockerCLI(t, "top", id)
		pids := func(rows []map[string]string) []string {
			var out []string
			for _, row := range rows {
				out = append(out, row["PID"]+" "+row["CMD"])
			}
			sort.Strings(out)
			return out
		}
		if len(r.Message.Code) != 1 {
			t.Fatalf("top %s:\n%s", svc, render(r.Message))
		}
		got := pids(tableRows(t, r.Message.Code[0].Text))
		want1, want2 := pids(tableRows(t, strings.TrimSpace(before))), pids(tableRows(t, strings.TrimSpace(after)))
		if len(got) == 0 || (strings.Join(got, ",") != strings.Join(want1, ",") && strings.Join(got, ",") != strings.Join(want2, ",")) {
			t.Errorf("top %s: %v; docker top %v then %v", svc, got, want1, want2)
		}
	}
	if r, _ := o.run("console:l1", "top"); r.Outcome != bot.OutcomeUsage {
		t.Errorf("top without a service: %v", r.Outcome)
	}
}

// post sends a control request to a testapp container.
func post(t *testing.T, base, path string, q url.Values) {
	t.Helper()
	resp, err := http.Post(base+path+"?"+q.Encode(), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", path, resp.Status)
	}
}

func TestRestartWaitsUntilHealthyAndFollowsTheLevels(t *testing.T) {
	t.Parallel()
	o := newOps(t, containersPolicy,
		dockertest.Service{Name: "api", Ports: []string{"3000"}, Health: dockertest.HTTPHealth()},
		dockertest.Service{Name: "postgres", Ports: []string{"3000"}, Health: dockertest.HTTPHealth()},
		dockertest.Service{Name: "worker", Ports: []string{"3000"}},
	)
	api, pg, worker := o.project.Service("api").ID, o.project.Service("postgres").ID, o.project.Service("worker").ID
	all := []string{api, pg, worker}
	starts := func() []string {
		var out []string
		for _, id := range all {
			out = append(out, startedAt(t, id))
		}
		return out
	}
	s0 := starts()

	// Refused or bad: nothing restarts.
	for _, tc := range []struct {
		subject, text string
		outcome       bot.Outcome
		says          string
	}{
		{"console:l1", "restart postgres", bot.OutcomeDenied, "needs Level 2"},
		{"console:l1", "restart all", bot.OutcomeDenied, "needs Level 2"},
		{"console:nobody", "restart api", bot.OutcomeDenied, "needs Level 1"},
		{"console:l2", "restart nosuch", bot.OutcomeUsage, "Services of project " + o.project.Name + ": api, postgres, worker."},
		{"console:l2", "restart Postgres", bot.OutcomeUsage, `Unknown service "Postgres"`},
		{"console:l2", `restart "api; docker rm -f $(docker ps -aq)"`, bot.OutcomeUsage, "Unknown service"},
		{"console:l2", "restart api worker", bot.OutcomeUsage, "at most 1"},
		{"console:l2", "restart " + strings.Repeat("a", 3000), bot.OutcomeUsage, "…"},
	} {
		r, _ := o.run(tc.subject, tc.text)
		if r.Outcome != tc.outcome || !strings.Contains(r.Message.Text, tc.says) {
			t.Errorf("%s as %s: %v, want %v saying %q\n%s", clipTest(tc.text), tc.subject, r.Outcome, tc.outcome, tc.says, render(r.Message))
		}
	}
	if fmt.Sprint(starts()) != fmt.Sprint(s0) {
		t.Fatalf("a refused or bad restart restarted something: %v -> %v", s0, starts())
	}

	// Level 1 restarts api; it is healthy again when the command answers.
	r, progress := o.run("console:l1", "restart api")
	if r.Outcome != bot.OutcomeOK || r.Message.Status != bot.StatusOK || !strings.Contains(r.Message.Checks[0].Value, "running, healthy after") {
		t.Fatalf("restart api:\n%s", render(r.Message))
	}
	s1 := starts()
	if s1[0] == s0[0] || s1[1] != s0[1] || s1[2] != s0[2] {
		t.Errorf("restart api: start times %v -> %v; want only api's to change", s0, s1)
	}
	if dockertest.HealthStatus(t, api) != "healthy" {
		t.Errorf("api is %s after restart answered", dockertest.HealthStatus(t, api))
	}
	if len(progress) == 0 || !strings.Contains(render(progress[len(progress)-1]), "is running, healthy after") {
		t.Errorf("restart api reported no progress: %d messages", len(progress))
	}

	// Level 2 restarts all: every container, stateful first.
	r, progress = o.run("console:l2", "restart all")
	if r.Outcome != bot.OutcomeOK || len(r.Message.Checks) != 3 || r.Message.Summary != "restart all: 3 containers restarted, running and healthy" {
		t.Fatalf("restart all:\n%s", render(r.Message))
	}
	if !strings.HasPrefix(r.Message.Checks[0].Name, "postgres ") {
		t.Errorf("restart all did not restart postgres first:\n%s", render(r.Message))
	}
	s2 := starts()
	for i := range s2 {
		if s2[i] == s1[i] {
			t.Errorf("restart all left %s running since %s", all[i], s1[i])
		}
	}
	last := render(progress[len(progress)-1])
	if strings.Index(last, "restarting postgres") > strings.Index(last, "restarting api") {
		t.Errorf("progress: api restarted before postgres was ready:\n%s", last)
	}

	// At the console each progress message is printed below the last: one
	// new step each.
	o.channel = "console"
	_, progress = o.run("console:l1", "restart worker")
	if len(progress) < 3 {
		t.Fatalf("restart worker at the console: %d progress messages", len(progress))
	}
	for _, m := range progress {
		if strings.Count(m.Code[0].Text, "\n") != 0 {
			t.Errorf("a console progress message repeats earlier steps:\n%s", m.Code[0].Text)
		}
	}
}

func clipTest(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

func TestRestartReportsAContainerThatStaysUnhealthy(t *testing.T) {
	t.Parallel()
	p := dockertest.StartProject(t, dockertest.Service{Name: "api", Ports: []string{"3000"},
		Env: []string{"DEMO_HEALTH_MODE=fail"}, Health: &dockertest.Health{Test: dockertest.HTTPHealth().Test, Retries: 1}})
	dockertest.WaitHealth(t, p.Service("api").ID, "unhealthy", 60*time.Second)
	o := opsOn(t, p, containersPolicy)
	r, _ := o.run("console:l1", "restart api")
	c := r.Message.Checks
	if r.Outcome != bot.OutcomeFailed || len(c) != 1 || c[0].Status != bot.StatusFailed || !strings.Contains(c[0].Value, "unhealthy") {
		t.Errorf("restart of a service that stays unhealthy:\n%s", render(r.Message))
	}
}

func TestStopAllAndStartNeedTheirLevelsAndBringTheStackBack(t *testing.T) {
	t.Parallel()
	services := []dockertest.Service{
		{Name: "api", Ports: []string{"3000"}, Health: dockertest.HTTPHealth()},
		{Name: "redis", Ports: []string{"3000"}},
	}
	// Without approvals (no bot database) stop all and start all are
	// requests nobody can take: nothing stops.
	o := newOps(t, containersPolicy, services...)
	for _, text := range []string{"stop all", "start all"} {
		r, _ := o.run("console:l3", text)
		if r.Outcome != bot.OutcomePending || !strings.Contains(r.Message.Text, "approval") {
			t.Errorf("%s without approvals: %v\n%s", text, r.Outcome, render(r.Message))
		}
		r, _ = o.run("console:l2", text)
		if r.Outcome != bot.OutcomeDenied || !strings.Contains(r.Message.Text, "Level 3") {
			t.Errorf("%s at level 2: %v\n%s", text, r.Outcome, render(r.Message))
		}
	}
	for _, c := range o.project.Containers {
		if st := dockertest.State(t, c.ID); st != "running" {
			t.Fatalf("%s is %s after refused requests", c.Name, st)
		}
	}

	// With the approval lifted by the policy, Level 3 stops and starts;
	// the bot's own container (here a stand-in) is left alone.
	self := dockertest.StartNamedProject(t, o.project.Name, dockertest.Service{Name: "shiftwise-bot", Ports: []string{"3000"}}).Containers[0]
	o = opsOn(t, o.project, containersPolicy+"p2, stop:all, -, no-approval\np2, start:all, -, no-approval\n")
	o.s.Self = self.ID
	if r, _ := o.run("console:l3", "restart shiftwise-bot"); r.Outcome != bot.OutcomeFailed || !strings.Contains(r.Message.Text, "the bot's own service") {
		t.Errorf("restart of the bot's own service:\n%s", render(r.Message))
	}
	r, _ := o.run("console:l3", "stop all")
	if r.Outcome != bot.OutcomeOK || r.Message.Summary != "stop all: 2 containers stopped" || !strings.HasPrefix(r.Message.Checks[0].Name, "api ") ||
		!strings.Contains(r.Message.Text, "The bot's own container ("+self.Name+") was left alone.") {
		t.Fatalf("stop all (api before redis, the bot left alone):\n%s", render(r.Message))
	}
	for _, c := range o.project.Containers {
		if st := dockertest.State(t, c.ID); st != "exited" {
			t.Errorf("%s is %s after stop all", c.Name, st)
		}
	}
	if st := dockertest.State(t, self.ID); st != "running" {
		t.Errorf("stop all stopped the bot's own container: %s", st)
	}
	r, _ = o.run("console:l1", "status")
	if r.Message.Status != bot.StatusFailed || r.Message.Summary != "1 of 3 Up" {
		t.Errorf("status after stop all:\n%s", render(r.Message))
	}

	// start <service> at Level 1: the existing container, healthy again.
	api := o.project.Service("api").ID
	created := dockertest.Inspect(t, api).Created
	r, _ = o.run("console:l1", "start api")
	if r.Outcome != bot.OutcomeOK || !strings.Contains(r.Message.Checks[0].Value, "started; running, healthy") {
		t.Fatalf("start api:\n%s", render(r.Message))
	}
	if in := dockertest.Inspect(t, api); in.Created != created || in.State.Health == nil || in.State.Health.Status != "healthy" {
		t.Errorf("start api: not the same container, or not healthy: %+v", in.State)
	}
	r, _ = o.run("console:l1", "start all")
	if r.Outcome != bot.OutcomeDenied {
		t.Errorf("start all at level 1: %v", r.Outcome)
	}
	r, _ = o.run("console:l3", "start all")
	if r.Outcome != bot.OutcomeOK || len(r.Message.Checks) != 2 || !strings.HasPrefix(r.Message.Checks[0].Name, "redis ") ||
		!strings.Contains(r.Message.Checks[1].Value, "already running") {
		t.Fatalf("start all (redis first, api left alone):\n%s", render(r.Message))
	}
	for _, c := range o.project.Containers {
		if st := dockertest.State(t, c.ID); st != "running" {
			t.Errorf("%s is %s after start all", c.Name, st)
		}
	}
}

// An engine that refuses, or accepts and never answers: every container
// command ends by its deadline with one sentence naming the project.
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
func TestRestartAllNeedsTheLevelOfEveryLiveService(t *testing.T) {
	t.Parallel()
	p := dockertest.StartProject(t,
		dockertest.Service{Name: "api", Ports: []string{"3000"}},
		dockertest.Service{Name: "billing", Ports: []string{"3000"}},
	)
	o := opsOn(t, p, containersPolicy+"p2, restart:billing, level3, -\n")
	before := startedAt(t, p.Service("billing").ID)
	r, _ := o.run("console:l2", "restart all")
	if r.Outcome != bot.OutcomeDenied || !strings.Contains(r.Message.Text, "needs Level 3") {
		t.Errorf("restart all with billing at level 3, as level 2: %v\n%s", r.Outcome, render(r.Message))
	}
	if startedAt(t, p.Service("billing").ID) != before {
		t.Error("billing restarted by a refused request")
	}
	if r, _ := o.run("console:l2", "restart api"); r.Outcome != bot.OutcomeOK {
		t.Errorf("restart api as level 2: %v\n%s", r.Outcome, render(r.Message))
	}
}
