// Package docker is the bot's view of one docker-compose project through the
// Docker Engine API: which containers the project has and in what state
// (the runbook's `docker-compose ps`), how many of their log lines match
// (`docker-compose logs | grep`), and where the engine keeps its data.
//
// A container belongs to the project when it carries the label
// com.docker.compose.project=<project>; its service is the label
// com.docker.compose.service. This is the only package of the bot that
// imports the Docker client; its API speaks in plain structs of its own.
package docker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Compose labels that tie a container to its project and service.
const (
	LabelProject = "com.docker.compose.project"
	LabelService = "com.docker.compose.service"
)

// Deadlines applied when the caller's context has none, so that a daemon
// that accepts connections and never answers cannot hang the bot.
const (
	defaultCallTimeout = 15 * time.Second // ping, info, list, inspect
	defaultLogsTimeout = 2 * time.Minute  // reading a day of logs
)

// Client reads the state of one compose project from the Docker Engine.
// It is safe for concurrent use.
type Client struct {
	api        *client.Client
	host       string
	project    string
	negotiated atomic.Bool
}

// New returns a client for the engine at host (a DOCKER_HOST value such as
// unix:///var/run/docker.sock or tcp://127.0.0.1:2375; "" means the default
// unix socket) and for the compose project named project. TLS settings
// (DOCKER_CERT_PATH, DOCKER_TLS_VERIFY) and a pinned DOCKER_API_VERSION are
// taken from the environment as the docker CLI does. New does not connect:
// the API version is negotiated on the first call.
func New(host, project string) (*Client, error) {
	if project == "" {
		return nil, errors.New("docker: compose project name is empty")
	}
	if host == "" {
		host = client.DefaultDockerHost
	}
	api, err := client.New(
		client.WithTLSClientConfigFromEnv(),
		client.WithHost(host),
		client.WithAPIVersionFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("docker: client for %s: %w", host, err)
	}
	return &Client{api: api, host: host, project: project}, nil
}

// Close releases the client's idle connections.
func (c *Client) Close() error { return c.api.Close() }

// Project returns the compose project name this client looks at.
func (c *Client) Project() string { return c.project }

// Host returns the engine address this client talks to.
func (c *Client) Host() string { return c.host }

// Container is one container of the project as `docker-compose ps` shows it.
type Container struct {
	ID      string
	Name    string // without the leading slash
	Service string // the com.docker.compose.service label
	Image   string // as the container was created, e.g. shiftwise/api:1.4
	// State is running, exited, restarting, paused, created, removing or dead.
	State string
	// Health is healthy, unhealthy or starting; "" when the container has no
	// healthcheck or is not running (Docker keeps a stale value then).
	Health string
	// Status is Docker's human text, e.g. "Up 5 minutes (healthy)".
	Status    string
	ExitCode  int
	StartedAt time.Time // zero when it never started
}

// Ping checks that the engine answers, negotiating the API version.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx, defaultCallTimeout)
	defer cancel()
	if _, err := c.api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return fmt.Errorf("docker: ping %s: %w", c.host, err)
	}
	c.negotiated.Store(true)
	return nil
}

// negotiate makes sure the API version is settled before a versioned call.
// The moby client negotiates lazily too, but it ignores a failed
// negotiation and then speaks its newest version, which an older engine
// rejects with a confusing "client version is too new".
func (c *Client) negotiate(ctx context.Context) error {
	if c.negotiated.Load() {
		return nil
	}
	return c.Ping(ctx)
}

// DataRoot returns the engine's data directory (docker info's DockerRootDir).
func (c *Client) DataRoot(ctx context.Context) (string, error) {
	ctx, cancel := withDefaultTimeout(ctx, defaultCallTimeout)
	defer cancel()
	if err := c.negotiate(ctx); err != nil {
		return "", fmt.Errorf("docker: data root: %w", err)
	}
	res, err := c.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", fmt.Errorf("docker: info from %s: %w", c.host, err)
	}
	if res.Info.DockerRootDir == "" {
		return "", fmt.Errorf("docker: info from %s has no DockerRootDir", c.host)
	}
	return res.Info.DockerRootDir, nil
}

// Containers returns every container of the project, running or not,
// sorted by service and then by name.
func (c *Client) Containers(ctx context.Context) ([]Container, error) {
	ctx, cancel := withDefaultTimeout(ctx, defaultCallTimeout)
	defer cancel()
	if err := c.negotiate(ctx); err != nil {
		return nil, fmt.Errorf("docker: list containers of project %s: %w", c.project, err)
	}
	list, err := c.api.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", LabelProject+"="+c.project),
	})
	if err != nil {
		return nil, fmt.Errorf("docker: list containers of project %s: %w", c.project, err)
	}
	out := make([]Container, 0, len(list.Items))
	for _, s := range list.Items {
		if s.Labels[LabelProject] != c.project { // the filter already did this; be sure
			continue
		}
		// The list lacks exit code, start time and (before API 1.52)
		// health: inspect each container. A project has a handful.
		res, err := c.api.ContainerInspect(ctx, s.ID, client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			continue // removed since the list
		}
		if err != nil {
			return nil, fmt.Errorf("docker: inspect container %s of project %s: %w", shortID(s.ID), c.project, err)
		}
		out = append(out, fromInspect(s, res.Container))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func fromInspect(s container.Summary, in container.InspectResponse) Container {
	ct := Container{
		ID:      s.ID,
		Service: s.Labels[LabelService],
		Image:   s.Image,
		State:   string(s.State),
		Status:  s.Status,
		Name:    strings.TrimPrefix(in.Name, "/"),
	}
	if ct.Name == "" && len(s.Names) > 0 {
		ct.Name = strings.TrimPrefix(s.Names[0], "/")
	}
	if in.Config != nil && in.Config.Image != "" {
		ct.Image = in.Config.Image
	}
	if st := in.State; st != nil {
		if st.Status != "" {
			ct.State = string(st.Status) // fresher than the list
		}
		ct.ExitCode = st.ExitCode
		if t, err := time.Parse(time.RFC3339Nano, st.StartedAt); err == nil && t.Year() > 1 {
			ct.StartedAt = t
		}
		running := st.Status == container.StateRunning || st.Status == container.StatePaused
		if running && st.Health != nil && st.Health.Status != container.NoHealthcheck {
			ct.Health = string(st.Health.Status)
		}
	}
	return ct
}

func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
