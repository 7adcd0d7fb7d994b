package docker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Deadlines of the container operations when the caller's context has none.
const (
	defaultStopSeconds = 10              // SIGTERM grace before SIGKILL, as docker-compose
	defaultOpTimeout   = 2 * time.Minute // restart, start, stop of one container
	readyPoll          = 250 * time.Millisecond
)

// Detail is one container as `docker inspect` shows it, in the bot's words.
type Detail struct {
	Container
	ImageID      string    // sha256:… of the image the container runs
	StartedAt    time.Time // zero when never started
	FinishedAt   time.Time // of the last exit; zero when it never exited
	RestartCount int       // restarts by the engine's restart policy
	OOMKilled    bool
	// DeployedImage is the LabelDeployedImage label, "" without one.
	DeployedImage string
	// HasHealthcheck tells a container without a healthcheck (Health "")
	// from one whose health is not known yet.
	HasHealthcheck bool
}

// Inspect returns the engine's current view of one container.
func (c *Client) Inspect(ctx context.Context, containerID string) (Detail, error) {
	ctx, cancel := withDefaultTimeout(ctx, defaultCallTimeout)
	defer cancel()
	if err := c.negotiate(ctx); err != nil {
		return Detail{}, fmt.Errorf("docker: inspect container %s: %w", shortID(containerID), err)
	}
	res, err := c.api.ContainerInspect(ctx, containerID, client.ContainerInspectOptions{})
	if err != nil {
		return Detail{}, fmt.Errorf("docker: inspect container %s: %w", shortID(containerID), err)
	}
	return fromInspect(res.Container), nil
}

func fromInspect(in container.InspectResponse) Detail {
	d := Detail{Container: Container{ID: in.ID, Name: trimSlash(in.Name)}, ImageID: in.Image, RestartCount: in.RestartCount}
	if in.Config != nil {
		d.Image = in.Config.Image
		d.Service = in.Config.Labels[LabelService]
		d.DeployedImage = in.Config.Labels[LabelDeployedImage]
		d.HasHealthcheck = in.Config.Healthcheck != nil && len(in.Config.Healthcheck.Test) > 0 && in.Config.Healthcheck.Test[0] != "NONE"
	}
	if st := in.State; st != nil {
		d.State = string(st.Status)
		d.ExitCode = st.ExitCode
		d.OOMKilled = st.OOMKilled
		d.StartedAt = parseEngineTime(st.StartedAt)
		d.FinishedAt = parseEngineTime(st.FinishedAt)
		running := st.Status == container.StateRunning || st.Status == container.StatePaused
		if st.Health != nil && running {
			d.Health = string(st.Health.Status)
			if d.Health == string(container.NoHealthcheck) {
				d.Health = ""
			}
		}
		if st.Health != nil && st.Health.Status != container.NoHealthcheck {
			d.HasHealthcheck = true
		}
	}
	return d
}

// parseEngineTime reads the engine's RFC 3339 times; its zero time
// ("0001-01-01T00:00:00Z") and anything unreadable are the zero Time.
func parseEngineTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

func trimSlash(s string) string {
	if len(s) > 0 && s[0] == '/' {
		return s[1:]
	}
	return s
}

// Details lists the project's containers (as Containers does) and
// inspects each of them concurrently, in the same order.
func (c *Client) Details(ctx context.Context) ([]Detail, error) {
	list, err := c.Containers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Detail, len(list))
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, ct := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := c.Inspect(ctx, ct.ID)
			if cerrdefs.IsNotFound(err) { // removed between list and inspect
				d, err = Detail{Container: ct}, nil
				d.State = "removed"
			}
			out[i], errs[i] = d, err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// Restart restarts the container as `docker restart` does: SIGTERM, up
// to stop of grace (0: the compose default of 10 s), SIGKILL, start.
func (c *Client) Restart(ctx context.Context, containerID string, stop time.Duration) error {
	ctx, cancel := withDefaultTimeout(ctx, defaultOpTimeout)
	defer cancel()
	secs := stopSeconds(stop)
	if err := c.negotiate(ctx); err != nil {
		return fmt.Errorf("docker: restart container %s: %w", shortID(containerID), err)
	}
	if _, err := c.api.ContainerRestart(ctx, containerID, client.ContainerRestartOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("docker: restart container %s: %w", shortID(containerID), err)
	}
	return nil
}

