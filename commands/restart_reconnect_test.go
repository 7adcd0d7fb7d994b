package commands

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
)

// apiDB is the demo api's GET /db: a query through its long-lived pool.
type apiDB struct {
	Status          string `json:"status"`
	Error           string `json:"error"`
	PostmasterStart string `json:"postmaster_start"`
	BackendPID      int    `json:"backend_pid"`
}

func getAPIDB(base string) (int, apiDB, error) {
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(base + "/db")
	if err != nil {
		return 0, apiDB{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return resp.StatusCode, apiDB{}, err
	}
	var a apiDB
	if err := json.Unmarshal(body, &a); err != nil {
		return resp.StatusCode, apiDB{}, err
	}
	return resp.StatusCode, a, nil
}

// waitAPIDB polls the api's database check until it answers 200, failing
// the test after a generous bound (not a timing assertion: the api either
// reaches the database again or it does not).
func waitAPIDB(t *testing.T, base, when string) apiDB {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, a, err := getAPIDB(base)
		if err == nil && code == http.StatusOK && a.Status == "ok" {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("the api does not reach the database %s: GET /db = %d %+v %v", when, code, a, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// The runbook's "restart postgres and the api reconnects", on the real
// engine: a throwaway project shaped like deploy/demo (postgres of the demo
// data image; the demo api with DATABASE_URL naming postgres by its network
// alias) and the real `restart postgres`. The command answers once
// postgres is healthy again; the api, never restarted, then queries the new
// server through the same long-lived pool.
func TestRestartPostgresAndTheAPIReconnects(t *testing.T) {
	t.Parallel()
	network := dockertest.NewNetwork(t)
	pgSvc := dockertest.PostgresService(t)
	pgSvc.Network = network
	apiSvc := dockertest.Service{
		Name:  "api",
		Image: dockertest.DemoAppImage(t),
		Env: []string{"DEMO_ROLE=api", "DEMO_ADDR=:3000",
			"DATABASE_URL=postgres://shiftwise:shiftwise@postgres:5432/shiftwise?sslmode=disable"},
		Ports:   []string{"3000"},
		Health:  &dockertest.Health{Test: []string{"CMD", "/usr/local/bin/shiftwise-demo", "healthcheck", "-timeout", "2s"}},
		Network: network,
	}
	p := dockertest.StartProject(t, pgSvc, apiSvc)
	pg, api := p.Service("postgres"), p.Service("api")
	dockertest.WaitHealthy(t, pg.ID, 3*time.Minute)
	dockertest.WaitHealthy(t, api.ID, time.Minute)
	base := api.URL("3000")
	before := waitAPIDB(t, base, "before the restart")
	if before.PostmasterStart == "" || before.BackendPID == 0 {
		t.Fatalf("GET /db before the restart: %+v", before)
	}
	pgStart, apiStart := startedAt(t, pg.ID), startedAt(t, api.ID)

	o := opsOn(t, p, containersPolicy)
	o.s.ReadyTimeout = 3 * time.Minute // postgres replays its WAL on a slow, shared machine
	r, _ := o.run("console:l2", "restart postgres")
	// The command answers only when postgres is healthy again.
	health := dockertest.HealthStatus(t, pg.ID)
	if r.Outcome != bot.OutcomeOK || r.Message.Status != bot.StatusOK || len(r.Message.Checks) != 1 ||
		!strings.Contains(r.Message.Checks[0].Value, "running, healthy after") {
		t.Fatalf("restart postgres:\n%s", render(r.Message))
	}
	if health != "healthy" {
		t.Errorf("restart postgres answered while postgres was %q", health)
	}
	if got := startedAt(t, pg.ID); got == pgStart {
		t.Errorf("postgres still runs since %s: it was not restarted", pgStart)
	}

	// The api reaches the new server by itself.
	after := waitAPIDB(t, base, "after restart postgres")
	if after.PostmasterStart == before.PostmasterStart {
		t.Errorf("GET /db after the restart answers from a server started at %s, as before", after.PostmasterStart)
	}
	if in := dockertest.Inspect(t, api.ID); in.State.StartedAt != apiStart || in.RestartCount != 0 || in.State.Status != "running" {
		t.Errorf("the api was restarted (started %s, then %s; %d restarts; %s): it must reconnect by itself",
			apiStart, in.State.StartedAt, in.RestartCount, in.State.Status)
	}
}
