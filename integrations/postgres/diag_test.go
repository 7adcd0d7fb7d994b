package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/integrations/postgres"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// The diagnostics and fixes run against a throwaway PostgreSQL of the
// demo image (the shared demo stack is read-only for tests): kill, vacuum,
// index creation, settings and pg_stat_statements on and off change it.
// Each differential check reads the runbook's own query (PostgreSQL 15
// form) with psql inside the container, via docker exec, at the same
// moment; a value that may move by itself is read before and after ours
// and ours must equal one of the two.

// psqlTime is psql's rendering of a timestamptz in a UTC session.
const psqlTime = "2006-01-02 15:04:05.999999-07"

func parsePsqlTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(psqlTime, strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("psql time %q: %v", s, err)
	}
	return v
}

// rows splits psql -At output into rows of fields.
func rows(out string) [][]string {
	var r [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if line != "" {
			r = append(r, strings.Split(line, "|"))
		}
	}
	return r
}

func TestOnThrowawayServer(t *testing.T) {
	t.Parallel()
	c, dbURL := dockertest.StartPostgres(t)
	db := open(t, dbURL)
	psqlOf := func(t *testing.T) func(string) string {
		return func(sql string) string { t.Helper(); return dockertest.Psql(t, c, sql) }
	}

	t.Run("status equals pg_postmaster_start_time", func(t *testing.T) {
		psql := psqlOf(t)
		s, err := db.Status(ctxTimeout(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		r := rows(psql("SELECT pg_postmaster_start_time(), current_setting('server_version'), current_database()"))[0]
		if !s.StartedAt.Equal(parsePsqlTime(t, r[0])) || s.Version != r[1] || s.Database != r[2] {
			t.Fatalf("Status = %+v; psql says %q", s, r)
		}
		if s.Uptime <= 0 || s.Uptime > time.Since(s.StartedAt)+time.Minute {
			t.Fatalf("Uptime %s for a server started at %s", s.Uptime, s.StartedAt)
		}
	})

	t.Run("connections equal the runbook's count by state", func(t *testing.T) {
		psql := psqlOf(t)
		// A pool of its own, closed before psql counts: psql then sees
		// itself active where we saw ourselves, and at most our closing
		// session still idle.
		own := open(t, dbURL)
		got, err := own.Connections(ctxTimeout(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		own.Close()
		runbook := map[string]int{}
		for _, r := range rows(psql("SELECT count(*) AS active_connections, state FROM pg_stat_activity GROUP BY state")) {
			n, _ := strconv.Atoi(r[0])
			runbook[r[1]] = n
		}
		if runbook[""] == 0 {
			t.Fatalf("the runbook's query shows no server processes (empty state): %v", runbook)
		}
		for state, n := range runbook {
			if state == "" {
				continue // server processes: not client connections
			}
			want := got.ByState[state]
			if n != want && !(state == "idle" && n == want+1) {
				t.Errorf("state %q: runbook query %d, ours %d (ours %v, runbook %v)", state, n, want, got.ByState, runbook)
			}
		}
		for state := range got.ByState {
			if _, ok := runbook[state]; !ok {
				t.Errorf("state %q is ours only: %v vs %v", state, got.ByState, runbook)
			}
		}
		if max := strings.TrimSpace(psql("SHOW max_connections")); strconv.Itoa(got.Max) != max {
			t.Errorf("Max = %d, SHOW max_connections %s", got.Max, max)
		}
	})

	t.Run("long-running found and killed, idle, bot and monitoring sessions not", func(t *testing.T) {
		psql := psqlOf(t)
		testLongRunning(t, db, dbURL, psql)
	})

	t.Run("tables equal the runbook's statistics", func(t *testing.T) {
		psql := psqlOf(t)
		const q = `SELECT schemaname, relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables
ORDER BY n_tup_ins + n_tup_upd + n_tup_del DESC LIMIT 10`
		before := psql(q)
		list, err := db.Writes(ctxTimeout(t, 10*time.Second), 10)
		if err != nil {
			t.Fatal(err)
		}
		after := psql(q)
		var b strings.Builder
		for _, w := range list {
			fmt.Fprintf(&b, "%s|%s|%d|%d|%d\n", w.Schema, w.Table, w.Inserts, w.Updates, w.Deletes)
		}
		sorted := func(s string) string {
			l := strings.Split(strings.TrimSpace(s), "\n")
			slices.Sort(l)
			return strings.Join(l, "\n")
		}
		if len(list) < 4 || sorted(b.String()) != sorted(before) && sorted(b.String()) != sorted(after) {
			t.Fatalf("ours:\n%s\nrunbook's:\n%s", b.String(), before)
		}
	})

	t.Run("size equals pg_database_size", func(t *testing.T) {
		psql := psqlOf(t)
		const q = "SELECT pg_database_size('shiftwise'), pg_size_pretty(pg_database_size('shiftwise'))"
		before := rows(psql(q))[0]
		s, err := db.Size(ctxTimeout(t, 10*time.Second), 10)
		if err != nil {
			t.Fatal(err)
		}
		after := rows(psql(q))[0]
		if got := strconv.FormatInt(s.Bytes, 10); got != before[0] && got != after[0] {
			t.Fatalf("Size %d bytes, runbook's query %s (%s) then %s", s.Bytes, before[0], before[1], after[0])
		}
		if len(s.Tables) != 4 || s.Tables[0].Table != "assignments" {
			t.Fatalf("largest tables %+v", s.Tables)
		}
	})

	t.Run("slow queries present and absent", func(t *testing.T) {
		psql := psqlOf(t)
		testSlowQueries(t, db, dbURL, psql)
	})

	t.Run("vacuum analyze with progress and a statement timeout", func(t *testing.T) {
		psql := psqlOf(t)
		testVacuum(t, db, dbURL, psql)
	})

	t.Run("indexes missing, created concurrently, invalid rebuilt", func(t *testing.T) {
		psql := psqlOf(t)
		testIndexes(t, c, db, psql)
	})

	t.Run("settings current vs recommended, restart pending", func(t *testing.T) {
		psql := psqlOf(t)
		testSettings(t, db, psql)
	})
}

// session is a test connection running one query in the background.
type session struct {
	conn  *pgx.Conn
	pid   int
	ended chan struct{} // closed when the query has returned
	err   error         // what it returned, once ended
}

// result returns the query's error once it has ended, and whether it has.
func (s *session) result() (error, bool) {
	select {
	case <-s.ended:
		return s.err, true
	default:
		return nil, false
	}
}

func dial(t *testing.T, dbURL, app string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = app
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// sleeping starts `SELECT pg_sleep(600)` on a new connection; the test's
// end cancels it.
func sleeping(t *testing.T, dbURL, app string) *session {
	t.Helper()
	s := &session{conn: dial(t, dbURL, app), ended: make(chan struct{})}
	s.pid = int(s.conn.PgConn().PID())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, s.err = s.conn.Exec(ctx, "SELECT pg_sleep(600)")
		close(s.ended)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.ended:
		case <-time.After(30 * time.Second):
			t.Errorf("pid %d: the sleeping query did not end on cancel", s.pid)
		}
	})
	return s
}

func pids(list []postgres.Backend) []int {
	var out []int
	for _, b := range list {
		out = append(out, b.PID)
	}
	slices.Sort(out)
	return out
}

func testLongRunning(t *testing.T, db *postgres.DB, dbURL string, psql func(string) string) {
	psql(`DO $$ BEGIN
	  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'monitor') THEN
	    CREATE ROLE monitor LOGIN PASSWORD 'monitor' IN ROLE pg_monitor;
	  END IF; END $$`)
	monURL := strings.Replace(dbURL, "shiftwise:shiftwise@", "monitor:monitor@", 1)

	idle := dial(t, dbURL, "idle-client")
	long := sleeping(t, dbURL, "shiftwise-api")
	bot := sleeping(t, dbURL, "shiftwise-bot")      // the bot's other session
	tool := sleeping(t, dbURL, "postgres_exporter") // a monitoring tool
	mon := sleeping(t, monURL, "dashboard")         // a pg_monitor member
	_ = idle

	// Wait (bounded) until all four queries are older than a second.
	var list []postgres.Backend
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		list, err = db.LongRunning(ctxTimeout(t, 10*time.Second), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		n := strings.TrimSpace(psql(fmt.Sprintf(`SELECT count(*) FROM pg_stat_activity WHERE state = 'active'
AND query_start < now() - interval '1 second' AND pid IN (%d, %d, %d, %d)`, long.pid, bot.pid, tool.pid, mon.pid)))
		if len(list) > 0 && n == "4" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the test's queries did not show up as running: ours %v, psql count %s", pids(list), n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := pids(list); !slices.Equal(got, []int{long.pid}) {
		t.Fatalf("LongRunning = %v, want only the api's query %d (bot %d, exporter %d, monitor %d, idle %d)",
			got, long.pid, bot.pid, tool.pid, mon.pid, idle.PgConn().PID())
	}
	b := list[0]
	if b.Application != "shiftwise-api" || b.State != "active" || !strings.Contains(b.Query, "pg_sleep(600)") || b.Age < time.Second {
		t.Fatalf("backend %+v", b)
	}

	// The runbook's own query (PostgreSQL 15 form) lists ours and the
	// excluded ones, and nothing else of the test.
	runbook := map[int]time.Time{}
	for _, r := range rows(psql(`SELECT pid, query_start FROM pg_stat_activity WHERE state = 'active'
AND query_start < now() - interval '1 second' AND query NOT LIKE '%pg_stat_activity%'`)) {
		pid, _ := strconv.Atoi(r[0])
		runbook[pid] = parsePsqlTime(t, r[1])
	}
	for _, p := range []int{long.pid, bot.pid, tool.pid, mon.pid} {
		if _, ok := runbook[p]; !ok {
			t.Fatalf("the runbook's query misses pid %d: %v", p, runbook)
		}
	}
	if !runbook[long.pid].Equal(b.QueryStart) {
		t.Fatalf("query_start %s, psql %s", b.QueryStart, runbook[long.pid])
	}

	// A reused PID (same PID, another query_start) is never ended, nor
	// are the bot's and monitoring sessions even when named.
	older := time.Second
	res, err := db.Terminate(ctxTimeout(t, 10*time.Second), []postgres.BackendRef{
		{PID: long.pid, QueryStart: b.QueryStart.Add(time.Microsecond)},
		{PID: bot.pid, QueryStart: runbook[bot.pid]},
		{PID: tool.pid, QueryStart: runbook[tool.pid]},
		{PID: mon.pid, QueryStart: runbook[mon.pid]},
		{PID: int(idle.PgConn().PID()), QueryStart: b.QueryStart},
	}, older)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Ended {
			t.Fatalf("Terminate ended %+v", r)
		}
	}
	if err, ended := long.result(); ended {
		t.Fatalf("the api's query ended although its ref was off by 1µs: %v", err)
	}

	res, err = db.Terminate(ctxTimeout(t, 10*time.Second), []postgres.BackendRef{b.Ref()}, older)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || !res[0].Ended {
		t.Fatalf("Terminate = %+v", res)
	}
	select {
	case <-long.ended:
		err := long.err
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "57P01" { // admin_shutdown: terminated
			t.Fatalf("the api's query ended with %v, want termination (57P01)", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the api's query still runs after Terminate")
	}
	for _, s := range []*session{bot, tool, mon} {
		if err, ended := s.result(); ended {
			t.Fatalf("pid %d ended: %v", s.pid, err)
		}
	}
	if err := idle.Ping(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatalf("the idle session is gone: %v", err)
	}
	// Ending it again finds nothing: the PID is gone.
	res, err = db.Terminate(ctxTimeout(t, 10*time.Second), []postgres.BackendRef{b.Ref()}, older)
	if err != nil || res[0].Ended {
		t.Fatalf("second Terminate = %+v, %v", res, err)
	}
}

func testSlowQueries(t *testing.T, db *postgres.DB, dbURL string, psql func(string) string) {
	c := dial(t, dbURL, "shiftwise-api")
	for _, d := range []string{"0.25", "0.25", "0.15"} {
		if _, err := c.Exec(ctxTimeout(t, 10*time.Second), "SELECT pg_sleep($1::float8)", d); err != nil {
			t.Fatal(err)
		}
	}
	// The runbook's query, PostgreSQL 13+ names; only statements slower
	// than 100 ms on average (the test's sleeps) cannot move by themselves.
	const q = `SELECT query, calls, round(total_exec_time::numeric, 3), round(mean_exec_time::numeric, 3)
FROM pg_stat_statements WHERE mean_exec_time > 100 ORDER BY mean_exec_time DESC LIMIT 10`
	runbook := psql(q)
	list, err := db.SlowQueries(ctxTimeout(t, 10*time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, s := range list {
		if s.MeanMS > 100 {
			fmt.Fprintf(&b, "%s|%d|%.3f|%.3f\n", s.Query, s.Calls, s.TotalMS, s.MeanMS)
		}
	}
	if b.String() != runbook || !strings.Contains(runbook, "pg_sleep") {
		t.Fatalf("ours:\n%s\nrunbook's:\n%s", b.String(), runbook)
	}

	psql("DROP EXTENSION pg_stat_statements")
	_, err = db.SlowQueries(ctxTimeout(t, 10*time.Second), 10)
	if !errors.Is(err, postgres.ErrNoStatements) || !strings.Contains(err.Error(), "not installed") {
		t.Fatalf("without the extension: %v", err)
	}
	psql("CREATE EXTENSION pg_stat_statements")
	if _, err := db.SlowQueries(ctxTimeout(t, 10*time.Second), 10); err != nil {
		t.Fatalf("extension back: %v", err)
	}
}

func TestSlowQueriesWithoutExtension(t *testing.T) {
	// The host's server has no pg_stat_statements in a fresh database.
	db := open(t, testenv.NewDatabase(t))
	_, err := db.SlowQueries(ctxTimeout(t, 10*time.Second), 10)
	if !errors.Is(err, postgres.ErrNoStatements) {
		t.Fatalf("SlowQueries = %v, want ErrNoStatements", err)
	}
}

func testVacuum(t *testing.T, db *postgres.DB, dbURL string, psql func(string) string) {
	psql("UPDATE stations SET location = location") // dead rows to vacuum
	start := time.Now()
	var mu sync.Mutex
	var steps []string
	res, err := db.Vacuum(ctxTimeout(t, 5*time.Minute), time.Minute, func(done, total int, table string) {
		mu.Lock()
		defer mu.Unlock()
		steps = append(steps, fmt.Sprintf("%d/%d %s", done, total, table))
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Tables < 4 || len(steps) != res.Tables+1 || !strings.HasPrefix(steps[0], "0/") ||
		steps[len(steps)-1] != fmt.Sprintf("%d/%d ", res.Tables, res.Tables) ||
		!slices.ContainsFunc(steps, func(s string) bool { return strings.HasSuffix(s, " public.stations") }) {
		t.Fatalf("Vacuum = %+v, progress %v", res, steps)
	}
	r := rows(psql("SELECT last_vacuum, last_analyze, n_dead_tup FROM pg_stat_user_tables WHERE relname = 'stations'"))[0]
	if r[0] == "" || r[1] == "" || parsePsqlTime(t, r[0]).Before(start.Add(-time.Second)) || r[2] != "0" {
		t.Fatalf("stations after VACUUM ANALYZE: last_vacuum %q, last_analyze %q, dead %s", r[0], r[1], r[2])
	}

	// A table someone else holds locked: the statement timeout ends the
	// run with a clear error instead of waiting for ever.
	locker := dial(t, dbURL, "locker")
	tx, err := locker.Begin(ctxTimeout(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctxTimeout(t, 10*time.Second), "LOCK TABLE stations IN SHARE UPDATE EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	_, err = db.Vacuum(ctxTimeout(t, 5*time.Minute), time.Second, nil)
	var pgErr *pgconn.PgError
	if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "57014" || !strings.Contains(err.Error(), "public.stations") {
		t.Fatalf("Vacuum past a lock = %v, want a statement timeout (57014) naming public.stations", err)
	}
}

func testIndexes(t *testing.T, c dockertest.Container, db *postgres.DB, psql func(string) string) {
	state := func() map[string]postgres.IndexState {
		t.Helper()
		list, err := db.Indexes(ctxTimeout(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]postgres.IndexState{}
		for _, s := range list {
			m[s.Name] = s
		}
		return m
	}
	s := state()
	// The demo seed leaves the runbook's indexes out; shift_demands'
	// UNIQUE (date, station_id, shift) covers (date, station_id).
	if s["idx_assignments_employee_date"].State != postgres.IndexMissing ||
		s["idx_shift_demands_date_station"].State != postgres.IndexOtherName ||
		s["idx_shift_demands_date_station"].Found != "shift_demands_date_station_id_shift_key" {
		t.Fatalf("before: %+v", s)
	}
	if got := psql("SELECT indexname FROM pg_indexes WHERE indexname = 'idx_assignments_employee_date'"); got != "" {
		t.Fatalf("psql sees %q", got)
	}

	// A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind.
	out, err := dockertest.ExecResult(c, dockertest.PsqlArgv("CREATE UNIQUE INDEX CONCURRENTLY idx_assignments_employee_date ON assignments (employee_id)")...)
	if err == nil {
		t.Fatalf("a unique index on duplicate employee_ids was created: %s", out)
	}
	if got := state()["idx_assignments_employee_date"].State; got != postgres.IndexInvalid {
		t.Fatalf("after the failed build: %s", got)
	}
	var said []string
	done, err := db.CreateIndexes(ctxTimeout(t, 5*time.Minute), time.Minute, func(s string) { said = append(said, s) })
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 2 || done[0].Action != "rebuilt" || !strings.HasPrefix(done[1].Action, "kept") {
		t.Fatalf("CreateIndexes = %+v", done)
	}
	if !slices.Contains(said, "creating idx_assignments_employee_date") || !slices.Contains(said, "analyzing employees") {
		t.Fatalf("progress %v", said)
	}
	if got := state()["idx_assignments_employee_date"].State; got != postgres.IndexPresent {
		t.Fatalf("after CreateIndexes: %s", got)
	}
	def := psql("SELECT i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'idx_assignments_employee_date'")
	if !strings.HasPrefix(def, "t|CREATE INDEX idx_assignments_employee_date ON public.assignments USING btree (employee_id, created_at)") {
		t.Fatalf("psql: %q", def)
	}
	// Again: nothing to do.
	done, err = db.CreateIndexes(ctxTimeout(t, 5*time.Minute), time.Minute, nil)
	if err != nil || !strings.HasPrefix(done[0].Action, "kept") {
		t.Fatalf("second CreateIndexes = %+v, %v", done, err)
	}
}

func testSettings(t *testing.T, db *postgres.DB, psql func(string) string) {
	get := func() map[string]postgres.Setting {
		t.Helper()
		list, err := db.Settings(ctxTimeout(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]postgres.Setting{}
		for _, s := range list {
			m[s.Name] = s
		}
		return m
	}
	s := get()
	for _, name := range []string{"shared_buffers", "effective_cache_size"} {
		r := rows(psql(fmt.Sprintf("SELECT current_setting('%s'), setting, unit, context, pending_restart FROM pg_settings WHERE name = '%s'", name, name)))[0]
		got := s[name]
		if got.Current != r[0] || got.Setting != r[1] || got.Unit != r[2] || got.Context != r[3] || fmt.Sprint(got.PendingRestart) != map[string]string{"t": "true", "f": "false"}[r[4]] {
			t.Fatalf("%s: ours %+v, psql %q", name, got, r)
		}
	}
	if sb := s["shared_buffers"]; sb.Current != "128MB" || sb.Matches || !sb.NeedsRestart || sb.PendingRestart {
		t.Fatalf("shared_buffers before: %+v", sb)
	}
	if err := db.ApplySettings(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	// The reload has to reach every backend: ask until it has (bounded).
	deadline := time.Now().Add(20 * time.Second)
	for {
		s = get()
		if s["effective_cache_size"].Matches || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if e := s["effective_cache_size"]; e.Current != "1GB" || !e.Matches || e.PendingRestart {
		t.Fatalf("effective_cache_size after apply: %+v", e)
	}
	if sb := s["shared_buffers"]; sb.Current != "128MB" || sb.Matches || !sb.PendingRestart {
		t.Fatalf("shared_buffers after apply (needs a restart): %+v", sb)
	}
	if r := strings.TrimSpace(psql("SELECT pending_restart FROM pg_settings WHERE name = 'shared_buffers'")); r != "t" {
		t.Fatalf("psql pending_restart = %q", r)
	}
}

func TestSlowQueriesExtensionNotLoaded(t *testing.T) {
	t.Parallel()
	// The extension exists in the database (the demo image creates it),
	// but this server does not load its library.
	c, dbURL := dockertest.StartPostgres(t, "-c", "shared_preload_libraries=")
	if got := strings.TrimSpace(dockertest.Psql(t, c, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'")); got != "1" {
		t.Fatalf("extension rows %q", got)
	}
	db := open(t, dbURL)
	_, err := db.SlowQueries(ctxTimeout(t, 10*time.Second), 10)
	if !errors.Is(err, postgres.ErrNoStatements) || !strings.Contains(err.Error(), "does not load it") {
		t.Fatalf("SlowQueries = %v, want ErrNoStatements saying the library is not loaded", err)
	}
	// psql agrees: the runbook's query fails the same way.
	if out, err := dockertest.ExecResult(c, dockertest.PsqlArgv("SELECT query, calls, total_exec_time, mean_exec_time FROM pg_stat_statements ORDER BY mean_exec_time DESC LIMIT 10")...); err == nil ||
		!strings.Contains(err.Error(), "shared_preload_libraries") {
		t.Fatalf("psql: %q, %v", out, err)
	}
}
