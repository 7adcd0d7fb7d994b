package commands

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/integrations/postgres"
	"github.com/shiftwise/shiftwise-bot/integrations/redis"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/internal/store/botstore"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
)

// The db and cache commands run through the real core (parse, authorize,
// approve in the bot's PostgreSQL, run, redact) against a throwaway
// PostgreSQL and Redis of the demo image: kill, vacuum, index creation
// and flush change them, and the shared demo stack is read-only for tests.

const opsPolicy = `
g, console:alice, level1
g, slack:UDEV, level2
g, slack:UDEV2, level2
g, slack:UARCH, level3
g, slack:UARCH2, level3
`

// countingDB counts every call that reaches the database.
type countingDB struct {
	DBOps
	calls atomic.Int64
}

func (c *countingDB) LongRunning(ctx context.Context, older time.Duration) ([]postgres.Backend, error) {
	c.calls.Add(1)
	return c.DBOps.LongRunning(ctx, older)
}

func (c *countingDB) Terminate(ctx context.Context, refs []postgres.BackendRef, older time.Duration) ([]postgres.Terminated, error) {
	c.calls.Add(1)
	return c.DBOps.Terminate(ctx, refs, older)
}

func (c *countingDB) Vacuum(ctx context.Context, st time.Duration, p postgres.VacuumProgress) (postgres.VacuumResult, error) {
	c.calls.Add(1)
	return c.DBOps.Vacuum(ctx, st, p)
}

func (c *countingDB) CreateIndexes(ctx context.Context, st time.Duration, p func(string)) ([]postgres.IndexCreated, error) {
	c.calls.Add(1)
	return c.DBOps.CreateIndexes(ctx, st, p)
}

// countingCache counts every call that reaches Redis.
type countingCache struct {
	CacheOps
	calls atomic.Int64
}

func (c *countingCache) Keyspace(ctx context.Context) (map[int]int64, error) {
	c.calls.Add(1)
	return c.CacheOps.Keyspace(ctx)
}

func (c *countingCache) FlushDB(ctx context.Context) (redis.Flushed, error) {
	c.calls.Add(1)
	return c.CacheOps.FlushDB(ctx)
}

func (c *countingCache) FlushAll(ctx context.Context) (redis.Flushed, error) {
	c.calls.Add(1)
	return c.CacheOps.FlushAll(ctx)
}

// opsEngine is the real core with the db and cache commands, the policy
// above and approvals in a throwaway bot database.
func opsEngine(t *testing.T, db DBOps, cache CacheOps) *bot.Engine {
	t.Helper()
	return opsEngineWith(t, opsPolicy, db, cache)
}

func opsEngineWith(t *testing.T, policy string, db DBOps, cache CacheOps) *bot.Engine {
	t.Helper()
	st, _ := storetest.OpenTest(t)
	reg, err := bot.NewRegistry(All(Deps{Health: &Health{}, DB: db, Cache: cache})...)
	if err != nil {
		t.Fatal(err)
	}
	e, err := bot.NewEngine(bot.Options{
		Registry: reg, Authorizer: newAuthz(t, policy), Redactor: redact.New(), Timeout: time.Minute,
		Approvals: botstore.Approvals{S: st}, Auditor: botstore.Auditor{S: st},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ask(t *testing.T, e *bot.Engine, who, line string) bot.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return e.Handle(ctx, bot.Request{Subject: who, Channel: "C1", Text: line})
}

// requested asks for line and returns the pending request's ID.
func requested(t *testing.T, e *bot.Engine, who, line string) (string, bot.Message) {
	t.Helper()
	r := ask(t, e, who, line)
	if r.Outcome != bot.OutcomePending || len(r.Message.Buttons) != 2 {
		t.Fatalf("%s as %s: outcome %v, want a request: %s", line, who, r.Outcome, text(r.Message))
	}
	return r.Message.Buttons[0].Value, r.Message
}

func approve(t *testing.T, e *bot.Engine, who, id string, progress bot.ProgressFunc) bot.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return e.HandleAction(ctx, bot.Action{ID: bot.ActionApprove, Value: id, Subject: who, Channel: "C1", MessageTS: "1.1", ThreadTS: "1.1", Progress: progress})
}

type bgQuery struct {
	pid   int
	ended chan struct{}
	err   error
}

func (q *bgQuery) result() (error, bool) {
	select {
	case <-q.ended:
		return q.err, true
	default:
		return nil, false
	}
}

func dialApp(t *testing.T, dbURL, app string) *pgx.Conn {
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

// longQuery runs `SELECT pg_sleep(600)` as app until the test ends.
func longQuery(t *testing.T, dbURL, app string) *bgQuery {
	t.Helper()
	return longSQL(t, dbURL, app, "SELECT pg_sleep(600)")
}

// longSQL runs sql as app until the test ends.
func longSQL(t *testing.T, dbURL, app, sql string) *bgQuery {
	t.Helper()
	c := dialApp(t, dbURL, app)
	q := &bgQuery{pid: int(c.PgConn().PID()), ended: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, q.err = c.Exec(ctx, sql)
		close(q.ended)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-q.ended:
		case <-time.After(30 * time.Second):
			t.Errorf("pid %d: the test's query did not end on cancel", q.pid)
		}
	})
	return q
}

