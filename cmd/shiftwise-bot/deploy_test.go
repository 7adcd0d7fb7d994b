package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// approvalID finds "(A-xxxxxx" in a pending answer.
func approvalID(t *testing.T, out string) string {
	t.Helper()
	i := strings.Index(out, "(A-")
	if i < 0 || len(out) < i+9 {
		t.Fatalf("no approval id in:\n%s", out)
	}
	return out[i+1 : i+9]
}

// deployedWeb is a throwaway project whose service web was deployed from
// v1 to v2 through the real binary's wiring (an architect asks, a
// developer approves), so that a rollback has a recorded image to go
// back to. env is the bot's environment for it: its own database, the
// project, and a policy with console:* at Level 1, console:dev at Level 2,
// console:arch at Level 3, plus morePolicy.
type deployedWeb struct {
	p          *dockertest.Project
	env        map[string]string
	v1ID, v2ID string
}

func newDeployedWeb(t *testing.T, morePolicy string) *deployedWeb {
	t.Helper()
	project := dockertest.ProjectName(t)
	repo := "shiftwise-test/deploy-main:" + strings.TrimPrefix(project, "swtest-")
	v1, v2 := repo+"-v1", repo+"-v2"
	dockertest.Tag(t, dockertest.Image(t), v1)
	d := &deployedWeb{v1ID: dockertest.ImageID(t, v1), v2ID: dockertest.DeriveImage(t, v1, v2)}
	t.Cleanup(func() { dockertest.Untag(t, docker.KeepRef(project, "web")) })
	dockertest.SweepProject(t, project)
	d.p = dockertest.StartNamedProject(t, project, dockertest.Service{
		Name: "web", Image: v1, Ports: []string{"3000"}, Health: dockertest.HTTPHealth(),
	})
	dockertest.WaitHealthy(t, d.p.Service("web").ID, 30*time.Second)

	policy := filepath.Join(t.TempDir(), "policy.csv")
	if err := os.WriteFile(policy, []byte("g, console:*, level1\ng, console:dev, level2\ng, console:arch, level3\n"+morePolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	d.env = map[string]string{
		"SHIFTWISE_DATABASE_URL":    storetest.NewDatabase(t),
		"SHIFTWISE_COMPOSE_PROJECT": project,
		"SHIFTWISE_POLICY":          policy,
		"DOCKER_HOST":               dockertest.Host(t),
	}
	// No backup hook is wired yet: an architect deploys without one, and
	// deploy needs a second person.
	code, out, stderr := runWith(d.env, "", "-user", "arch", "deploy", "web", v2, "--no-backup")
	if code != 3 {
		t.Fatalf("deploy request: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = runWith(d.env, "", "-user", "dev", "approve", approvalID(t, out))
	if code != 0 || !strings.Contains(out, "Deploy: PASSED") || d.image(t) != d.v2ID {
		t.Fatalf("approved deploy: exit %d, image %s\n%s%s", code, d.image(t), out, stderr)
	}
	return d
}

// image is the image ID web runs now.
func (d *deployedWeb) image(t *testing.T) string {
	t.Helper()
	return dockertest.Inspect(t, d.p.Service("web").Name).Image
}

// TestRollbackSceneTwo is DESIGN.md's second scene through the real
// binary's wiring on a throwaway project: a deploy, then an L1 on call asks
// for `rollback web`, a Level 2 developer approves it, the bot rolls back
// to the recorded image and verifies health.
func TestRollbackSceneTwo(t *testing.T) {
	d := newDeployedWeb(t, "")
	env, p, v1ID, v2ID := d.env, d.p, d.v1ID, d.v2ID
	image := func() string { return d.image(t) }

	// Scene 2: the L1 on call asks, an L2 approves.
	code, out, stderr := runWith(env, "", "-user", "oncall", "rollback", "web")
	if code != 3 || image() != v2ID {
		t.Fatalf("L1 rollback request: exit %d\n%s%s", code, out, stderr)
	}
	id := approvalID(t, out)
	if code, out, _ := runWith(env, "", "-user", "oncall", "approve", id); code != 3 || image() != v2ID {
		t.Fatalf("the L1 approved their own request: exit %d\n%s", code, out)
	}
	code, out, stderr = runWith(env, "", "-user", "dev", "approve", id)
	if code != 0 || !strings.Contains(out, "Rollback: PASSED") || !strings.Contains(out, "approved by console:dev") {
		t.Fatalf("approved rollback: exit %d\n%s%s", code, out, stderr)
	}
	if got := image(); got != v1ID {
		t.Fatalf("after the rollback web runs %s, want v1 %s", got, v1ID)
	}
	if h := dockertest.HealthStatus(t, p.Service("web").Name); h != "healthy" {
		t.Errorf("web after the rollback: %s", h)
	}
}

// TestOneShotInvalidDeployAsksNobody: the reproductions against
// the demo project, through the real binary's wiring with approvals on: a
// hostile service, a hostile image, an image the engine does not have and
// a hostile rollback each exit 2 with one sentence, and no request is
// recorded; a valid deploy still becomes a request (exit 3).
func TestOneShotInvalidDeployAsksNobody(t *testing.T) {
	env := map[string]string{
		"SHIFTWISE_DATABASE_URL":    storetest.NewDatabase(t),
		"SHIFTWISE_COMPOSE_PROJECT": testenv.Get("SHIFTWISE_TEST_COMPOSE_PROJECT"),
		"DOCKER_HOST":               dockertest.Host(t),
	}
	image := testenv.Get("SHIFTWISE_TEST_APP_IMAGE")
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"deploy", "api;id", image}, `"api;id" is not a service name`},
		{[]string{"deploy", "api", "x:latest;id"}, `"x:latest;id" is not an image reference`},
		{[]string{"deploy", "api", "nonexistent/image:1"}, "nonexistent/image:1 is not on this host"},
		{[]string{"rollback", "api;id"}, `"api;id" is not a service name`},
		{[]string{"deploy", "nosuch", image}, `has no service "nosuch"`},
	} {
		code, out, stderr := runWith(env, "", append([]string{"-user", "oncall"}, c.args...)...)
		if code != 2 || !strings.Contains(out, c.says) || strings.Contains(out, "(A-") {
			t.Errorf("%q: exit %d; want 2 saying %q and no request\n%s%s", c.args, code, c.says, out, stderr)
		}
	}
	code, out, _ := runWith(env, "", "-user", "oncall", "audit")
	if code != 0 || strings.Contains(out, "pending") {
		t.Errorf("audit after the refusals: exit %d\n%s", code, out)
	}
	code, out, stderr := runWith(env, "", "-user", "oncall", "deploy", "api", image)
	if code != 3 || !strings.Contains(out, "Approval needed: deploy") {
		t.Errorf("a valid deploy: exit %d\n%s%s", code, out, stderr)
	}
}
