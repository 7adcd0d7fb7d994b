package commands

import (
	"context"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// BenchmarkHealth measures, on the running demo stack and in one run: each
// check alone (check=<name>), the whole `health` (health), and the
// runbook's Daily Health Check done by hand as shell commands one after
// another (runbook-shell); and health as a freshly started bot runs it,
// reading the whole day of logs (health-first-run). scripts/bench.sh turns the results into
// medians and ratios for the README.
func BenchmarkHealth(b *testing.B) {
	dc, err := docker.New(dockertest.Host(b), testenv.Get("SHIFTWISE_TEST_COMPOSE_PROJECT"))
	if err != nil {
		b.Fatal(err)
	}
	defer dc.Close()
	dir := b.TempDir()
	writeRealDump(b, dir, "shiftwise_bench.sql")
	db, cache := openDB(b, testenv.TargetDB(b)), openCache(b, testenv.TargetRedis(b))
	newHealth := func() *Health {
		return &Health{
			APIURL: testenv.DemoAPI(b), FrontendURL: testenv.DemoFrontend(b), HTTP: &http.Client{},
			Docker: dc, DB: db, Cache: cache, BackupDir: dir, Limits: DefaultHealthLimits(),
		}
	}
	ctx := context.Background()
	// The running bot follows the logs (main enables it outside one-shot).
	h := newHealth()
	followCtx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	h.Follow(followCtx)
	for _, name := range h.CheckNames() {
		b.Run("check="+strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
			for b.Loop() {
				for _, c := range h.RunCheck(ctx, name) {
					if c.Status == bot.StatusFailed && !strings.HasPrefix(c.Name, "disk") && c.Name != "memory" {
						b.Fatalf("%s FAILED on the demo stack: %s", c.Name, c.Value)
					}
				}
			}
		})
	}
	b.Run("health", func(b *testing.B) {
		for b.Loop() {
			if m := h.Run(ctx, h.Limits.CheckTimeout); len(m.Checks) < 9 {
				b.Fatalf("health returned %d checks", len(m.Checks))
			}
		}
	})
	// A bot that just started reads the whole day of logs once.
	b.Run("health-first-run", func(b *testing.B) {
		for b.Loop() {
			if m := newHealth().Run(ctx, h.Limits.CheckTimeout); len(m.Checks) < 9 {
				b.Fatalf("health returned %d checks", len(m.Checks))
			}
		}
	})
	b.Run("runbook-shell", func(b *testing.B) {
		script := runbookScript(b, dir)
		for b.Loop() {
			out, err := exec.Command("bash", "-c", script).CombinedOutput()
			if err != nil {
				b.Fatalf("runbook steps: %v\n%s", err, out)
			}
		}
	})
}

// runbookScript is the runbook's Daily Health Check as a person types it,
// pointed at the demo stack: docker ps, docker logs --since 24h | grep -ci
// error per container, curl of both /health, the newest backup, df -h,
// free -h, pg_isready and the connection count, redis-cli ping and info
// memory.
func runbookScript(b *testing.B, backupDir string) string {
	for _, tool := range []string{"docker", "curl", "pg_isready", "psql", "redis-cli", "df", "free"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(b, tool+" (for the runbook-shell baseline)", err)
		}
	}
	db, _ := url.Parse(testenv.TargetDB(b))
	rd, _ := url.Parse(testenv.TargetRedis(b))
	pw, _ := db.User.Password()
	project := testenv.Get("SHIFTWISE_TEST_COMPOSE_PROJECT")
	return strings.Join([]string{
		"set -e",
		"docker ps -a --filter label=com.docker.compose.project=" + project + " >/dev/null",
		"for c in $(docker ps -aq --filter label=com.docker.compose.project=" + project + "); do docker logs --since 24h $c 2>&1 | grep -ci error >/dev/null || true; done",
		"curl -fsS -o /dev/null -w '%{time_total}' " + testenv.DemoAPI(b) + "/health >/dev/null",
		"curl -fsS -o /dev/null -w '%{time_total}' " + testenv.DemoFrontend(b) + "/health >/dev/null",
		"ls -t " + backupDir + " | head -1 >/dev/null",
		"df -h >/dev/null",
		"free -h >/dev/null",
		"pg_isready -h " + db.Hostname() + " -p " + db.Port() + " -U shiftwise >/dev/null",
		"PGPASSWORD=" + pw + " psql -h " + db.Hostname() + " -p " + db.Port() + " -U shiftwise -d shiftwise -Atc 'SELECT count(*), state FROM pg_stat_activity GROUP BY state' >/dev/null",
		"redis-cli -h " + rd.Hostname() + " -p " + rd.Port() + " ping >/dev/null",
		"redis-cli -h " + rd.Hostname() + " -p " + rd.Port() + " info memory >/dev/null",
	}, "\n")
}
