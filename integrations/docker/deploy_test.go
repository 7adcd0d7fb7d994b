package docker_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
)

// deployImages are three versions of the test app for one test, tagged
// without a registry: v1 is the test image, v2 a copy of it with its own
// ID, v3 a copy whose /health fails, so its healthcheck does.
type deployImages struct {
	repo             string
	v1, v2, v3       string // references
	v1ID, v2ID, v3ID string
}

func makeImages(t *testing.T, project string) deployImages {
	t.Helper()
	im := deployImages{repo: "shiftwise-test/deploy"}
	tag := strings.TrimPrefix(project, "swtest-")
	im.v1, im.v2, im.v3 = im.repo+":"+tag+"-v1", im.repo+":"+tag+"-v2", im.repo+":"+tag+"-v3"
	dockertest.Tag(t, dockertest.Image(t), im.v1)
	im.v1ID = dockertest.ImageID(t, im.v1)
	im.v2ID = dockertest.DeriveImage(t, im.v1, im.v2)
	im.v3ID = dockertest.DeriveImage(t, im.v1, im.v3, "ENV DEMO_HEALTH_MODE=fail")
	// The tag a deploy leaves to keep the previous image; runs after the
	// project's containers are gone (cleanups run last-registered first).
	t.Cleanup(func() { dockertest.Untag(t, docker.KeepRef(project, "api")) })
	return im
}

func fastOpts(steps *[]string) docker.DeployOptions {
	return docker.DeployOptions{
		By:            "console:tester",
		HealthTimeout: 30 * time.Second,
		Settle:        500 * time.Millisecond,
		Step: func(step, detail string) {
			if steps != nil {
				*steps = append(*steps, step)
			}
		},
	}
}

// startSimple starts a throwaway project with one api service on v1.
func startSimple(t *testing.T, images func(project string) deployImages) (*dockertest.Project, deployImages, *docker.Client) {
	t.Helper()
	name := dockertest.ProjectName(t)
	im := images(name)
	dockertest.SweepProject(t, name)
	p := dockertest.StartNamedProject(t, name, dockertest.Service{
		Name: "api", Image: im.v1, Ports: []string{"3000"}, Health: dockertest.HTTPHealth(),
	})
	dockertest.WaitHealthy(t, p.Service("api").ID, 30*time.Second)
	return p, im, newClient(t, name)
}

func deploy(t *testing.T, c *docker.Client, service, ref string, steps *[]string) docker.DeployResult {
	t.Helper()
	ctx := context.Background()
	plan, err := c.PlanDeploy(ctx, service, ref)
	if err != nil {
		t.Fatalf("plan deploy %s %s: %v", service, ref, err)
	}
	res, err := c.Apply(ctx, plan, fastOpts(steps))
	if err != nil {
		t.Fatalf("deploy %s %s: %v", service, ref, err)
	}
	return res
}

// serviceNow returns the inspected container of the service, failing
// unless there is exactly one (no leftover aside).
func serviceNow(t *testing.T, project, service string) container.InspectResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := dockertest.Engine(t).ContainerList(ctx, client.ContainerListOptions{
		All: true,
		Filters: make(client.Filters).Add("label", docker.LabelProject+"="+project).
			Add("label", docker.LabelService+"="+service),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		var names []string
		for _, c := range list.Items {
			names = append(names, c.Names...)
		}
		t.Fatalf("service %s has %d containers, want 1: %v", service, len(list.Items), names)
	}
	return dockertest.Inspect(t, list.Items[0].ID)
}