// Start starts a stopped container (the existing one, with its
// configuration), as `docker start`. Starting a running one is no error.
func (c *Client) Start(ctx context.Context, containerID string) error {
	ctx, cancel := withDefaultTimeout(ctx, defaultOpTimeout)
	defer cancel()
	if err := c.negotiate(ctx); err != nil {
		return fmt.Errorf("docker: start container %s: %w", shortID(containerID), err)
	}
	if _, err := c.api.ContainerStart(ctx, containerID, client.ContainerStartOptions{}); err != nil && !cerrdefs.IsNotModified(err) {
		return fmt.Errorf("docker: start container %s: %w", shortID(containerID), err)
	}
	return nil
}

// Stop stops the container as `docker stop`: SIGTERM, up to stop of grace
// (0: 10 s), SIGKILL. Stopping a stopped one is no error.
func (c *Client) Stop(ctx context.Context, containerID string, stop time.Duration) error {
	ctx, cancel := withDefaultTimeout(ctx, defaultOpTimeout)
	defer cancel()
	secs := stopSeconds(stop)
	if err := c.negotiate(ctx); err != nil {
		return fmt.Errorf("docker: stop container %s: %w", shortID(containerID), err)
	}
	if _, err := c.api.ContainerStop(ctx, containerID, client.ContainerStopOptions{Timeout: &secs}); err != nil && !cerrdefs.IsNotModified(err) {
		return fmt.Errorf("docker: stop container %s: %w", shortID(containerID), err)
	}
	return nil
}

func stopSeconds(d time.Duration) int {
	if d <= 0 {
		return defaultStopSeconds
	}
	return max(1, int((d+time.Second-1)/time.Second))
}

// ErrNotReady is wrapped by WaitReady when the container did not become
// ready: it exited, turned unhealthy, or ctx ended first.
var ErrNotReady = errors.New("container not ready")

// settle is how long a container without a healthcheck must keep running
// (the same run: its start time unchanged) before WaitReady trusts it, so
// a process that dies right after starting is not reported as up.
const settle = 2 * time.Second

// WaitReady waits until the container runs and, when it has a
// healthcheck, is healthy, polling its state; one without a healthcheck
// must keep running for two seconds. It returns the last state seen; the
// error wraps ErrNotReady when the container exited, turned unhealthy, or
// ctx ended (the caller's bound) before it was ready.
func (c *Client) WaitReady(ctx context.Context, containerID string) (Detail, error) {
	var last Detail
	var runSince time.Time // when this run was first seen running, by our clock
	t := time.NewTicker(readyPoll)
	defer t.Stop()
	for {
		d, err := c.Inspect(ctx, containerID)
		if err != nil {
			if ctx.Err() != nil {
				return last, fmt.Errorf("%w: %s after %v (%v)", ErrNotReady, describe(last), ctx.Err(), err)
			}
			return last, err
		}
		if d.State != "running" || !d.StartedAt.Equal(last.StartedAt) {
			runSince = time.Time{}
		}
		if d.State == "running" && runSince.IsZero() {
			runSince = time.Now()
		}
		last = d
		switch {
		case d.State == "running" && d.HasHealthcheck && d.Health == "healthy":
			return d, nil
		case d.State == "running" && !d.HasHealthcheck && time.Since(runSince) >= settle:
			return d, nil
		case d.State == "running" && d.Health == "unhealthy":
			return d, fmt.Errorf("%w: %s is unhealthy", ErrNotReady, d.Name)
		case d.State == "exited" || d.State == "dead":
			return d, fmt.Errorf("%w: %s %s (exit code %d)", ErrNotReady, d.Name, d.State, d.ExitCode)
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("%w: %s, still %s", ErrNotReady, d.Name, describe(d))
		case <-t.C:
		}
	}
}

func describe(d Detail) string {
	switch {
	case d.State == "":
		return "state unknown"
	case d.Health != "":
		return d.State + ", health " + d.Health
	}
	return d.State
}

// Processes is `docker top`: the titles of ps's columns and one row per
// process in the container.
type Processes struct {
	Titles []string
	Rows   [][]string
}

// Top lists the processes running in the container, as `docker top`
// does (the engine runs ps -ef on the host, limited to the container).
func (c *Client) Top(ctx context.Context, containerID string) (Processes, error) {
	ctx, cancel := withDefaultTimeout(ctx, defaultCallTimeout)
	defer cancel()
	if err := c.negotiate(ctx); err != nil {
		return Processes{}, fmt.Errorf("docker: top of container %s: %w", shortID(containerID), err)
	}
	res, err := c.api.ContainerTop(ctx, containerID, client.ContainerTopOptions{})
	if err != nil {
		return Processes{}, fmt.Errorf("docker: top of container %s: %w", shortID(containerID), err)
	}
	return Processes{Titles: res.Titles, Rows: res.Processes}, nil
}
