package commands

import (
	"strings"
	"testing"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
)

// TestContainersCheckNamesEachContainerOnce: every mix of states names
// each container that is not Up and healthy exactly once, with its state
// (failing ones first, then starting ones), and the verdict is the worst
// of them.
func TestContainersCheckNamesEachContainerOnce(t *testing.T) {
	up := func(svc string) docker.Container {
		return docker.Container{Name: "shiftwise_" + svc + "_1", Service: svc, State: "running", Health: "healthy"}
	}
	with := func(c docker.Container, state, health string, code int) docker.Container {
		c.State, c.Health, c.ExitCode = state, health, code
		return c
	}
	for _, c := range []struct {
		name   string
		list   []docker.Container
		status bot.Status
		value  string
	}{
		{"all up", []docker.Container{up("api"), up("redis"), {Name: "x_1", Service: "nginx", State: "running"}},
			bot.StatusOK, "3 of 3 Up"},
		{"paused and starting (the report)", []docker.Container{up("api"), up("frontend"), up("nginx"),
			with(up("postgres"), "running", "starting", 0), with(up("redis"), "paused", "", 0)},
			bot.StatusFailed, "3 of 5 Up; redis paused, postgres starting"},
		{"only starting", []docker.Container{up("api"), with(up("postgres"), "running", "starting", 0)},
			bot.StatusWarn, "1 of 2 Up; postgres starting"},
		{"every failing state", []docker.Container{with(up("api"), "exited", "", 137), with(up("frontend"), "running", "unhealthy", 0),
			with(up("nginx"), "restarting", "", 0), with(up("postgres"), "dead", "", 0), with(up("redis"), "created", "", 0),
			with(up("worker"), "running", "starting", 0), with(up("cron"), "removing", "", 0)},
			bot.StatusFailed, "0 of 7 Up; api exited (137), frontend unhealthy, nginx restarting, postgres dead, redis created, cron removing, worker starting"},
		{"a scaled service is named by container", []docker.Container{
			with(docker.Container{Name: "shiftwise_api_1", Service: "api"}, "running", "starting", 0),
			with(docker.Container{Name: "shiftwise_api_2", Service: "api"}, "paused", "", 0), up("redis")},
			bot.StatusFailed, "1 of 3 Up; shiftwise_api_2 paused, shiftwise_api_1 starting"},
		{"no service label", []docker.Container{with(docker.Container{Name: "stray"}, "exited", "", 1)},
			bot.StatusFailed, "0 of 1 Up; stray exited (1)"},
	} {
		got := containersCheck(c.list)
		if got.Name != "containers" || got.Status != c.status || got.Value != c.value {
			t.Errorf("%s: %s %q; want %s %q", c.name, got.Status, got.Value, c.status, c.value)
		}
		services := map[string]int{}
		for _, ct := range c.list {
			services[ct.Service]++
		}
		for _, ct := range c.list {
			if ct.State == "running" && ct.Health != "unhealthy" && ct.Health != "starting" {
				continue
			}
			who := ct.Service
			if who == "" || services[who] > 1 {
				who = ct.Name
			}
			if n := strings.Count(got.Value, who+" "); n != 1 {
				t.Errorf("%s: %s named %d times in %q", c.name, who, n, got.Value)
			}
		}
	}
}
