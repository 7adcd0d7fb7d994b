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
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	dataRootTTL        = 10 * time.Minute // how long DataRoot trusts /info
)

// Client reads the state of one compose project from the Docker Engine.
// It is safe for concurrent use.
type Client struct {
	api        *client.Client
	host       string
	project    string
	negotiated atomic.Bool

	rootMu sync.Mutex // guards root and rootAt, the cached DataRoot
	root   string
	rootAt time.Time
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
	Status   string
	ExitCode int // of an exited container
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
//
// The engine's /info is slow (tens of milliseconds: it counts images and
// asks its runtimes) and the data root only changes with a daemon restart,
// so a successful answer is kept for dataRootTTL.
func (c *Client) DataRoot(ctx context.Context) (string, error) {
	c.rootMu.Lock()
	defer c.rootMu.Unlock()
	if c.root != "" && time.Since(c.rootAt) < dataRootTTL {
		return c.root, nil
	}
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
	c.root, c.rootAt = res.Info.DockerRootDir, time.Now()
	return c.root, nil
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
		out = append(out, fromSummary(s))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// Docker's status text, as `docker ps` shows it: "Up 5 minutes (healthy)",
// "Up 2 seconds (health: starting)", "Exited (137) 3 hours ago". Before API
// 1.52 the list has no health or exit code fields, and this text is where
// the engine states them; reading it saves an inspect per container, which
// is most of the cost of a health check on a busy engine.
var (
	healthInStatus = regexp.MustCompile(`\((healthy|unhealthy|health: starting)\)`)
	exitInStatus   = regexp.MustCompile(`^Exited \((-?\d+)\)`)
)

func fromSummary(s container.Summary) Container {
	ct := Container{
		ID:      s.ID,
		Service: s.Labels[LabelService],
		Image:   s.Image,
		State:   string(s.State),
		Status:  s.Status,
	}
	if len(s.Names) > 0 {
		ct.Name = strings.TrimPrefix(s.Names[0], "/")
	}
	running := s.State == container.StateRunning || s.State == container.StatePaused
	if m := healthInStatus.FindStringSubmatch(s.Status); m != nil && running {
		ct.Health = strings.TrimPrefix(m[1], "health: ")
	}
	if m := exitInStatus.FindStringSubmatch(s.Status); m != nil {
		ct.ExitCode, _ = strconv.Atoi(m[1])
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
