package docker_test

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// TestDeployKeepsADockerComposeContainer deploys to a service that
// docker-compose (v1, as the demo stack runs) created in a throwaway
// project: the configuration stays the same but for the image, and
// docker-compose still considers the service up to date afterwards.
func TestDeployKeepsADockerComposeContainer(t *testing.T) {
	t.Parallel()
	composeBin, err := exec.LookPath("docker-compose")
	if err != nil {
		testenv.Missing(t, "docker-compose", err)
	}
	project := dockertest.ProjectName(t)
	im := makeImages(t, project)
	dir := t.TempDir()
	file := filepath.Join(dir, "docker-compose.yml")
	yml := `version: "2.4"
services:
  api:
    image: ` + im.v1 + `
    restart: unless-stopped
    command: ["serve", "-addr", ":3000", "-out", "compose"]
    environment:
      DEMO_ROLE: api
    ports:
      - "127.0.0.1::3000"
    volumes:
      - data:/data
      - /cache
    healthcheck:
      test: ["CMD", "/testapp", "check", "http://127.0.0.1:3000/health"]
      interval: 1s
      timeout: 2s
      retries: 2
    labels:
      shiftwise.test: "1"
volumes:
  data:
`
	if err := os.WriteFile(file, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	compose := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, composeBin, append([]string{"-p", project, "-f", file}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+dockertest.Host(t))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker-compose %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	dockertest.SweepProject(t, project)
	t.Cleanup(func() { compose("down", "-v") })
	compose("up", "-d")
	before := serviceNow(t, project, "api")
	dockertest.WaitHealthy(t, before.ID, 30*time.Second)

	c := newClient(t, project)
	res := deploy(t, c, "api", im.v2, nil)
	if res.RolledBack {
		t.Fatalf("rolled back: %s", res.Reason)
	}
	after := serviceNow(t, project, "api")
	if after.Image != im.v2ID || after.Name != before.Name {
		t.Fatalf("after: %s on %s", after.Name, after.Image)
	}
	bc, ac := *before.Config, *after.Config
	for _, l := range []string{docker.LabelDeployedImage, docker.LabelDeployedRef, docker.LabelPreviousImage, docker.LabelPreviousRef,
		docker.LabelDeployedAt, docker.LabelDeployedBy, docker.LabelDeployAction} {
		if ac.Labels[l] == "" {
			t.Errorf("label %s missing", l)
		}
		delete(ac.Labels, l)
	}
	if !maps.Equal(bc.Labels, ac.Labels) {
		t.Errorf("labels\n got %v\nwant %v", ac.Labels, bc.Labels)
	}
	bc.Image, bc.Hostname, bc.Labels = "", "", nil
	ac.Image, ac.Hostname, ac.Labels = "", "", nil
	if !reflect.DeepEqual(bc, ac) {
		t.Errorf("config differs\nbefore %+v\n after %+v", bc, ac)
	}
	bh, ah := *before.HostConfig, *after.HostConfig
	bh.Binds, ah.Binds = nil, nil // the anonymous volume may be bound by name now
	if !reflect.DeepEqual(bh, ah) {
		t.Errorf("host config differs\nbefore %+v\n after %+v", bh, ah)
	}
	mounts := func(in container.InspectResponse) []string {
		var out []string
		for _, m := range in.Mounts {
			out = append(out, string(m.Type)+" "+m.Name+" "+m.Destination)
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(mounts(before), mounts(after)) {
		t.Errorf("mounts\nbefore %v\n after %v", mounts(before), mounts(after))
	}
	for n, ep := range before.NetworkSettings.Networks {
		got := after.NetworkSettings.Networks[n]
		if got == nil {
			t.Errorf("network %s lost", n)
			continue
		}
		want := slices.DeleteFunc(slices.Clone(ep.Aliases), func(a string) bool { return a == before.ID[:12] })
		have := slices.DeleteFunc(slices.Clone(got.Aliases), func(a string) bool { return a == after.ID[:12] })
		if !slices.Equal(want, have) {
			t.Errorf("network %s aliases %v, want %v", n, have, want)
		}
	}
	// docker-compose sees its own service, up to date, not to be recreated.
	if out := compose("up", "-d"); !strings.Contains(out, "up-to-date") {
		t.Errorf("docker-compose up after the deploy:\n%s", out)
	}
	if again := serviceNow(t, project, "api"); again.ID != after.ID {
		t.Errorf("docker-compose recreated the deployed container")
	}
	if out := compose("ps"); !strings.Contains(out, after.Name[1:]) || !strings.Contains(out, "healthy") {
		t.Errorf("docker-compose ps:\n%s", out)
	}
}
