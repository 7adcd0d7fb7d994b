// Package dockertest runs throwaway compose-like projects on the real Docker
// Engine for tests: containers labelled as services of a unique project,
// ports published on 127.0.0.1 only, removed when the test ends. It is test
// support only and, unlike the bot, may use the moby client directly.
//
//	p := dockertest.StartProject(t,
//		dockertest.Service{Name: "api", Ports: []string{"3000"}, Health: dockertest.HTTPHealth()},
//		dockertest.Service{Name: "worker", Cmd: []string{"exit", "3"}},
//	)
//	api := p.Service("api")
//	dockertest.WaitHealth(t, api.ID, "healthy", 30*time.Second)
//	resp, err := http.Get(api.URL("3000") + "/health")
//	dockertest.Stop(t, api.ID)
//
// Every container carries the label shiftwise.test=1 and the compose labels
// com.docker.compose.project=<p.Name> and com.docker.compose.service=<name>,
// so docker.New(dockertest.Host(t), p.Name) sees exactly this project.
// Without an engine the test is skipped, or fails under CI=true.
package dockertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// Labels put on every test container.
const (
	LabelTest    = "shiftwise.test"
	LabelProject = "com.docker.compose.project"
	LabelService = "com.docker.compose.service"
)

// callTimeout bounds each Engine API call the helpers make.
const callTimeout = 60 * time.Second

// Host returns the DOCKER_HOST the tests use, skipping the test (failing
// it under CI=true) when the engine does not answer there.
func Host(t testing.TB) string {
	t.Helper()
	return testenv.Docker(t)
}

var engine struct {
	mu  sync.Mutex
	api *client.Client
}