func TestDBCommandsOnThrowawayServer(t *testing.T) {
	c, dbURL := dockertest.StartPostgres(t)
	pg, err := postgres.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	db := &countingDB{DBOps: pg}
	e := opsEngine(t, db, nil)
	psqlOf := func(t *testing.T) func(string) string {
		return func(sql string) string { t.Helper(); return dockertest.Psql(t, c, sql) }
	}

	t.Run("kill-long-running shows, pins and ends exactly the backends shown", func(t *testing.T) {
		psql := psqlOf(t)
		idle := dialApp(t, dbURL, "idle-client")
		long := longQuery(t, dbURL, "shiftwise-api")
		own := longQuery(t, dbURL, "shiftwise-bot") // the bot's other session

		// Bounded wait until the api's query shows as long-running.
		var listed bot.Reply
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			listed = ask(t, e, "console:alice", "db long-running --older 1s")
			if strings.Contains(text(listed.Message), fmt.Sprintf("--backends %d@", long.pid)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("db long-running never listed pid %d: %s", long.pid, text(listed.Message))
			}
		}
		if listed.Outcome != bot.OutcomeOK || strings.Contains(text(listed.Message), fmt.Sprint(own.pid)) {
			t.Fatalf("db long-running: %v %s", listed.Outcome, text(listed.Message))
		}

		id, req := requested(t, e, "slack:UDEV", "db kill-long-running --older 1s")
		rt := text(req)
		pinned := regexp.MustCompile(`--backends (\d+@\d+)`).FindStringSubmatch(rt)
		if pinned == nil || !strings.HasPrefix(pinned[1], fmt.Sprintf("%d@", long.pid)) || !strings.Contains(rt, "pg_sleep(600)") ||
			strings.Contains(rt, fmt.Sprintf("%d@", own.pid)) || strings.Contains(rt, fmt.Sprintf("%d@", idle.PgConn().PID())) {
			t.Fatalf("the request does not show and pin exactly the api's backend %d: %s", long.pid, rt)
		}

		// A query that grows old after the request is not in it: it
		// survives the approval.
		later := longQuery(t, dbURL, "shiftwise-api")
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if strings.TrimSpace(psql(fmt.Sprintf("SELECT count(*) FROM pg_stat_activity WHERE pid = %d AND query_start < now() - interval '1 second'", later.pid))) == "1" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the later query never grew old")
			}
		}

		if r := approve(t, e, "slack:UDEV", id, nil); r.Outcome != bot.OutcomeDenied {
			t.Fatalf("self-approval: %v %s", r.Outcome, text(r.Message))
		}
		r := approve(t, e, "slack:UDEV2", id, nil)
		if r.Outcome != bot.OutcomeOK || !strings.Contains(text(r.Message), "Ended all 1 backends named") {
			t.Fatalf("approved kill: %v %s", r.Outcome, text(r.Message))
		}
		select {
		case <-long.ended:
			var pgErr *pgconn.PgError
			if !errors.As(long.err, &pgErr) || pgErr.Code != "57P01" {
				t.Fatalf("the api's query ended with %v, want termination", long.err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the api's query still runs")
		}
		for _, q := range []*bgQuery{own, later} {
			if err, ended := q.result(); ended {
				t.Fatalf("pid %d ended: %v", q.pid, err)
			}
		}
		if err := idle.Ping(context.Background()); err != nil {
			t.Fatalf("the idle session is gone: %v", err)
		}
	})

	t.Run("secrets in query texts are masked", func(t *testing.T) {
		q := longSQL(t, dbURL, "shiftwise-api", "SELECT pg_sleep(600) -- ALTER ROLE app PASSWORD 'hunter2'")
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			r := ask(t, e, "console:alice", "db long-running --older 1s")
			got := text(r.Message)
			if strings.Contains(got, fmt.Sprintf("--backends %d@", q.pid)) {
				if strings.Contains(got, "hunter2") || !strings.Contains(got, "PASSWORD '[REDACTED]'") {
					t.Fatalf("the password shows: %s", got)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pid %d never listed: %s", q.pid, got)
			}
		}
	})

	t.Run("a policy without approval: kill ends what matches and says which", func(t *testing.T) {
		e := opsEngineWith(t, opsPolicy+"p2, db:kill-long-running, -, no-approval\n", db, nil)
		long := longQuery(t, dbURL, "shiftwise-api")
		own := longQuery(t, dbURL, "shiftwise-bot")
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			r := ask(t, e, "console:alice", "db long-running --older 1s")
			if strings.Contains(text(r.Message), fmt.Sprintf("--backends %d@", long.pid)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pid %d never listed", long.pid)
			}
		}
		r := ask(t, e, "slack:UDEV", "db kill-long-running --older 1s")
		if r.Outcome != bot.OutcomeOK || !strings.Contains(code(r.Message, "Backends"), fmt.Sprintf("%d ", long.pid)) ||
			strings.Contains(code(r.Message, "Backends"), fmt.Sprintf("%d ", own.pid)) {
			t.Fatalf("kill: %v %s", r.Outcome, text(r.Message))
		}
		select {
		case <-long.ended:
		case <-time.After(30 * time.Second):
			t.Fatal("the api's query still runs")
		}
		if err, ended := own.result(); ended {
			t.Fatalf("the bot's session ended: %v", err)
		}
	})

	t.Run("nothing to kill: no request", func(t *testing.T) {
		r := ask(t, e, "slack:UDEV", "db kill-long-running --older 1h")
		if r.Outcome != bot.OutcomeUsage || !strings.Contains(text(r.Message), "nothing to end") {
			t.Fatalf("%v %s", r.Outcome, text(r.Message))
		}
	})

	t.Run("hostile input is a usage error and reaches nothing", func(t *testing.T) {
		before := db.calls.Load()
		for _, line := range []string{
			"db long-running --older junk",
			"db long-running --older 0s",
			`db kill-long-running --older "5m'; SELECT pg_terminate_backend(pid) FROM pg_stat_activity; --"`,
			"db kill-long-running --older 5m;DROP",
			`db kill-long-running --backends "1@1;DROP TABLE stations"`,
			"db kill-long-running --backends 1@1,2@x",
			"db kill-long-running --backends 0@1",
			"db kill-long-running --older 5m extra",
			"db long-running --older " + strings.Repeat("9", 100<<10),
			"db vacuum --statement-timeout 1s;VACUUM",
			"db vacuum --statement-timeout 0s",
			"db indexes --create --statement-timeout x",
			"db indexes --create idx_evil ON stations(name)",
			"db tables `rm -rf /`",
		} {
			r := ask(t, e, "slack:UARCH", line)
			if r.Outcome != bot.OutcomeUsage {
				t.Errorf("%.80s: outcome %v, want usage: %s", line, r.Outcome, text(r.Message))
			}
		}
		if n := db.calls.Load() - before; n != 0 {
			t.Fatalf("hostile input reached the database %d times", n)
		}
	})

	t.Run("vacuum through approval with progress", func(t *testing.T) {
		psql := psqlOf(t)
		psql("UPDATE employees SET active = active")
		start := time.Now()
		id, _ := requested(t, e, "slack:UDEV", "db vacuum --statement-timeout 1m")
		var mu sync.Mutex
		var steps []bot.Message
		r := approve(t, e, "slack:UDEV2", id, func(m bot.Message) { mu.Lock(); steps = append(steps, m); mu.Unlock() })
		if r.Outcome != bot.OutcomeOK || !strings.Contains(r.Message.Text, "Vacuumed and analyzed") {
			t.Fatalf("vacuum: %v %s", r.Outcome, text(r.Message))
		}
		mu.Lock()
		defer mu.Unlock()
		if len(steps) < 2 || !strings.HasPrefix(steps[0].Text, "0 of ") || !strings.Contains(steps[len(steps)-1].Text, "tables done") {
			t.Fatalf("progress: %+v", steps)
		}
		r2 := dockertest.Psql(t, c, "SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'employees'")
		if strings.TrimSpace(r2) == "" {
			t.Fatalf("employees never vacuumed (since %s)", start)
		}
	})

	t.Run("slow queries present and missing", func(t *testing.T) {
		psql := psqlOf(t)
		r := ask(t, e, "console:alice", "db slow-queries")
		if r.Outcome != bot.OutcomeOK || len(r.Message.Code) != 1 || !strings.Contains(r.Message.Code[0].Text, "MEAN ms") {
			t.Fatalf("with the extension: %s", text(r.Message))
		}
		psql("DROP EXTENSION pg_stat_statements")
		defer psql("CREATE EXTENSION pg_stat_statements")
		r = ask(t, e, "console:alice", "db slow-queries")
		if r.Message.Status != bot.StatusWarn || !strings.Contains(r.Message.Text, "not installed") || !strings.Contains(r.Message.Text, "CREATE EXTENSION pg_stat_statements") {
			t.Fatalf("without: %s", text(r.Message))
		}
	})

	t.Run("indexes --create needs Level 3 and approval", func(t *testing.T) {
		psql := psqlOf(t)
		r := ask(t, e, "console:alice", "db indexes")
		if r.Message.Status != bot.StatusWarn || !strings.Contains(code(r.Message, "Indexes"), "idx_assignments_employee_date") {
			t.Fatalf("db indexes: %s", text(r.Message))
		}
		id, req := requested(t, e, "slack:UARCH", "db indexes --create")
		if !strings.Contains(text(req), "missing") || !strings.Contains(text(req), "Level 3") {
			t.Fatalf("request: %s", text(req))
		}
		if r := approve(t, e, "slack:UDEV", id, nil); r.Outcome != bot.OutcomeDenied {
			t.Fatalf("a Level 2 approver: %v %s", r.Outcome, text(r.Message))
		}
		r = approve(t, e, "slack:UARCH2", id, nil)
		if r.Outcome != bot.OutcomeOK || !strings.Contains(text(r.Message), "idx_assignments_employee_date: created") {
			t.Fatalf("create: %v %s", r.Outcome, text(r.Message))
		}
		if got := psql("SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_assignments_employee_date'"); strings.TrimSpace(got) != "1" {
			t.Fatalf("psql: %q", got)
		}
		if r := ask(t, e, "console:alice", "db indexes"); r.Message.Status != bot.StatusOK {
			t.Fatalf("after: %s", text(r.Message))
		}
	})

	t.Run("diagnostics read", func(t *testing.T) {
		for line, want := range map[string]string{
			"db status":      "accepting connections",
			"db connections": "of 100",
			"db tables":      "public.assignments",
			"db size":        "public.assignments",
			"db settings":    "only changes with a restart",
		} {
			r := ask(t, e, "console:alice", line)
			if r.Outcome == bot.OutcomeUsage || r.Outcome == bot.OutcomeDenied || !strings.Contains(text(r.Message)+checksText(r.Message), want) {
				t.Errorf("%s: %v, want %q in %s%s", line, r.Outcome, want, text(r.Message), checksText(r.Message))
			}
		}
	})
}