func getHealth(t *testing.T, c container.InspectResponse) int {
	t.Helper()
	var addr string
	for port, b := range c.NetworkSettings.Ports {
		if port.String() == "3000/tcp" && len(b) > 0 {
			addr = b[0].HostIP.String() + ":" + b[0].HostPort
		}
	}
	if addr == "" {
		t.Fatalf("%s publishes no 3000/tcp", c.Name)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get("http://" + addr + "/health")
	if err != nil {
		t.Fatalf("GET %s/health: %v", addr, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDeployKeepsConfiguration deploys v1 -> v2 on a container with every
// kind of setting and compares the inspected configuration field by field.
func TestDeployKeepsConfiguration(t *testing.T) {
	t.Parallel()
	api := dockertest.Engine(t)
	project := dockertest.ProjectName(t)
	im := makeImages(t, project)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Two user networks, a named volume, a bind mount: removed last.
	var nets []string
	for _, n := range []string{project + "_default", project + "_back"} {
		if _, err := api.NetworkCreate(ctx, n, client.NetworkCreateOptions{Labels: map[string]string{dockertest.LabelTest: "1"}}); err != nil {
			t.Fatal(err)
		}
		nets = append(nets, n)
		t.Cleanup(func() { _, _ = api.NetworkRemove(context.Background(), n, client.NetworkRemoveOptions{}) })
	}
	vol := project + "_data"
	if _, err := api.VolumeCreate(ctx, client.VolumeCreateOptions{Name: vol, Labels: map[string]string{dockertest.LabelTest: "1"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = api.VolumeRemove(context.Background(), vol, client.VolumeRemoveOptions{Force: true}) })
	confDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(confDir, "app.conf"), []byte("x=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dockertest.SweepProject(t, project)

	stop := 3
	cfg := &container.Config{
		Image:      im.v1,
		User:       "65534:65534",
		Env:        []string{"DEMO_ROLE=api", "DATABASE_URL=postgres://u:p@postgres:5432/db", "EMPTY="},
		Cmd:        []string{"serve", "-addr", ":3000", "-out", "started"},
		WorkingDir: "/srv",
		Labels: map[string]string{
			dockertest.LabelTest: "1", docker.LabelProject: project, docker.LabelService: "api",
			"com.docker.compose.container-number": "1", "com.docker.compose.oneoff": "False",
			"com.docker.compose.config-hash": "abc123", "team": "payments",
		},
		ExposedPorts: network.PortSet{network.MustParsePort("3000/tcp"): {}, network.MustParsePort("9000/tcp"): {}},
		Healthcheck: &container.HealthConfig{
			Test: dockertest.HTTPHealth().Test, Interval: 500 * time.Millisecond, Timeout: 2 * time.Second, Retries: 2,
		},
		Volumes:     map[string]struct{}{"/cache": {}},
		StopSignal:  "SIGINT",
		StopTimeout: &stop,
	}
	host := &container.HostConfig{
		Binds:  []string{vol + ":/data", confDir + ":/conf:ro"},
		Mounts: []mount.Mount{{Type: mount.TypeTmpfs, Target: "/scratch"}},
		PortBindings: network.PortMap{
			network.MustParsePort("3000/tcp"): {{HostIP: mustAddr("127.0.0.1"), HostPort: ""}},
		},
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
		LogConfig:     container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "1m"}},
		NetworkMode:   container.NetworkMode(nets[0]),
		ExtraHosts:    []string{"db.local:127.0.0.2"},
		Resources:     container.Resources{Memory: 128 << 20},
		CapDrop:       []string{"CAP_NET_RAW"},
		Init:          ptr(true),
	}
	netcfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		nets[0]: {Aliases: []string{"api", "backend"}},
	}}
	name := project + "_api_1"
	created, err := api.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name, Config: cfg, HostConfig: host, NetworkingConfig: netcfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.NetworkConnect(ctx, nets[1], client.NetworkConnectOptions{Container: created.ID, EndpointConfig: &network.EndpointSettings{Aliases: []string{"api-internal"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	dockertest.WaitHealthy(t, created.ID, 30*time.Second)
	before := dockertest.Inspect(t, created.ID)

	c := newClient(t, project)
	var steps []string
	res := deploy(t, c, "api", im.v2, &steps)
	if res.RolledBack {
		t.Fatalf("deploy of v2 rolled back: %s %v", res.Reason, res.Diagnostics)
	}
	after := serviceNow(t, project, "api")
	if after.ID == before.ID || after.ID != res.ContainerID {
		t.Fatalf("container %s after deploy, before %s, result %s", after.ID, before.ID, res.ContainerID)
	}
	if after.Image != im.v2ID || after.Config.Image != im.v2 {
		t.Errorf("after deploy: image %s (%s), want %s (%s)", after.Image, after.Config.Image, im.v2ID, im.v2)
	}
	if after.Name != before.Name {
		t.Errorf("name %s, want %s", after.Name, before.Name)
	}
	if got := dockertest.HealthStatus(t, after.ID); got != "healthy" {
		t.Errorf("health after deploy %q", got)
	}
	if want := []string{"recorded", "stopping old", "starting new", "waiting for health", "removing old"}; !slices.Equal(steps, want) {
		t.Errorf("steps %v, want %v", steps, want)
	}

	// Config: every field the same, except the image, the host name (the
	// container's own ID) and the deploy labels.
	bc, ac := *before.Config, *after.Config
	if ac.Hostname != after.ID[:12] {
		t.Errorf("hostname %q, want the new short ID", ac.Hostname)
	}
	wantLabels := maps.Clone(bc.Labels)
	wantLabels[docker.LabelDeployedImage] = im.v2ID
	wantLabels[docker.LabelDeployedRef] = im.v2
	wantLabels[docker.LabelPreviousImage] = im.v1ID
	wantLabels[docker.LabelPreviousRef] = im.v1
	wantLabels[docker.LabelDeployedBy] = "console:tester"
	wantLabels[docker.LabelDeployAction] = "deploy"
	if _, err := time.Parse(time.RFC3339, ac.Labels[docker.LabelDeployedAt]); err != nil {
		t.Errorf("deployed-at label %q: %v", ac.Labels[docker.LabelDeployedAt], err)
	}
	wantLabels[docker.LabelDeployedAt] = ac.Labels[docker.LabelDeployedAt]
	if !reflect.DeepEqual(ac.Labels, wantLabels) {
		t.Errorf("labels\n got %v\nwant %v", ac.Labels, wantLabels)
	}
	bc.Image, bc.Hostname, bc.Labels = "", "", nil
	ac.Image, ac.Hostname, ac.Labels = "", "", nil
	if !reflect.DeepEqual(bc, ac) {
		t.Errorf("config differs\nbefore %+v\n after %+v", bc, ac)
	}

	// Host config: the same, plus the anonymous volume bound by name.
	bh, ah := *before.HostConfig, *after.HostConfig
	var anon string
	for _, m := range before.Mounts {
		if m.Destination == "/cache" {
			anon = m.Name
		}
	}
	if anon == "" {
		t.Fatalf("no anonymous volume at /cache before: %+v", before.Mounts)
	}
	if want := append(slices.Clone(bh.Binds), anon+":/cache"); !slices.Equal(ah.Binds, want) {
		t.Errorf("binds %v, want %v", ah.Binds, want)
	}
	bh.Binds, ah.Binds = nil, nil
	if !reflect.DeepEqual(bh, ah) {
		t.Errorf("host config differs\nbefore %+v\n after %+v", bh, ah)
	}

	// Mounts: the same volumes (the anonymous one too), binds and tmpfs.
	mounts := func(in container.InspectResponse) []string {
		var out []string
		for _, m := range in.Mounts {
			out = append(out, fmt.Sprintf("%s %s %s->%s rw=%v", m.Type, m.Name, m.Source, m.Destination, m.RW))
		}
		slices.Sort(out)
		return out
	}
	if b, a := mounts(before), mounts(after); !slices.Equal(b, a) {
		t.Errorf("mounts\nbefore %v\n after %v", b, a)
	}

	// Networks and aliases (without the engine's short-ID alias).
	aliases := func(in container.InspectResponse) map[string][]string {
		out := map[string][]string{}
		for n, ep := range in.NetworkSettings.Networks {
			var as []string
			for _, a := range ep.Aliases {
				if a != in.ID[:12] {
					as = append(as, a)
				}
			}
			slices.Sort(as)
			out[n] = as
		}
		return out
	}
	if b, a := aliases(before), aliases(after); !reflect.DeepEqual(b, a) {
		t.Errorf("networks and aliases\nbefore %v\n after %v", b, a)
	}
	if code := getHealth(t, after); code != http.StatusOK {
		t.Errorf("/health after deploy: %d", code)
	}
}

func ptr[T any](v T) *T { return &v }

// TestDeployOfBrokenImageRollsBack deploys v2, then v3 whose healthcheck
// fails: the deploy puts v2's container back by itself.
func TestDeployOfBrokenImageRollsBack(t *testing.T) {
	t.Parallel()
	p, im, c := startSimple(t, func(n string) deployImages { return makeImages(t, n) })
	deploy(t, c, "api", im.v2, nil)
	good := serviceNow(t, p.Name, "api")

	var steps []string
	res := deploy(t, c, "api", im.v3, &steps)
	if !res.RolledBack {
		t.Fatalf("deploy of the broken v3 did not roll back: %+v", res)
	}
	if !strings.Contains(res.Reason, "healthcheck failed") {
		t.Errorf("reason %q", res.Reason)
	}
	if !slices.Contains(steps, "rolling back") || !slices.Contains(steps, "restarting old") || slices.Contains(steps, "removing old") {
		t.Errorf("steps %v", steps)
	}
	now := serviceNow(t, p.Name, "api") // exactly one: v3's is gone, nothing aside
	if now.ID != good.ID || now.Image != im.v2ID || now.Name != good.Name {
		t.Fatalf("after the rollback: %s on %s, want %s on v2 %s", now.Name, now.Image, good.ID, im.v2ID)
	}
	dockertest.WaitHealthy(t, now.ID, 30*time.Second)
	if code := getHealth(t, now); code != http.StatusOK {
		t.Errorf("/health on v2 again: %d", code)
	}
	if now.HostConfig.RestartPolicy != good.HostConfig.RestartPolicy {
		t.Errorf("restart policy %+v, want %+v", now.HostConfig.RestartPolicy, good.HostConfig.RestartPolicy)
	}
	// The keep tag still holds v1, the restored container's previous image.
	if id := dockertest.ImageID(t, docker.KeepRef(p.Name, "api")); id != im.v1ID {
		t.Errorf("keep tag on %s, want v1 %s", id, im.v1ID)
	}
	// The deploy record is v2's, as before.
	if rec, err := c.DeployRecordOf(context.Background(), "api"); err != nil || rec.Deployed.ID != im.v2ID || rec.Previous.ID != im.v1ID {
		t.Errorf("record after the automatic rollback: %+v, %v", rec, err)
	}
}

// TestDeployVerifyFailureRollsBack: the container is healthy but the
// service's own check (the runbook's /health) fails.
func TestDeployVerifyFailureRollsBack(t *testing.T) {
	t.Parallel()
	p, im, c := startSimple(t, func(n string) deployImages { return makeImages(t, n) })
	before := serviceNow(t, p.Name, "api")
	plan, err := c.PlanDeploy(context.Background(), "api", im.v2)
	if err != nil {
		t.Fatal(err)
	}
	opts := fastOpts(nil)
	opts.HealthTimeout = 3 * time.Second
	calls := 0
	opts.Verify = func(ctx context.Context, service string) error {
		calls++
		return errors.New("GET /health: 502")
	}
	res, err := c.Apply(context.Background(), plan, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.RolledBack || !strings.Contains(res.Reason, "502") || calls == 0 || !strings.Contains(res.PreflightFailed, "502") ||
		!strings.Contains(res.Reason, "service's check still fails") {
		t.Fatalf("result %+v, verify calls %d", res, calls)
	}
	if now := serviceNow(t, p.Name, "api"); now.ID != before.ID || now.Image != im.v1ID {
		t.Fatalf("after: %s on %s", now.ID, now.Image)
	}
}

// TestRollbackUsesImageIDNotTag: after v1 -> v2 the v1 tag moves to
// another image; rollback still returns to v1's image.
func TestRollbackUsesImageIDNotTag(t *testing.T) {
	t.Parallel()
	p, im, c := startSimple(t, func(n string) deployImages { return makeImages(t, n) })
	deploy(t, c, "api", im.v2, nil)
	dockertest.Tag(t, im.v3ID, im.v1) // v1 now names the broken image

	plan, err := c.PlanRollback(context.Background(), "") // the last deploy
	if err != nil {
		t.Fatal(err)
	}
	if plan.Service != "api" || plan.Target.ID != im.v1ID || plan.Target.Ref != "" || plan.Current.ID != im.v2ID {
		t.Fatalf("plan %+v", plan)
	}
	var steps []string
	res, err := c.Apply(context.Background(), plan, fastOpts(&steps))
	if err != nil || res.RolledBack {
		t.Fatalf("rollback: %+v, %v", res, err)
	}
	now := serviceNow(t, p.Name, "api")
	if now.Image != im.v1ID || now.Config.Image != im.v1ID {
		t.Fatalf("after rollback: %s (%s), want v1's ID %s", now.Image, now.Config.Image, im.v1ID)
	}
	if now.Config.Labels[docker.LabelDeployAction] != "rollback" || now.Config.Labels[docker.LabelPreviousImage] != im.v2ID {
		t.Errorf("labels %v", now.Config.Labels)
	}
	if code := getHealth(t, now); code != http.StatusOK {
		t.Errorf("/health: %d", code)
	}
}

// TestRollbackByTagWhileItHolds: the previous reference is used as long
// as it still names the recorded image.
func TestRollbackByTagWhileItHolds(t *testing.T) {
	t.Parallel()
	p, im, c := startSimple(t, func(n string) deployImages { return makeImages(t, n) })
	deploy(t, c, "api", im.v2, nil)
	plan, err := c.PlanRollback(context.Background(), "api")
	if err != nil {
		t.Fatal(err)
	}
	if plan.Target.ID != im.v1ID || plan.Target.Ref != im.v1 {
		t.Fatalf("plan %+v", plan)
	}
	if _, err := c.Apply(context.Background(), plan, fastOpts(nil)); err != nil {
		t.Fatal(err)
	}
	if now := serviceNow(t, p.Name, "api"); now.Config.Image != im.v1 || now.Image != im.v1ID {
		t.Fatalf("after: %s (%s)", now.Config.Image, now.Image)
	}
}

// TestDeployRefusesBadInput: hostile or unknown input changes nothing.
func TestDeployRefusesBadInput(t *testing.T) {
	t.Parallel()
	p, im, c := startSimple(t, func(n string) deployImages { return makeImages(t, n) })
	before := serviceNow(t, p.Name, "api")
	ctx := context.Background()
	for _, tc := range []struct {
		service, ref string
		want         error
	}{
		{"api", "app:v2; rm -rf /", docker.ErrBadImageRef},
		{"api", "$(reboot)", docker.ErrBadImageRef},
		{"api", "App:V2", docker.ErrBadImageRef},
		{"api", "app:v2\n", docker.ErrBadImageRef},
		{"api", "../../etc/passwd", docker.ErrBadImageRef},
		{"api", strings.Repeat("a", 300), docker.ErrBadImageRef},
		{"api", "", docker.ErrBadImageRef},
		{"api", "shiftwise-test/never-built:v9", docker.ErrNoImage},
		{"api; ls", im.v2, docker.ErrNoSuchService},
		{"nosuch", im.v2, docker.ErrNoSuchService},
		{"../api", im.v2, docker.ErrNoSuchService},
	} {
		_, err := c.PlanDeploy(ctx, tc.service, tc.ref)
		if !errors.Is(err, tc.want) {
			t.Errorf("PlanDeploy(%q, %q) = %v, want %v", tc.service, tc.ref, err, tc.want)
		}
	}
	if _, err := c.PlanRollback(ctx, "api"); !errors.Is(err, docker.ErrNoHistory) {
		t.Errorf("rollback without a deploy: %v", err)
	}
	if _, err := c.PlanRollback(ctx, ""); !errors.Is(err, docker.ErrNoHistory) {
		t.Errorf("rollback of the last deploy without any: %v", err)
	}
	// Another project's service is unknown here.
	if _, err := newClient(t, p.Name+"-other").PlanDeploy(ctx, "api", im.v2); !errors.Is(err, docker.ErrNoSuchService) {
		t.Errorf("other project: %v", err)
	}
	now := serviceNow(t, p.Name, "api")
	if now.ID != before.ID || now.Image != before.Image || now.State.StartedAt != before.State.StartedAt {
		t.Errorf("refused input changed the service: %s %s %s", now.ID, now.Image, now.State.StartedAt)
	}
}

// TestApplyRefusesAStalePlan: a plan made before someone else's deploy
// does nothing.
func TestApplyRefusesAStalePlan(t *testing.T) {
	t.Parallel()
	p, im, c := startSimple(t, func(n string) deployImages { return makeImages(t, n) })
	stale, err := c.PlanDeploy(context.Background(), "api", im.v3)
	if err != nil {
		t.Fatal(err)
	}
	deploy(t, c, "api", im.v2, nil)
	before := serviceNow(t, p.Name, "api")
	if _, err := c.Apply(context.Background(), stale, fastOpts(nil)); !errors.Is(err, docker.ErrNotDeployable) {
		t.Fatalf("stale plan: %v", err)
	}
	if now := serviceNow(t, p.Name, "api"); now.ID != before.ID {
		t.Errorf("stale plan changed the service")
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestDeployWithoutHealthcheckIsJudgedByVerify: a service without a
// healthcheck is judged by its own /health (the runbook's check): v3
// answers 500 there, so the deploy rolls back by itself.
func TestDeployWithoutHealthcheckIsJudgedByVerify(t *testing.T) {
	t.Parallel()
	project := dockertest.ProjectName(t)
	im := makeImages(t, project)
	dockertest.SweepProject(t, project)
	p := dockertest.StartNamedProject(t, project, dockertest.Service{Name: "api", Image: im.v1, Ports: []string{"3000"}})
	c := newClient(t, project)
	name := p.Service("api").Name
	verify := func(ctx context.Context, service string) error {
		in := dockertest.Inspect(t, name) // whichever container holds the name now
		code := getHealth(t, in)
		if code != http.StatusOK {
			return fmt.Errorf("%s /health answered HTTP %d", service, code)
		}
		return nil
	}
	plan, err := c.PlanDeploy(context.Background(), "api", im.v3)
	if err != nil {
		t.Fatal(err)
	}
	opts := fastOpts(nil)
	opts.HealthTimeout = 5 * time.Second
	opts.Verify = verify
	res, err := c.Apply(context.Background(), plan, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.RolledBack || res.PreflightFailed != "" || !strings.Contains(res.Reason, "HTTP 500") || strings.Contains(res.Reason, "still fails") {
		t.Fatalf("result %+v", res)
	}
	now := serviceNow(t, project, "api")
	if now.Image != im.v1ID || getHealth(t, now) != http.StatusOK {
		t.Fatalf("after: %s", now.Image)
	}
	// And v2 passes the same check.
	plan, err = c.PlanDeploy(context.Background(), "api", im.v2)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Apply(context.Background(), plan, opts); err != nil || res.RolledBack {
		t.Fatalf("v2: %+v %v", res, err)
	}
	if now := serviceNow(t, project, "api"); now.Image != im.v2ID {
		t.Fatalf("v2 not deployed: %s", now.Image)
	}
}

// TestRollbackToAnImageThatIsGone: the recorded previous image was
// removed from the host (its tags and the keep tag gone, then pruned):
// rollback says so and changes nothing.
func TestRollbackToAnImageThatIsGone(t *testing.T) {
	t.Parallel()
	var v4 string
	// Images are made before the project, so their cleanup runs after its containers are gone.
	p, im, c := startSimple(t, func(n string) deployImages {
		im := makeImages(t, n)
		v4 = im.repo + ":" + strings.TrimPrefix(n, "swtest-") + "-v4"
		dockertest.DeriveImage(t, im.v1, v4)
		return im
	})
	deploy(t, c, "api", im.v2, nil)
	deploy(t, c, "api", v4, nil) // previous: v2
	dockertest.Untag(t, im.v2)
	dockertest.Untag(t, docker.KeepRef(p.Name, "api"))
	if _, err := dockertest.Engine(t).ImageInspect(context.Background(), im.v2ID); err == nil {
		t.Fatal("v2 is still on the host")
	}
	before := serviceNow(t, p.Name, "api")
	if _, err := c.PlanRollback(context.Background(), "api"); !errors.Is(err, docker.ErrNoImage) {
		t.Fatalf("rollback to a removed image: %v", err)
	}
	if now := serviceNow(t, p.Name, "api"); now.ID != before.ID {
		t.Error("the refused rollback changed the service")
	}
}

// TestDeployWhoseStartFailsPutsTheOldBack: the new image cannot even
// start (its entrypoint does not exist); the old container is put back
// and the error says so.
func TestDeployWhoseStartFailsPutsTheOldBack(t *testing.T) {
	t.Parallel()
	var bad string
	p, im, c := startSimple(t, func(n string) deployImages {
		im := makeImages(t, n)
		bad = im.repo + ":" + strings.TrimPrefix(n, "swtest-") + "-noexec"
		dockertest.DeriveImage(t, im.v1, bad, `ENTRYPOINT ["/no/such/program"]`)
		return im
	})
	before := serviceNow(t, p.Name, "api")
	plan, err := c.PlanDeploy(context.Background(), "api", bad)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	res, err := c.Apply(context.Background(), plan, fastOpts(&steps))
	if err == nil || !strings.Contains(err.Error(), "start the new container") || !strings.Contains(err.Error(), "the old container was put back") {
		t.Fatalf("result %+v, err %v", res, err)
	}
	now := serviceNow(t, p.Name, "api")
	if now.ID != before.ID || now.Name != before.Name || now.Image != im.v1ID {
		t.Fatalf("after: %s %s on %s", now.ID, now.Name, now.Image)
	}
	if now.HostConfig.RestartPolicy != before.HostConfig.RestartPolicy {
		t.Errorf("restart policy %+v, want %+v", now.HostConfig.RestartPolicy, before.HostConfig.RestartPolicy)
	}
	dockertest.WaitHealthy(t, now.ID, 30*time.Second)
	if !slices.Contains(steps, "restarting old") {
		t.Errorf("steps %v", steps)
	}
}

// TestConcurrentDeploysOfOneService: two deploys planned at once run one
// after the other; the second finds the service changed and does nothing.
func TestConcurrentDeploysOfOneService(t *testing.T) {
	t.Parallel()
	p, im, c := startSimple(t, func(n string) deployImages { return makeImages(t, n) })
	ctx := context.Background()
	a, err := c.PlanDeploy(ctx, "api", im.v2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.PlanDeploy(ctx, "api", im.v2)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for _, plan := range []docker.DeployPlan{a, b} {
		go func() {
			_, err := c.Apply(ctx, plan, fastOpts(nil))
			errs <- err
		}()
	}
	var ok, stale int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, docker.ErrNotDeployable):
			stale++
		default:
			t.Errorf("deploy: %v", err)
		}
	}
	if ok != 1 || stale != 1 {
		t.Fatalf("%d deploys ran, %d refused; want 1 and 1", ok, stale)
	}
	if now := serviceNow(t, p.Name, "api"); now.Image != im.v2ID {
		t.Fatalf("api on %s", now.Image)
	}
}