// Engine returns a moby client for Host(t), shared by the test binary,
// with the API version already negotiated.
func Engine(t testing.TB) *client.Client {
	t.Helper()
	host := Host(t)
	engine.mu.Lock()
	defer engine.mu.Unlock()
	if engine.api != nil {
		return engine.api
	}
	api, err := client.New(client.FromEnv, client.WithHost(host))
	if err != nil {
		t.Fatalf("dockertest: client for %s: %v", host, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		api.Close()
		testenv.Missing(t, "Docker Engine at "+host, err)
	}
	engine.api = api
	return api
}

// Health is a container healthcheck. Zero durations take short test
// defaults (interval 500ms, timeout 2s, 2 retries).
type Health struct {
	Test        []string // e.g. {"CMD", "/testapp", "check", "http://127.0.0.1:3000/health"}
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration
	Retries     int
}

// HTTPHealth is the test image's healthcheck: GET
// http://127.0.0.1:3000/health inside the container answers 200.
func HTTPHealth() *Health {
	return &Health{Test: []string{"CMD", "/testapp", "check", "http://127.0.0.1:3000/health"}}
}

// Service describes one container of a test project.
type Service struct {
	Name   string   // compose service name; required
	Image  string   // default: Image(t), the testapp image
	Cmd    []string // default: the image's command (testapp: serve -addr :3000)
	Env    []string // KEY=value
	Ports  []string // container ports to publish on 127.0.0.1:<random>, e.g. "3000" or "3000/tcp"
	Tty    bool
	Health *Health           // nil: the image's own healthcheck, if any
	Labels map[string]string // extra labels
	NoWait bool              // do not wait for published ports to accept connections
	// LogOpts are json-file log options (e.g. "max-size": "200m"); nil
	// takes the daemon's defaults.
	LogOpts map[string]string
	// Network, when set, is a network from NewNetwork the container joins
	// with its service name as DNS alias, as compose does: other services
	// on it reach this one as <Name> (e.g. postgres:5432).
	Network string
}

// Container is one started container of a test project.
type Container struct {
	ID, Name, Service string
	// Ports maps a container port ("3000/tcp") to its address on the host
	// ("127.0.0.1:49153").
	Ports map[string]string
}

// Addr returns the host address ("127.0.0.1:N") published for the container
// port ("3000" or "3000/tcp"), or "" when it is not published.
func (c Container) Addr(port string) string {
	p, err := network.ParsePort(port)
	if err != nil {
		return ""
	}
	return c.Ports[p.String()]
}

// URL returns "http://" + Addr(port).
func (c Container) URL(port string) string { return "http://" + c.Addr(port) }

// Project is a started throwaway project.
type Project struct {
	Name       string
	Containers []Container // in the order of the services given
	t          testing.TB
}

// Service returns the project's container for the named service, failing
// the test when there is none.
func (p *Project) Service(name string) Container {
	p.t.Helper()
	for _, c := range p.Containers {
		if c.Service == name {
			return c
		}
	}
	p.t.Fatalf("dockertest: project %s has no service %q", p.Name, name)
	return Container{}
}

var loopback = netip.MustParseAddr("127.0.0.1")

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// ProjectName returns a fresh, unique compose project name derived from the
// test's name.
func ProjectName(t testing.TB) string {
	base := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 24 {
		base = strings.Trim(base[:24], "-")
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "swtest-" + base + "-" + hex.EncodeToString(b[:])
}

// StartProject creates and starts one container per service, labelled as a
// compose project with a fresh name, and removes them (forced, with their
// anonymous volumes) when the test ends. It returns once every container
// has started and its published ports accept connections (unless NoWait);
// a service whose command exits at once is fine.
func StartProject(t testing.TB, services ...Service) *Project {
	t.Helper()
	return StartNamedProject(t, ProjectName(t), services...)
}

// StartNamedProject is StartProject with a project name of the caller's
// choosing; it should still be unique to the test.
func StartNamedProject(t testing.TB, name string, services ...Service) *Project {
	t.Helper()
	api := Engine(t)
	p := &Project{Name: name, t: t}
	for _, s := range services {
		if s.Name == "" {
			t.Fatal("dockertest: a service needs a name")
		}
		c := startContainer(t, api, p.Name, s)
		p.Containers = append(p.Containers, c)
	}
	for i, s := range services {
		if s.NoWait {
			continue
		}
		for _, addr := range p.Containers[i].Ports {
			waitListening(t, p.Containers[i], addr, 30*time.Second)
		}
	}
	return p
}

func startContainer(t testing.TB, api *client.Client, project string, s Service) Container {
	t.Helper()
	img := s.Image
	if img == "" {
		img = Image(t)
	}
	labels := map[string]string{
		LabelTest:                             "1",
		LabelProject:                          project,
		LabelService:                          s.Name,
		"com.docker.compose.container-number": "1",
		"com.docker.compose.oneoff":           "False",
	}
	for k, v := range s.Labels {
		labels[k] = v
	}
	cfg := &container.Config{
		Image:        img,
		Cmd:          s.Cmd,
		Env:          s.Env,
		Tty:          s.Tty,
		Labels:       labels,
		ExposedPorts: network.PortSet{},
	}
	hc := &container.HostConfig{
		PortBindings: network.PortMap{},
		LogConfig:    container.LogConfig{Type: "json-file", Config: s.LogOpts},
	}
	for _, ps := range s.Ports {
		port, err := network.ParsePort(ps)
		if err != nil {
			t.Fatalf("dockertest: service %s: port %q: %v", s.Name, ps, err)
		}
		cfg.ExposedPorts[port] = struct{}{}
		hc.PortBindings[port] = []network.PortBinding{{HostIP: loopback, HostPort: ""}}
	}
	if h := s.Health; h != nil {
		hcfg := &container.HealthConfig{
			Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, Retries: h.Retries,
		}
		if hcfg.Interval == 0 {
			hcfg.Interval = 500 * time.Millisecond
		}
		if hcfg.Timeout == 0 {
			hcfg.Timeout = 2 * time.Second
		}
		if hcfg.Retries == 0 {
			hcfg.Retries = 2
		}
		cfg.Healthcheck = hcfg
	}

	name := project + "-" + s.Name + "-1"
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var nc *network.NetworkingConfig
	if s.Network != "" {
		hc.NetworkMode = container.NetworkMode(s.Network)
		nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			s.Network: {Aliases: []string{s.Name}},
		}}
	}
	created, err := api.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name, Config: cfg, HostConfig: hc, NetworkingConfig: nc})
	if err != nil {
		t.Fatalf("dockertest: create %s: %v", name, err)
	}
	t.Cleanup(func() { remove(t, api, created.ID, name) })
	if _, err := api.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("dockertest: start %s: %v", name, err)
	}
	c := Container{ID: created.ID, Name: name, Service: s.Name, Ports: PublishedPorts(t, created.ID)}
	if State(t, created.ID) == "running" {
		for port := range cfg.ExposedPorts {
			if _, ok := c.Ports[port.String()]; !ok {
				t.Fatalf("dockertest: %s: port %s has no binding on 127.0.0.1", name, port)
			}
		}
	}
	return c
}

