package commands

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/integrations/postgres"
	"github.com/shiftwise/shiftwise-bot/integrations/redis"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// realDump is one real pg_dump of the demo database, taken once.
var realDump struct {
	once sync.Once
	data []byte
	err  error
}

// writeRealDump puts a real pg_dump of the operated database into dir.
func writeRealDump(t testing.TB, dir, name string) string {
	t.Helper()
	dbURL := testenv.TargetDB(t)
	realDump.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		realDump.data, realDump.err = exec.CommandContext(ctx, "pg_dump", "--dbname", dbURL).Output()
	})
	if realDump.err != nil {
		testenv.Missing(t, "pg_dump against the demo database", realDump.err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, realDump.data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// stack is a Health wired to real components: a throwaway compose project
// on the Docker Engine, the demo stack's PostgreSQL and Redis, and a backup
// directory holding a fresh real dump.
type stack struct {
	h       *Health
	project *dockertest.Project
}

func healthyServices() []dockertest.Service {
	return []dockertest.Service{
		{Name: "api", Ports: []string{"3000"}, Health: dockertest.HTTPHealth()},
		{Name: "frontend", Ports: []string{"3000"}, Health: dockertest.HTTPHealth()},
	}
}

func newStack(t *testing.T, services ...dockertest.Service) *stack {
	t.Helper()
	p := dockertest.StartProject(t, services...)
	for i, c := range p.Containers {
		if services[i].Health != nil {
			dockertest.WaitHealthy(t, c.ID, 30*time.Second)
		}
	}
	dc, err := docker.New(dockertest.Host(t), p.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	db := openDB(t, testenv.TargetDB(t))
	cache := openCache(t, testenv.TargetRedis(t))
	dir := t.TempDir()
	writeRealDump(t, dir, "shiftwise_20261127_000000.sql")
	limits := DefaultHealthLimits()
	// The host's own disk and memory are what they are; the thresholds
	// tests below move these to see them fail.
	limits.DiskPercent, limits.MemoryPercent = 100, 100
	h := &Health{
		APIURL:      p.Service("api").URL("3000"),
		FrontendURL: p.Service("frontend").URL("3000"),
		HTTP:        &http.Client{},
		Docker:      dc, DB: db, Cache: cache,
		BackupDir: dir, Limits: limits,
	}
	return &stack{h: h, project: p}
}

func openDB(t testing.TB, u string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func openCache(t testing.TB, u string) *redis.Cache {
	t.Helper()
	c, err := redis.Open(u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// check returns the line whose name starts with prefix.
func check(t *testing.T, m bot.Message, prefix string) bot.Check {
	t.Helper()
	for _, c := range m.Checks {
		if strings.HasPrefix(c.Name, prefix) {
			return c
		}
	}
	t.Fatalf("no check %q in %s", prefix, dump(m))
	return bot.Check{}
}

func dump(m bot.Message) string {
	var b strings.Builder
	for _, c := range m.Checks {
		fmt.Fprintf(&b, "\n  %s | %s | %s | %s", c.Name, c.Status, c.Value, c.Threshold)
	}
	return b.String() + "\n  " + m.Summary
}

func expect(t *testing.T, m bot.Message, prefix string, status bot.Status, valueContains string) {
	t.Helper()
	c := check(t, m, prefix)
	if c.Status != status || !strings.Contains(c.Value, valueContains) {
		t.Errorf("%s: %s %q; want %s containing %q%s", c.Name, c.Status, c.Value, status, valueContains, dump(m))
	}
}

func TestHealthPassesOnAHealthyStack(t *testing.T) {
	s := newStack(t, healthyServices()...)
	m := s.h.Run(context.Background(), 5*time.Second)
	if m.Status != bot.StatusOK || m.Summary != "Health: PASSED" {
		t.Fatalf("healthy stack: %s", dump(m))
	}
	for _, c := range m.Checks {
		if c.Status != bot.StatusOK {
			t.Errorf("%s is %s on a healthy stack: %s", c.Name, c.Status, c.Value)
		}
		if c.Value == "" || c.Threshold == "" {
			t.Errorf("%s lacks its value or threshold: %+v", c.Name, c)
		}
	}
	for _, name := range []string{"api /health", "frontend /health", "containers", "error lines", "latest backup", "disk", "memory", "postgres", "postgres connections", "redis", "redis memory"} {
		check(t, m, name)
	}
	expect(t, m, "containers", bot.StatusOK, "2 of 2 Up")
	expect(t, m, "latest backup", bot.StatusOK, "shiftwise_20261127_000000.sql")
	expect(t, m, "postgres", bot.StatusOK, "PostgreSQL 15")
}

func TestHealthNamesStoppedAndUnhealthyContainers(t *testing.T) {
	s := newStack(t, append(healthyServices(), dockertest.Service{Name: "worker", Ports: []string{"3000"}, Health: dockertest.HTTPHealth()})...)
	dockertest.Stop(t, s.project.Service("worker").ID)
	api := s.project.Service("api")
	resp, err := http.Post(api.URL("3000")+"/control/health?mode=fail", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	dockertest.WaitHealth(t, api.ID, "unhealthy", 30*time.Second)

	m := s.h.Run(context.Background(), 5*time.Second)
	expect(t, m, "containers", bot.StatusFailed, "1 of 3 Up")
	c := check(t, m, "containers")
	if !strings.Contains(c.Value, "worker exited") || !strings.Contains(c.Value, "api unhealthy") {
		t.Errorf("containers line does not name both: %q", c.Value)
	}
	expect(t, m, "api /health", bot.StatusFailed, "HTTP 500")
	if m.Status != bot.StatusFailed || m.Summary != fmt.Sprintf("Health: FAILED (2 of %d checks)", len(m.Checks)) {
		t.Errorf("summary %q%s", m.Summary, dump(m))
	}
}

func TestHealthAPIThatReturns500FromStart(t *testing.T) {
	s := newStack(t, dockertest.Service{Name: "api", Ports: []string{"3000"}, Env: []string{"DEMO_HEALTH_MODE=fail"}},
		dockertest.Service{Name: "frontend", Ports: []string{"3000"}, Health: dockertest.HTTPHealth()})
	m := s.h.Run(context.Background(), 5*time.Second)
	expect(t, m, "api /health", bot.StatusFailed, "HTTP 500 Internal Server Error")
	expect(t, m, "frontend /health", bot.StatusOK, "200 in")
}

func TestHealthCountsErrorLinesPerService(t *testing.T) {
	s := newStack(t, healthyServices()...)
	logErrors := func(svc string, n int, stream string) {
		u := fmt.Sprintf("%s/control/log?n=%d&level=error&stream=%s&text=%s", s.project.Service(svc).URL("3000"), n, stream, url.QueryEscape("db timeout"))
		resp, err := http.Post(u, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	logErrors("api", 3, "stdout")
	waitFor(t, func() bool {
		return check(t, s.h.Run(context.Background(), 5*time.Second), "error lines").Value == "3 (api 3)"
	})
	expect(t, s.h.Run(context.Background(), 5*time.Second), "error lines", bot.StatusOK, "3 (api 3)")

	logErrors("api", 4, "stderr")
	logErrors("frontend", 3, "stdout")
	waitFor(t, func() bool {
		return strings.HasPrefix(check(t, s.h.Run(context.Background(), 5*time.Second), "error lines").Value, "10 ")
	})
	expect(t, s.h.Run(context.Background(), 5*time.Second), "error lines", bot.StatusFailed, "10 (api 7, frontend 3)")

	// Lines older than the window do not count.
	s.h.Now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	expect(t, s.h.Run(context.Background(), 5*time.Second), "error lines", bot.StatusOK, "0")
}

// waitFor polls cond for at most 10 s: log lines reach the engine's log
// file asynchronously.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestHealthBackupStates(t *testing.T) {
	s := newStack(t, healthyServices()...)
	run := func() bot.Message { return s.h.Run(context.Background(), 5*time.Second) }

	cases := []struct {
		name    string
		prepare func(dir string)
		status  bot.Status
		value   string
	}{
		{"missing directory", func(dir string) { os.RemoveAll(dir) }, bot.StatusFailed, "no such file or directory"},
		{"empty directory", func(string) {}, bot.StatusFailed, "no backup"},
		{"touched empty file", func(dir string) { os.WriteFile(filepath.Join(dir, "shiftwise_x.sql"), nil, 0o600) }, bot.StatusFailed, "empty"},
		{"garbage file", func(dir string) {
			os.WriteFile(filepath.Join(dir, "shiftwise_x.sql"), []byte("hello, not a dump\n"), 0o600)
		}, bot.StatusFailed, "header"},
		{"old real dump", func(dir string) {
			p := writeRealDump(t, dir, "shiftwise_old.sql")
			old := time.Now().Add(-25 * time.Hour)
			os.Chtimes(p, old, old)
		}, bot.StatusFailed, "too old"},
		{"real dump", func(dir string) { writeRealDump(t, dir, "shiftwise_new.sql") }, bot.StatusOK, "shiftwise_new.sql"},
		{"newest is empty though an older one is real", func(dir string) {
			p := writeRealDump(t, dir, "shiftwise_a.sql")
			old := time.Now().Add(-time.Hour)
			os.Chtimes(p, old, old)
			os.WriteFile(filepath.Join(dir, "shiftwise_b.sql"), nil, 0o600)
		}, bot.StatusFailed, "shiftwise_b.sql"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.h.BackupDir = filepath.Join(t.TempDir(), "backups")
			if err := os.Mkdir(s.h.BackupDir, 0o700); err != nil {
				t.Fatal(err)
			}
			c.prepare(s.h.BackupDir)
			expect(t, run(), "latest backup", c.status, c.value)
		})
	}
}

func TestHealthThresholdsFromConfiguration(t *testing.T) {
	s := newStack(t, healthyServices()...)
	s.h.Limits.DiskPercent = 0.001
	s.h.Limits.MemoryPercent = 0.001
	s.h.Limits.DBConnPercent = 0.001
	s.h.Limits.RedisMemPercent = 0.001
	s.h.Limits.ResponseTime = time.Nanosecond
	m := s.h.Run(context.Background(), 5*time.Second)
	expect(t, m, "disk", bot.StatusFailed, "% used")
	expect(t, m, "memory", bot.StatusFailed, "% used")
	expect(t, m, "postgres connections", bot.StatusFailed, " of ")
	expect(t, m, "redis memory", bot.StatusFailed, " of ")
	expect(t, m, "api /health", bot.StatusFailed, "too slow")
	expect(t, m, "postgres", bot.StatusOK, "accepting")
}

func TestHealthRedisContainerStopped(t *testing.T) {
	s := newStack(t, healthyServices()...)
	p := dockertest.StartProject(t, dockertest.Service{Name: "redis", Image: testenv.Get("SHIFTWISE_TEST_DATA_IMAGE"), Cmd: []string{"redis"}, Ports: []string{"6379"}, NoWait: true})
	r := p.Service("redis")
	s.h.Cache = openCache(t, "redis://"+r.Addr("6379")+"/0")
	waitFor(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := s.h.Cache.Ping(ctx)
		return err == nil
	})
	expect(t, s.h.Run(context.Background(), 5*time.Second), "redis", bot.StatusOK, "PONG")

	dockertest.Stop(t, r.ID)
	m := s.h.Run(context.Background(), 5*time.Second)
	expect(t, m, "redis", bot.StatusFailed, "connection refused")
	for _, c := range m.Checks {
		if c.Name == "redis memory" {
			t.Errorf("a Redis that is down gets one FAILED line, not also %q", c.Name)
		}
	}
}

func TestHealthTargetsThatNeverAnswer(t *testing.T) {
	dockerAddr := testenv.NewSilent(t).Addr
	dc, err := docker.New("tcp://"+dockerAddr, "shiftwise")
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	h := &Health{
		APIURL:      "http://" + testenv.NewSilent(t).Addr,
		FrontendURL: "http://" + testenv.NewSilent(t).Addr,
		HTTP:        &http.Client{},
		Docker:      dc,
		DB:          openDB(t, "postgres://shiftwise:pw@"+testenv.NewSilent(t).Addr+"/shiftwise?sslmode=disable"),
		Cache:       openCache(t, "redis://"+testenv.NewSilent(t).Addr+"/0"),
		BackupDir:   t.TempDir(),
		Limits:      DefaultHealthLimits(),
	}
	const timeout = 1500 * time.Millisecond
	start := time.Now()
	m := h.Run(context.Background(), timeout)
	elapsed := time.Since(start)
	if elapsed > timeout+time.Second {
		t.Errorf("health took %s with silent targets; the contract is its deadline (%s) plus one second", elapsed, timeout)
	}
	for _, name := range []string{"api /health", "frontend /health", "containers", "error lines", "postgres", "redis"} {
		expect(t, m, name, bot.StatusFailed, "no answer")
	}
	for _, c := range m.Checks {
		if c.Name == "postgres connections" || c.Name == "redis memory" {
			t.Errorf("a silent target gets one FAILED line, not also %q", c.Name)
		}
	}
	if !strings.HasPrefix(m.Summary, "Health: FAILED (") {
		t.Errorf("summary %q", m.Summary)
	}
}

func TestHealthTargetsThatRefuse(t *testing.T) {
	dc, err := docker.New("tcp://"+testenv.RefusedAddr(t), "shiftwise")
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	h := &Health{
		APIURL: "http://" + testenv.RefusedAddr(t), FrontendURL: "http://" + testenv.RefusedAddr(t), HTTP: &http.Client{},
		Docker:    dc,
		DB:        openDB(t, "postgres://shiftwise:pw@"+testenv.RefusedAddr(t)+"/shiftwise?sslmode=disable"),
		Cache:     openCache(t, "redis://"+testenv.RefusedAddr(t)+"/0"),
		BackupDir: t.TempDir(), Limits: DefaultHealthLimits(),
	}
	m := h.Run(context.Background(), 5*time.Second)
	for _, name := range []string{"api /health", "frontend /health", "postgres", "redis"} {
		expect(t, m, name, bot.StatusFailed, "connection refused")
	}
	expect(t, m, "containers", bot.StatusFailed, "Cannot connect to the Docker daemon")
}

func TestHealthCommandRejectsBadTimeout(t *testing.T) {
	h := &Health{Limits: DefaultHealthLimits()}
	reg, err := bot.NewRegistry(h.Command())
	if err != nil {
		t.Fatal(err)
	}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: allow{}, Redactor: same{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"health --timeout 0s", "health --timeout 10m", "health --timeout soon", "health now"} {
		if r := e.Handle(context.Background(), bot.Request{Subject: "console:t", Text: text}); r.Outcome != bot.OutcomeUsage {
			t.Errorf("%q: outcome %v, want usage", text, r.Outcome)
		}
	}
}

type allow struct{}

func (allow) Authorize(context.Context, string, *bot.Command, bot.Args) bot.Decision {
	return bot.Decision{Allowed: true}
}

type same struct{}

func (same) Redact(s string) string { return s }

func TestContainsError(t *testing.T) {
	for line, want := range map[string]bool{
		"ERROR: boom": true, "an Error occurred": true, "errors": true, "err": false, "": false, "eRrOr": true, "no problem": false,
	} {
		if ContainsError([]byte(line)) != want {
			t.Errorf("ContainsError(%q) != %v", line, want)
		}
	}
}

func TestHealthLimitsValidate(t *testing.T) {
	if err := DefaultHealthLimits().Validate(); err != nil {
		t.Fatal(err)
	}
	l := DefaultHealthLimits()
	l.DiskPercent = 120
	if err := l.Validate(); err == nil || !strings.Contains(err.Error(), "disk") {
		t.Errorf("err = %v", err)
	}
}

func TestHealthFollowsErrorLinesAcrossRestarts(t *testing.T) {
	s := newStack(t, healthyServices()...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.h.Follow(ctx)
	api := s.project.Service("api")
	logErrors := func(n int, stream string) {
		u := fmt.Sprintf("%s/control/log?n=%d&level=error&stream=%s&text=boom", api.URL("3000"), n, stream)
		resp, err := http.Post(u, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	count := func() string { return check(t, s.h.Run(context.Background(), 5*time.Second), "error lines").Value }
	expect(t, s.h.Run(context.Background(), 5*time.Second), "error lines", bot.StatusOK, "0")
	logErrors(3, "stdout")
	waitFor(t, func() bool { return count() == "3 (api 3)" })
	logErrors(4, "stderr")
	waitFor(t, func() bool { return count() == "7 (api 7)" })

	// A restart ends the follower's stream; the next run reads the gap
	// and follows again, counting nothing twice.
	dockertest.Stop(t, api.ID)
	dockertest.Start(t, api.ID)
	dockertest.WaitHealthy(t, api.ID, 30*time.Second)
	api = s.project.Service("api")
	ports := dockertest.PublishedPorts(t, api.ID)
	for _, addr := range ports {
		api.Ports = map[string]string{"3000/tcp": addr}
	}
	logErrors(2, "stdout")
	waitFor(t, func() bool { return count() == "9 (api 9)" })
	time.Sleep(500 * time.Millisecond)
	if got := count(); got != "9 (api 9)" {
		t.Errorf("after the restart: %q, want exactly 9", got)
	}
}

// countingDocker counts how often health lists the containers.
type countingDocker struct {
	real  Containers
	lists atomic.Int32
}

func (c *countingDocker) Containers(ctx context.Context) ([]docker.Container, error) {
	c.lists.Add(1)
	return c.real.Containers(ctx)
}

func (c *countingDocker) DataRoot(ctx context.Context) (string, error) { return c.real.DataRoot(ctx) }

func (c *countingDocker) ScanLogs(ctx context.Context, id string, since time.Time, fn func(time.Time, []byte)) error {
	return c.real.ScanLogs(ctx, id, since, fn)
}

func (c *countingDocker) FollowLogs(ctx context.Context, id string, since time.Time, fn func(time.Time, []byte)) error {
	return c.real.FollowLogs(ctx, id, since, fn)
}

func TestHealthRequestsInABurstShareOneRun(t *testing.T) {
	s := newStack(t, healthyServices()...)
	counting := &countingDocker{real: s.h.Docker}
	s.h.Docker = counting
	s.h.Reuse = time.Minute
	reg, err := bot.NewRegistry(s.h.Command())
	if err != nil {
		t.Fatal(err)
	}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: allow{}, Redactor: same{}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	replies := make([]bot.Reply, 10)
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = e.Handle(context.Background(), bot.Request{Subject: "console:t", Text: "health"})
		}()
	}
	wg.Wait()
	for i, r := range replies {
		if r.Message.Summary != "Health: PASSED" {
			t.Errorf("reply %d: %s", i, dump(r.Message))
		}
	}
	if n := counting.lists.Load(); n != 1 {
		t.Errorf("10 requests at once listed the containers %d times; they should share one run", n)
	}
	later := e.Handle(context.Background(), bot.Request{Subject: "console:t", Text: "health"})
	if !strings.Contains(later.Message.Text, "share one run") || counting.lists.Load() != 1 {
		t.Errorf("a request within the reuse window: %q, %d runs", later.Message.Text, counting.lists.Load())
	}
	fresh := e.Handle(context.Background(), bot.Request{Subject: "console:t", Text: "health --timeout 5s"})
	if counting.lists.Load() != 2 || strings.Contains(fresh.Message.Text, "share") {
		t.Errorf("--timeout asks for a run of its own: %d runs, %q", counting.lists.Load(), fresh.Message.Text)
	}
}
