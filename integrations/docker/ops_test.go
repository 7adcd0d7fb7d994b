package docker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
)

func TestOperationsAndWaitReady(t *testing.T) {
	t.Parallel()
	p := dockertest.StartProject(t,
		dockertest.Service{Name: "web", Ports: []string{"3000"}, Health: dockertest.HTTPHealth()},
		dockertest.Service{Name: "plain", Ports: []string{"3000"}, Labels: map[string]string{docker.LabelDeployedImage: "sha256:abc"}},
		dockertest.Service{Name: "job", Cmd: []string{"exit", "3"}},
	)
	c := newClient(t, p.Name)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	web, plain, job := p.Service("web").ID, p.Service("plain").ID, p.Service("job").ID
	dockertest.WaitHealthy(t, web, time.Minute)
	dockertest.WaitState(t, job, "exited", 30*time.Second)

	details, err := c.Details(ctx)
	if err != nil || len(details) != 3 {
		t.Fatalf("Details: %v %+v", err, details)
	}
	for _, d := range details {
		in := dockertest.Inspect(t, d.ID)
		if d.ImageID != in.Image || d.StartedAt.IsZero() || !d.HasHealthcheck != (d.Service != "web") {
			t.Errorf("%s: %+v", d.Service, d)
		}
		if (d.DeployedImage == "sha256:abc") != (d.Service == "plain") {
			t.Errorf("%s: deployed image label %q", d.Service, d.DeployedImage)
		}
	}

	// Restart: a new start time; ready once healthy.
	before := dockertest.Inspect(t, web).State.StartedAt
	if err := c.Restart(ctx, web, time.Second); err != nil {
		t.Fatal(err)
	}
	d, err := c.WaitReady(ctx, web)
	if err != nil || d.Health != "healthy" || dockertest.Inspect(t, web).State.StartedAt == before {
		t.Errorf("after restart: %v %+v", err, d)
	}
	// Without a healthcheck: ready after running two seconds.
	if err := c.Stop(ctx, plain, time.Second); err != nil || dockertest.State(t, plain) != "exited" {
		t.Fatalf("stop: %v, %s", err, dockertest.State(t, plain))
	}
	if err := c.Stop(ctx, plain, time.Second); err != nil {
		t.Errorf("stopping a stopped container: %v", err)
	}
	if err := c.Start(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, plain); err != nil {
		t.Errorf("starting a running container: %v", err)
	}
	start := time.Now()
	if d, err := c.WaitReady(ctx, plain); err != nil || d.State != "running" || time.Since(start) < 2*time.Second {
		t.Errorf("WaitReady without a healthcheck: %v %+v after %s", err, d, time.Since(start))
	}
	// A container that exits at once is not ready, and says why.
	if err := c.Start(ctx, job); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitReady(ctx, job); !errors.Is(err, docker.ErrNotReady) || !strings.Contains(err.Error(), "exit code 3") {
		t.Errorf("WaitReady of a job that exits: %v", err)
	}
	// The caller's bound ends the wait.
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	if err := c.Restart(ctx, plain, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitReady(short, plain); !errors.Is(err, docker.ErrNotReady) {
		t.Errorf("WaitReady past its bound: %v", err)
	}

	top, err := c.Top(ctx, web)
	if err != nil || len(top.Rows) == 0 || !strings.Contains(strings.Join(top.Titles, " "), "PID") {
		t.Errorf("Top: %v %+v", err, top)
	}
	st, err := c.Stats(ctx, web)
	if err != nil || st.MemUsage == 0 || st.MemLimit == 0 || st.PIDs == 0 {
		t.Errorf("Stats: %v %+v", err, st)
	}
	if _, err := c.Inspect(ctx, "nosuchcontainer"); err == nil {
		t.Error("Inspect of a missing container: no error")
	}
}
