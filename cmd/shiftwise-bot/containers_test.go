package main

import (
	"strings"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
)

// The container commands as wired by main, one-shot, on a throwaway
// project (never the shared demo stack: restart changes state).
func TestContainerCommandsOneShot(t *testing.T) {
	p := dockertest.StartProject(t,
		dockertest.Service{Name: "api", Ports: []string{"3000"}, Health: dockertest.HTTPHealth()},
		dockertest.Service{Name: "postgres", Ports: []string{"3000"}},
	)
	dockertest.WaitHealthy(t, p.Service("api").ID, time.Minute)
	env := map[string]string{"DOCKER_HOST": dockertest.Host(t), "SHIFTWISE_COMPOSE_PROJECT": p.Name}
	pg := dockertest.Inspect(t, p.Service("postgres").ID).State.StartedAt

	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"status"}, 0, "2 of 2 Up"},
		{[]string{"stats", "api"}, 0, p.Service("api").Name},
		{[]string{"top", "api"}, 0, "/testapp"},
		{[]string{"logs", "api", "--tail", "5"}, 0, "Logs of api"},
		{[]string{"errors"}, 0, "0 error lines"},
		{[]string{"host"}, 0, "Mounted on"},
		{[]string{"restart", "nosuch"}, 2, "Services of project " + p.Name + ": api, postgres."},
		{[]string{"restart", "postgres"}, 3, "needs Level 2"}, // the example policy: console users hold Level 1
		{[]string{"restart", "all"}, 3, "needs Level 2"},
		{[]string{"stop", "all"}, 3, "needs Level 3"},
		{[]string{"start", "all"}, 3, "needs Level 3"},
		{[]string{"restart", "api"}, 0, "restart api: 1 containers restarted, running and healthy"},
	} {
		code, out, stderr := runWith(env, "", tc.args...)
		if code != tc.code || !strings.Contains(out, tc.says) {
			t.Errorf("%q: exit %d, want %d saying %q\n%s%s", tc.args, code, tc.code, tc.says, out, stderr)
		}
	}
	if now := dockertest.Inspect(t, p.Service("postgres").ID).State.StartedAt; now != pg {
		t.Errorf("postgres restarted (%s -> %s) though every request for it was refused", pg, now)
	}
}
