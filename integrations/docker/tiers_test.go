package docker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
)

func TestTiersPutStatefulServicesFirstAndStopThemLast(t *testing.T) {
	ct := func(svc string) docker.Container { return docker.Container{ID: svc + "-id", Service: svc} }
	names := func(tiers [][]docker.Container) string {
		var out []string
		for _, tier := range tiers {
			var s []string
			for _, c := range tier {
				s = append(s, c.Service)
			}
			out = append(out, strings.Join(s, ","))
		}
		return strings.Join(out, " | ")
	}
	mixed := []docker.Container{ct("api"), ct("postgres"), ct("nginx"), ct("redis"), ct("")}
	for _, tc := range []struct {
		list     []docker.Container
		stopping bool
		want     string
	}{
		{mixed, false, "postgres,redis | api,nginx,"},
		{mixed, true, "api,nginx, | postgres,redis"},
		{[]docker.Container{ct("api")}, false, "api"},
		{[]docker.Container{ct("redis")}, true, "redis"},
		{nil, false, ""},
		{nil, true, ""},
	} {
		if got := names(docker.Tiers(tc.list, tc.stopping)); got != tc.want {
			t.Errorf("Tiers(%d containers, stopping %v) = %q, want %q", len(tc.list), tc.stopping, got, tc.want)
		}
	}
	for svc, want := range map[string]bool{"postgres": true, "redis": true, "api": false, "frontend": false, "nginx": false, "Postgres": false, "": false} {
		if docker.Stateful(svc) != want {
			t.Errorf("Stateful(%q) = %v", svc, !want)
		}
	}
}

// steps records what Operate reports, in order.
type steps struct {
	mu   sync.Mutex
	seen []docker.Step
}

func (s *steps) add(st docker.Step) {
	s.mu.Lock()
	s.seen = append(s.seen, st)
	s.mu.Unlock()
}

// index is the position of the first step of svc in phase, -1 if none.
func (s *steps) index(svc string, phase docker.Phase) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.IndexFunc(s.seen, func(st docker.Step) bool { return st.Container.Service == svc && st.Phase == phase })
}

func lastPhases(res docker.Operated) string {
	var out []string
	for _, st := range res.Steps {
		out = append(out, fmt.Sprintf("%s:%d", st.Container.Service, st.Phase))
	}
	return strings.Join(out, " ")
}