func checksText(m bot.Message) string {
	var b strings.Builder
	for _, c := range m.Checks {
		fmt.Fprintf(&b, "%s %s %s %s\n", c.Name, c.Status, c.Value, c.Threshold)
	}
	return b.String()
}

func TestCacheFlushEmptiesOnlyTheOperatedDatabase(t *testing.T) {
	c, url := dockertest.StartRedis(t, 2)
	rc, err := redis.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	cache := &countingCache{CacheOps: rc}
	e := opsEngine(t, nil, cache)
	cli := func(db int, args ...string) string {
		t.Helper()
		return strings.TrimSpace(dockertest.Exec(t, c, append([]string{"redis-cli", "-n", fmt.Sprint(db)}, args...)...))
	}
	for i := 0; i < 30; i++ {
		cli(2, "SET", fmt.Sprintf("shift:%d", i), "x")
	}
	for i := 0; i < 7; i++ {
		cli(0, "SET", fmt.Sprintf("other:%d", i), "y")
	}

	r := ask(t, e, "console:alice", "cache status")
	if r.Outcome != bot.OutcomeOK || !strings.Contains(text(r.Message), "Keys in db 2 (operated): 30") || !strings.Contains(text(r.Message), "db0: 7 keys") {
		t.Fatalf("cache status: %s", text(r.Message))
	}

	before := cache.calls.Load()
	for _, line := range []string{"cache flush now", "cache flush --db 0", "cache flush --all=true", "cache flush;FLUSHALL"} {
		if r := ask(t, e, "slack:UARCH", line); r.Outcome != bot.OutcomeUsage {
			t.Errorf("%s: %v %s", line, r.Outcome, text(r.Message))
		}
	}
	if cache.calls.Load() != before {
		t.Fatal("hostile input reached Redis")
	}

	if r := ask(t, e, "console:alice", "cache flush"); r.Outcome != bot.OutcomePending || !strings.Contains(text(r.Message), "Level 2") {
		t.Fatalf("Level 1 asks: an escalation, got %v %s", r.Outcome, text(r.Message))
	}
	id, req := requested(t, e, "slack:UDEV", "cache flush")
	rt := text(req)
	if !strings.Contains(rt, "DBSIZE 30 keys") || !strings.Contains(rt, "db0: 7 keys") || !strings.Contains(rt, "FLUSHALL would wipe them too") {
		t.Fatalf("request: %s", rt)
	}
	if cli(2, "DBSIZE") != "30" {
		t.Fatal("flushed before approval")
	}
	r = approve(t, e, "slack:UDEV2", id, nil)
	if r.Outcome != bot.OutcomeOK || !strings.Contains(r.Message.Text, "30 keys before, 0 after") {
		t.Fatalf("flush: %v %s", r.Outcome, text(r.Message))
	}
	if cli(2, "DBSIZE") != "0" || cli(0, "DBSIZE") != "7" {
		t.Fatalf("after FLUSHDB: db2 %s, db0 %s", cli(2, "DBSIZE"), cli(0, "DBSIZE"))
	}

	// FLUSHALL is Level 3: a Level 2 request is an escalation that a
	// Level 2 person cannot approve.
	id, req = requested(t, e, "slack:UDEV", "cache flush --all")
	if !strings.Contains(text(req), "Level 3") || !strings.Contains(text(req), "EVERY database") {
		t.Fatalf("flush --all request: %s", text(req))
	}
	if r := approve(t, e, "slack:UDEV2", id, nil); r.Outcome != bot.OutcomeDenied || cli(0, "DBSIZE") != "7" {
		t.Fatalf("Level 2 approved FLUSHALL: %v %s", r.Outcome, text(r.Message))
	}
	if r := approve(t, e, "slack:UARCH", id, nil); r.Outcome != bot.OutcomeOK || cli(0, "DBSIZE") != "0" {
		t.Fatalf("Level 3 approval: %v %s; db0 %s", r.Outcome, text(r.Message), cli(0, "DBSIZE"))
	}
}

