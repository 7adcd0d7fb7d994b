package commands

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
)

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
