package docker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// demoImage is the demo stack's api/frontend/nginx image (scripts/demo-images.sh).
const demoImage = "shiftwise-demo/app:latest"

// BenchmarkDeploy measures a deploy (v1 -> v2) and a rollback (v2 -> v1)
// of a throwaway service shaped like the demo stack's api: the demo app
// image, its environment, a port on 127.0.0.1 and a healthcheck. Each
// iteration is one deploy and one rollback, reported separately, with
// where the time goes: stopping the old container, creating and starting
// the new one, and waiting for its healthcheck.
//
//	go test -run '^$' -bench BenchmarkDeploy -benchtime 5x ./integrations/docker
//
// "compose" uses the demo compose file's healthcheck (every 3 s, so a
// new container is healthy after its first check, about 3 s in);
// "fast" checks every 250 ms, which leaves mostly the bot's and the
// engine's own work.
func BenchmarkDeploy(b *testing.B) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
	}{{"compose", 3 * time.Second}, {"fast", 250 * time.Millisecond}} {
		b.Run(tc.name, func(b *testing.B) { benchDeploy(b, tc.interval) })
	}
}

func benchDeploy(b *testing.B, interval time.Duration) {
	ctx := context.Background()
	if _, err := dockertest.Engine(b).ImageInspect(ctx, demoImage); err != nil {
		testenv.Missing(b, "the demo image "+demoImage+" (scripts/demo-images.sh)", err)
	}
	project := dockertest.ProjectName(b)
	repo := "shiftwise-test/deploy-bench:" + strings.TrimPrefix(project, "swtest-")
	v1, v2 := repo+"-v1", repo+"-v2"
	dockertest.Tag(b, demoImage, v1)
	dockertest.DeriveImage(b, v1, v2)
	b.Cleanup(func() { dockertest.Untag(b, docker.KeepRef(project, "api")) })
	dockertest.SweepProject(b, project)
	p := dockertest.StartNamedProject(b, project, dockertest.Service{
		Name: "api", Image: v1, Ports: []string{"3000"},
		Env: []string{"DEMO_ROLE=api", "DEMO_ADDR=:3000"},
		Health: &dockertest.Health{
			Test:     []string{"CMD", "/usr/local/bin/shiftwise-demo", "healthcheck", "-timeout", "2s"},
			Interval: interval, Timeout: 3 * time.Second, Retries: 3,
		},
	})
	dockertest.WaitHealthy(b, p.Service("api").ID, time.Minute)
	c, err := docker.New(dockertest.Host(b), project)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()

	var deployT, rollbackT, stopT, startT, healthT time.Duration
	run := func(plan docker.DeployPlan, err error) time.Duration {
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		marks := map[string]time.Duration{}
		opts := docker.DeployOptions{By: "bench", HealthTimeout: time.Minute,
			Step: func(step, _ string) { marks[step] = time.Since(start) }}
		res, err := c.Apply(ctx, plan, opts)
		took := time.Since(start)
		if err != nil || res.RolledBack {
			b.Fatalf("%s: %+v %v", plan.Action, res, err)
		}
		stopT += marks["starting new"] - marks["stopping old"]
		startT += marks["waiting for health"] - marks["starting new"]
		healthT += marks["removing old"] - marks["waiting for health"]
		return took
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		deployT += run(c.PlanDeploy(ctx, "api", v2))
		rollbackT += run(c.PlanRollback(ctx, "api"))
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(deployT.Milliseconds())/n, "ms/deploy")
	b.ReportMetric(float64(rollbackT.Milliseconds())/n, "ms/rollback")
	b.ReportMetric(float64(stopT.Milliseconds())/(2*n), "ms-stop/op")
	b.ReportMetric(float64(startT.Milliseconds())/(2*n), "ms-create-start/op")
	b.ReportMetric(float64(healthT.Milliseconds())/(2*n), "ms-health/op")
}