// Operate on the real engine: tiers in order, each waited for before the
// next, the bot's own container spared, and every outcome a step.
func TestOperateInTiersSparingTheBot(t *testing.T) {
	t.Parallel()
	p := dockertest.StartProject(t,
		dockertest.Service{Name: "postgres", Ports: []string{"3000"}, Health: dockertest.HTTPHealth()},
		dockertest.Service{Name: "api", Ports: []string{"3000"}, Health: dockertest.HTTPHealth()},
		dockertest.Service{Name: "worker", Ports: []string{"3000"}},
		dockertest.Service{Name: "shiftwise-bot", Ports: []string{"3000"}},
	)
	c := newClient(t, p.Name)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	self := p.Service("shiftwise-bot")
	opts := func(rec *steps) docker.OperateOptions {
		return docker.OperateOptions{StopGrace: time.Second, ReadyTimeout: time.Minute, Self: self.ID, Progress: rec.add}
	}

	// Stop: api and worker first, postgres after both stopped; the bot runs on.
	var rec steps
	res := c.Operate(ctx, docker.OpStop, containers(t, c), opts(&rec))
	if len(res.Spared) != 1 || res.Spared[0].ID != self.ID {
		t.Errorf("stop spared %+v, want the bot's container", res.Spared)
	}
	if got := lastPhases(res); len(res.Steps) != 3 || !strings.HasSuffix(got, "postgres:2") || strings.Count(got, ":2") != 3 {
		t.Errorf("stop: %s, want api and worker Done, then postgres Done", got)
	}
	for _, svc := range []string{"api", "worker"} {
		if rec.index(svc, docker.Done) > rec.index("postgres", docker.Begun) {
			t.Errorf("postgres was stopped before %s had stopped: %+v", svc, rec.seen)
		}
	}
	for _, svc := range []string{"postgres", "api", "worker"} {
		if st := dockertest.State(t, p.Service(svc).ID); st != "exited" {
			t.Errorf("%s is %s after stop", svc, st)
		}
	}
	if st := dockertest.State(t, self.ID); st != "running" {
		t.Errorf("the bot's own container is %s after stop", st)
	}

	// Stopping what is stopped leaves it alone.
	rec = steps{}
	res = c.Operate(ctx, docker.OpStop, containers(t, c), opts(&rec))
	if got := lastPhases(res); strings.Count(got, fmt.Sprintf(":%d", docker.LeftAlone)) != 3 || rec.index("api", docker.Begun) != -1 {
		t.Errorf("stop of stopped containers: %s", got)
	}

	// Start: postgres first and ready (healthy) before api begins.
	rec = steps{}
	res = c.Operate(ctx, docker.OpStart, containers(t, c), opts(&rec))
	if len(res.Steps) != 3 || res.Steps[0].Container.Service != "postgres" {
		t.Fatalf("start: %s", lastPhases(res))
	}
	for _, st := range res.Steps {
		wantHealth := map[string]string{"postgres": "healthy", "api": "healthy", "worker": ""}[st.Container.Service]
		if st.Phase != docker.Ready || st.WasUp || st.Detail.State != "running" || st.Detail.Health != wantHealth || st.Took <= 0 {
			t.Errorf("start %s: %+v", st.Container.Service, st)
		}
	}
	if rec.index("postgres", docker.Ready) > rec.index("api", docker.Begun) || rec.index("postgres", docker.Done) == -1 {
		t.Errorf("api began before postgres was ready: %+v", rec.seen)
	}

	// Starting what runs only waits for it.
	rec = steps{}
	res = c.Operate(ctx, docker.OpStart, containers(t, c), opts(&rec))
	for _, st := range res.Steps {
		if st.Phase != docker.Ready || !st.WasUp || rec.index(st.Container.Service, docker.LeftAlone) == -1 {
			t.Errorf("start of a running %s: %+v", st.Container.Service, st)
		}
	}
	if rec.index("api", docker.Begun) != -1 {
		t.Errorf("start of running containers asked the engine to start one: %+v", rec.seen)
	}

	// A container the engine does not know fails, alone.
	gone := docker.Container{ID: "nosuchcontainer", Name: "gone", Service: "api", State: "running"}
	res = c.Operate(ctx, docker.OpRestart, []docker.Container{gone}, opts(&steps{}))
	if len(res.Steps) != 1 || res.Steps[0].Phase != docker.Failed || res.Steps[0].Err == nil {
		t.Errorf("restart of a missing container: %+v", res.Steps)
	}
	// Naming only the bot's own container acts on nothing.
	if res = c.Operate(ctx, docker.OpRestart, []docker.Container{{ID: self.ID, Service: self.Service}}, opts(&steps{})); len(res.Steps) != 0 || len(res.Spared) != 1 {
		t.Errorf("restart of the bot's own container: %+v", res)
	}
}

// A restarted container that turns unhealthy is NotReady, and one whose
// health is still starting when the wait ends is Starting.
func TestOperateReportsContainersThatAreNotReady(t *testing.T) {
	t.Parallel()
	p := dockertest.StartProject(t,
		dockertest.Service{Name: "api", Ports: []string{"3000"}, Env: []string{"DEMO_HEALTH_MODE=fail"},
			Health: &dockertest.Health{Test: dockertest.HTTPHealth().Test, Retries: 1}},
		dockertest.Service{Name: "frontend", Ports: []string{"3000"},
			Health: &dockertest.Health{Test: dockertest.HTTPHealth().Test, Interval: 10 * time.Minute, StartPeriod: 10 * time.Minute}},
	)
	c := newClient(t, p.Name)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res := c.Operate(ctx, docker.OpRestart, containers(t, c), docker.OperateOptions{StopGrace: time.Second, ReadyTimeout: 20 * time.Second})
	if len(res.Steps) != 2 {
		t.Fatalf("restart: %+v", res.Steps)
	}
	for _, st := range res.Steps {
		switch st.Container.Service {
		case "api":
			if st.Phase != docker.NotReady || !errors.Is(st.Err, docker.ErrNotReady) || !strings.Contains(st.Err.Error(), "unhealthy") {
				t.Errorf("api that fails its healthcheck: %+v", st)
			}
		case "frontend":
			if st.Phase != docker.Starting || st.Err != nil || st.Detail.Health != "starting" {
				t.Errorf("frontend whose health is still starting: %+v", st)
			}
		}
	}
}