// NewNetwork creates a bridge network for one test's services (see
// Service.Network), labelled shiftwise.test=1, and removes it when the
// test ends, after the containers started later in the test. It returns
// its name.
func NewNetwork(t testing.TB) string {
	t.Helper()
	api := Engine(t)
	name := ProjectName(t) + "-net"
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	res, err := api.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: map[string]string{LabelTest: "1"}})
	if err != nil {
		t.Fatalf("dockertest: create network %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		if _, err := api.NetworkRemove(ctx, res.ID, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
			t.Errorf("dockertest: remove network %s: %v", name, err)
		}
	})
	return name
}

func remove(t testing.TB, api *client.Client, id, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, err := api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !isNotFound(err) {
		t.Errorf("dockertest: remove %s: %v", name, err)
	}
}

// waitListening waits until the published address answers HTTP or at least
// holds a connection open: docker-proxy accepts at once and drops the
// connection while nothing listens inside the container yet.
func waitListening(t testing.TB, c Container, addr string, timeout time.Duration) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	var last error
	ok := poll(timeout, func() bool {
		resp, err := hc.Get("http://" + addr + "/")
		if err != nil {
			last = err
			// A container that already exited will never listen.
			return State(t, c.ID) != "running"
		}
		resp.Body.Close()
		return true
	})
	if !ok {
		t.Fatalf("dockertest: %s: %s does not answer after %s: %v", c.Name, addr, timeout, last)
	}
}

// PublishedPorts returns the container's ports published on 127.0.0.1,
// "3000/tcp" -> "127.0.0.1:49153". They change when a container restarts.
func PublishedPorts(t testing.TB, id string) map[string]string {
	t.Helper()
	ports := map[string]string{}
	in := Inspect(t, id)
	if in.NetworkSettings == nil {
		return ports
	}
	for port, bindings := range in.NetworkSettings.Ports {
		for _, b := range bindings {
			if b.HostIP == loopback && b.HostPort != "" {
				ports[port.String()] = net.JoinHostPort(b.HostIP.String(), b.HostPort)
			}
		}
	}
	return ports
}

// Inspect returns the engine's view of the container.
func Inspect(t testing.TB, id string) container.InspectResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	res, err := Engine(t).ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("dockertest: inspect %s: %v", id, err)
	}
	return res.Container
}

// State returns the container's state: running, exited, created, ...
func State(t testing.TB, id string) string {
	t.Helper()
	if st := Inspect(t, id).State; st != nil {
		return string(st.Status)
	}
	return ""
}

// HealthStatus returns healthy, unhealthy, starting, or "" without a healthcheck.
func HealthStatus(t testing.TB, id string) string {
	t.Helper()
	if st := Inspect(t, id).State; st != nil && st.Health != nil {
		return string(st.Health.Status)
	}
	return ""
}

// Stop stops the container (SIGTERM, SIGKILL after 5 s) and returns when it
// has exited.
func Stop(t testing.TB, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	timeout := 5
	if _, err := Engine(t).ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatalf("dockertest: stop %s: %v", id, err)
	}
	WaitState(t, id, "exited", 30*time.Second)
}

// Kill sends SIGKILL and returns when the container has exited (code 137).
func Kill(t testing.TB, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := Engine(t).ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatalf("dockertest: kill %s: %v", id, err)
	}
	WaitState(t, id, "exited", 30*time.Second)
}

// Start starts a stopped container again. Its published host ports may
// change: read them again with PublishedPorts.
func Start(t testing.TB, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := Engine(t).ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("dockertest: start %s: %v", id, err)
	}
}

// WaitState waits until the container is in the given state, failing the
// test after timeout.
func WaitState(t testing.TB, id, state string, timeout time.Duration) {
	t.Helper()
	var last string
	if !poll(timeout, func() bool { last = State(t, id); return last == state }) {
		t.Fatalf("dockertest: %s still %q, not %q, after %s", id, last, state, timeout)
	}
}

// WaitHealth waits until the container's health is status (healthy,
// unhealthy, starting), failing the test after timeout.
func WaitHealth(t testing.TB, id, status string, timeout time.Duration) {
	t.Helper()
	var last string
	if !poll(timeout, func() bool { last = HealthStatus(t, id); return last == status }) {
		t.Fatalf("dockertest: %s health still %q, not %q, after %s", id, last, status, timeout)
	}
}

// WaitHealthy waits until the container's healthcheck passes.
func WaitHealthy(t testing.TB, id string, timeout time.Duration) {
	t.Helper()
	WaitHealth(t, id, "healthy", timeout)
}

// poll calls cond every 100ms until it returns true or timeout passes.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }
