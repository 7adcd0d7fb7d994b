package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// dbAnswer is GET /db's body.
type dbAnswer struct {
	Status          string `json:"status"`
	Error           string `json:"error"`
	PostmasterStart string `json:"postmaster_start"`
	BackendPID      int    `json:"backend_pid"`
}

func getDB(t *testing.T, base string) (int, dbAnswer) {
	t.Helper()
	code, body := get(t, base+"/db")
	var a dbAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("GET /db = %d %q: %v", code, body, err)
	}
	return code, a
}

// Without a database the api still starts and is healthy; /db says why it
// cannot query, without the password. Other roles have no /db.
func TestDBEndpointWhenTheDatabaseIsDown(t *testing.T) {
	dsn := "postgres://shiftwise:secret@" + testenv.RefusedAddr(t) + "/shiftwise?sslmode=disable"
	base, cancel, _, _ := startServe(t, map[string]string{"DATABASE_URL": dsn}, "-role", "api")
	defer cancel()
	if c, _ := get(t, base+"/health"); c != 200 {
		t.Errorf("GET /health with the database down = %d", c)
	}
	code, a := getDB(t, base)
	if code != 503 || a.Status != "error" || a.Error == "" || strings.Contains(a.Error, "secret") {
		t.Errorf("GET /db with the database down = %d %+v", code, a)
	}
	fbase, fcancel, _, _ := startServe(t, map[string]string{"DATABASE_URL": dsn}, "-role", "frontend")
	defer fcancel()
	if c, _ := get(t, fbase+"/db"); c != 404 {
		t.Errorf("GET /db of the frontend = %d, want 404", c)
	}
}

// The api's pool outlives the server dropping its connections: every
// backend of the api is terminated (as a PostgreSQL restart does) and /db
// answers again from a new backend, without restarting the api.
func TestDBEndpointReconnectsAfterItsBackendsAreTerminated(t *testing.T) {
	pg, dsn := dockertest.StartPostgres(t)
	base, cancel, _, _ := startServe(t, map[string]string{"DATABASE_URL": dsn + "&application_name=demo-api-test"}, "-role", "api")
	defer cancel()
	code, before := getDB(t, base)
	if code != 200 || before.Status != "ok" || before.BackendPID == 0 || before.PostmasterStart == "" {
		t.Fatalf("GET /db = %d %+v", code, before)
	}
	n := dockertest.Psql(t, pg, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'demo-api-test'")
	if strings.TrimSpace(n) == "0" {
		t.Fatal("the api holds no connection to terminate")
	}
	var after dbAnswer
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, after = getDB(t, base)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /db still %d %+v 30 s after its backends were terminated", code, after)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if after.BackendPID == before.BackendPID || after.PostmasterStart != before.PostmasterStart {
		t.Errorf("GET /db before %+v, after %+v: want a new backend of the same server", before, after)
	}
}
