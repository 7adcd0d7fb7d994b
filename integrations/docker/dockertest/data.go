package dockertest

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// Throwaway PostgreSQL and Redis from the demo data image
// (SHIFTWISE_TEST_DATA_IMAGE, deploy/demo: role and database shiftwise,
// password shiftwise, pg_stat_statements, the demo data; Redis without
// persistence, 64 MB LRU), for tests that change state: the shared demo
// stack is read-only for tests.

// dataStart bounds a data container's first start (initdb and the seed).
const dataStart = 3 * time.Minute

// dataImage returns the demo data image, skipping the test (failing it
// under CI=true) when it has not been built (scripts/demo-images.sh).
func dataImage(t testing.TB) string {
	t.Helper()
	ref := testenv.Get("SHIFTWISE_TEST_DATA_IMAGE")
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := Engine(t).ImageInspect(ctx, ref); err != nil {
		testenv.Missing(t, "the demo data image "+ref, err)
	}
	return ref
}

func dataService(t testing.TB, role string, args ...string) Service {
	port := map[string]string{"postgres": "5432", "redis": "6379"}[role]
	return Service{
		Name:   role,
		Image:  dataImage(t),
		Cmd:    append([]string{role}, args...),
		Ports:  []string{port},
		NoWait: true, // not HTTP: WaitHealthy below
		Health: &Health{
			Test:     []string{"CMD", "/usr/local/bin/shiftwise-data", "healthcheck"},
			Interval: 500 * time.Millisecond, Timeout: 4 * time.Second, Retries: 3, StartPeriod: dataStart,
		},
	}
}

// PostgresService is the service StartPostgres starts, for a test that
// puts it into a project of its own (e.g. on a network beside an api, as
// Service "postgres" of deploy/demo/docker-compose.yml): the demo data image
// with command postgres and the image's healthcheck, port 5432 published.
// Wait for it with WaitHealthy(t, id, 3*time.Minute).
func PostgresService(t testing.TB, args ...string) Service {
	t.Helper()
	return dataService(t, "postgres", args...)
}

// StartPostgres starts a throwaway PostgreSQL 15 of the demo image, with
// extra postgres options (e.g. "-c", "shared_preload_libraries="), and
// returns its container and the URL of database shiftwise as role
// shiftwise (a superuser).
func StartPostgres(t testing.TB, args ...string) (Container, string) {
	t.Helper()
	p := StartProject(t, dataService(t, "postgres", args...))
	c := p.Service("postgres")
	WaitHealthy(t, c.ID, dataStart)
	return c, "postgres://shiftwise:shiftwise@" + c.Addr("5432") + "/shiftwise?sslmode=disable"
}

// StartRedis starts a throwaway Redis 7 of the demo image and returns its
// container and the URL of its database db.
func StartRedis(t testing.TB, db int) (Container, string) {
	t.Helper()
	p := StartProject(t, dataService(t, "redis"))
	c := p.Service("redis")
	WaitHealthy(t, c.ID, time.Minute)
	return c, "redis://" + c.Addr("6379") + "/" + strconv.Itoa(db)
}

// ExecResult runs argv inside the container with `docker exec` and returns
// its standard output, or an error with its standard error when it fails.
func ExecResult(c Container, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", append([]string{"exec", c.Name}, argv...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker exec %s %s: %w: %s", c.Name, strings.Join(argv, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// Exec runs argv inside the container with `docker exec` (the way the
// runbook runs psql and redis-cli) and returns its standard output. It
// fails the test when the command fails or takes longer than a minute.
func Exec(t testing.TB, c Container, argv ...string) string {
	t.Helper()
	out, err := ExecResult(c, argv...)
	if err != nil {
		t.Fatalf("dockertest: %v", err)
	}
	return out
}

// Psql runs one SQL text with psql inside a postgres container from
// StartPostgres, as the runbook does (`psql -U shiftwise -d shiftwise
// -c ...`), unaligned and without headers: one row a line, fields
// separated by "|".
func Psql(t testing.TB, c Container, sql string) string {
	t.Helper()
	return Exec(t, c, PsqlArgv(sql)...)
}

// PsqlArgv is the argv Psql runs.
func PsqlArgv(sql string) []string {
	return []string{"psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-U", "shiftwise", "-d", "shiftwise", "-c", sql}
}