func TestHumanDurations(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second: "30s", 3 * time.Minute: "3m", 13*time.Minute + 50*time.Second: "13m50s",
		2 * time.Hour: "2h", 2*time.Hour + 10*time.Minute: "2h10m", 49 * time.Hour: "2d",
	} {
		if got := human(d); got != want {
			t.Errorf("human(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestParseBackends(t *testing.T) {
	refs, err := parseBackends("12@1764625421123456,12@1764625421123456,7@1")
	if err != nil || len(refs) != 2 || refs[0].PID != 12 || refs[0].QueryStart.UnixMicro() != 1764625421123456 {
		t.Fatalf("parseBackends = %+v, %v", refs, err)
	}
	many := strings.TrimSuffix(strings.Repeat("1@1,", postgres.MaxBackends+1), ",")
	for _, bad := range []string{"", "1", "@1", "1@", "01@1", "1@-1", "1@1;", "x@1", "99999999999@1", "1@99999999999999999999", many} {
		if _, err := parseBackends(bad); err == nil {
			t.Errorf("parseBackends(%.40q) accepted", bad)
		}
	}
}

func TestStatusOfServersThatAreDown(t *testing.T) {
	// A port where nothing listens: the status commands say FAILED, with
	// the reason, within their deadline.
	pg, err := postgres.Open(context.Background(), "postgres://shiftwise:secret-pw@127.0.0.1:1/shiftwise?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	rc, err := redis.Open("redis://:secret-pw@127.0.0.1:1/0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	reg, err := bot.NewRegistry(All(Deps{Health: &Health{}, DB: pg, Cache: rc})...)
	if err != nil {
		t.Fatal(err)
	}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: newAuthz(t, opsPolicy), Redactor: redact.New("secret-pw"), Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"db status", "cache status"} {
		r := e.Handle(context.Background(), bot.Request{Subject: "console:alice", Channel: "C1", Text: line})
		all := text(r.Message) + checksText(r.Message)
		if r.Outcome != bot.OutcomeFailed || r.Message.Status != bot.StatusFailed || !strings.Contains(all, "connection refused") || strings.Contains(all, "secret-pw") {
			t.Errorf("%s: %v %s", line, r.Outcome, all)
		}
	}
	for _, line := range []string{"db connections", "db long-running", "db size"} {
		r := e.Handle(context.Background(), bot.Request{Subject: "console:alice", Channel: "C1", Text: line})
		if r.Outcome != bot.OutcomeFailed || strings.Contains(text(r.Message), "secret-pw") {
			t.Errorf("%s: %v %s", line, r.Outcome, text(r.Message))
		}
	}
}
