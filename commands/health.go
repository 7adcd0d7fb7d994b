package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/backups"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/host"
	"github.com/shiftwise/shiftwise-bot/integrations/httpprobe"
	"github.com/shiftwise/shiftwise-bot/integrations/postgres"
	"github.com/shiftwise/shiftwise-bot/integrations/redis"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
)

// Containers is what health needs of the Docker Engine.
type Containers interface {
	Containers(ctx context.Context) ([]docker.Container, error)
	LogScanner
	DataRoot(ctx context.Context) (string, error)
}

// Database is what health needs of the operated PostgreSQL.
type Database interface {
	Ready(ctx context.Context) (postgres.Readiness, error)
	Connections(ctx context.Context) (postgres.Connections, error)
}

// Cache is what health needs of the operated Redis.
type Cache interface {
	Ping(ctx context.Context) (time.Duration, error)
	Memory(ctx context.Context) (redis.Memory, error)
}

// HealthLimits are the thresholds of the Daily Health Check; the defaults
// are the runbook's "Expected Results".
type HealthLimits struct {
	CheckTimeout    time.Duration // each check's own deadline
	ResponseTime    time.Duration // API/frontend: slower is a problem
	ErrorLines      int           // error lines in LogWindow must be fewer
	LogWindow       time.Duration
	BackupAge       time.Duration // newest backup must be younger
	DiskPercent     float64       // disk usage must be below
	MemoryPercent   float64       // memory usage must be below
	DBConnPercent   float64       // connections must be below this % of max_connections
	RedisMemPercent float64       // used memory must be below this % of maxmemory
}

// DefaultHealthLimits returns the runbook's numbers.
func DefaultHealthLimits() HealthLimits {
	return HealthLimits{
		CheckTimeout:    5 * time.Second,
		ResponseTime:    3 * time.Second,
		ErrorLines:      10,
		LogWindow:       24 * time.Hour,
		BackupAge:       24 * time.Hour,
		DiskPercent:     80,
		MemoryPercent:   80,
		DBConnPercent:   80,
		RedisMemPercent: 85,
	}
}

// Validate names the first setting that makes no sense.
func (l HealthLimits) Validate() error {
	switch {
	case l.CheckTimeout <= 0:
		return fmt.Errorf("health check timeout must be positive")
	case l.ResponseTime <= 0:
		return fmt.Errorf("health response-time threshold must be positive")
	case l.ErrorLines <= 0:
		return fmt.Errorf("health error-line threshold must be at least 1")
	case l.LogWindow <= 0 || l.BackupAge <= 0:
		return fmt.Errorf("health log window and backup age must be positive")
	}
	for name, p := range map[string]float64{"disk": l.DiskPercent, "memory": l.MemoryPercent, "db connections": l.DBConnPercent, "redis memory": l.RedisMemPercent} {
		if p <= 0 || p > 100 {
			return fmt.Errorf("health %s threshold must be a percentage in (0, 100], not %v", name, p)
		}
	}
	return nil
}

// Health is the Daily Health Check's wiring.
type Health struct {
	APIURL      string
	FrontendURL string
	HTTP        *http.Client
	Docker      Containers
	DB          Database
	Cache       Cache
	BackupDir   string
	Limits      HealthLimits
	Now         func() time.Time

	// Reuse lets requests that arrive while a health check runs, or
	// within Reuse after it finished, share its result (0: never). Under
	// a burst of `health` from many people at once this turns many runs
	// against the stack under incident into one.
	Reuse time.Duration

	// BotRecords, when set, adds the state of the bot's own records (the
	// audit and timeline spools: entries waiting, entries set aside) as a
	// line of its own when there is something to say; it does no I/O.
	BotRecords func() []bot.Check

	errors errorCounter // incremental error-line counts across runs
	flight singleflight.Group
	lastMu sync.Mutex
	last   bot.Message
	lastAt time.Time
}

// shared runs health with the default deadline, joining a run in flight
// or reusing one that finished within h.Reuse.
func (h *Health) shared(ctx context.Context) bot.Message {
	h.lastMu.Lock()
	if !h.lastAt.IsZero() && time.Since(h.lastAt) < h.Reuse {
		m, age := h.last, time.Since(h.lastAt)
		h.lastMu.Unlock()
		m.Text = fmt.Sprintf("Result of the check finished %s ago (requests within %s share one run).", ms(age), h.Reuse)
		return m
	}
	h.lastMu.Unlock()
	v, _, _ := h.flight.Do("health", func() (any, error) {
		m := h.Run(ctx, h.Limits.CheckTimeout)
		h.lastMu.Lock()
		h.last, h.lastAt = m, time.Now()
		h.lastMu.Unlock()
		return m, nil
	})
	return v.(bot.Message)
}

// Follow makes a long-running bot count error lines as containers write
// them, with followers that live until ctx ends, instead of reading the
// new part of every log on each health check. One-shot runs do without.
func (h *Health) Follow(ctx context.Context) { h.errors.startFollowing(ctx) }

// healthCheck is one named probe producing one or more lines.
type healthCheck struct {
	name string
	run  func(ctx context.Context) []bot.Check
}

// Command returns the `health` command.
func (h *Health) Command() bot.Command {
	return bot.Command{
		Name:    "health",
		Summary: "Daily Health Check: every runbook check, PASSED/WARN/FAILED",
		Usage:   "[--timeout 5s]",
		Help: "Runs the runbook's Daily Health Check at once: API and frontend /health, containers Up, " +
			"error lines in the last 24 h of logs, the newest backup, disk and memory, PostgreSQL and Redis. " +
			"Every check runs concurrently with its own deadline; the last line is `Health: PASSED` or " +
			"`Health: FAILED (n of m checks)`. One-shot `shiftwise-bot health` is a drop-in for " +
			"`./scripts/monitoring.sh health` (exit 0 PASSED, 1 FAILED).",
		Flags:   []bot.Flag{{Name: "timeout", Kind: bot.FlagDuration, Usage: "each check's deadline", MinDuration: time.Millisecond, MaxDuration: 2 * time.Minute}},
		MaxArgs: 0,
		Level:   bot.Level1,
		Risk:    bot.ReadOnly,
		// The engine's deadline is a backstop: checks end on their own.
		Timeout: 10 * time.Minute,
		Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			if !req.Args.Has("timeout") {
				if h.Reuse > 0 {
					return h.shared(ctx), nil
				}
				return h.Run(ctx, h.Limits.CheckTimeout), nil
			}
			timeout := req.Args.Duration("timeout")
			if timeout <= 0 || timeout > 2*time.Minute {
				return bot.Message{}, &bot.UsageError{Msg: "--timeout must be between 1ms and 2m."}
			}
			return h.Run(ctx, timeout), nil
		},
	}
}

// healthRun is the state one `health` shares between its checks: the
// project's containers are listed once, so the containers and error-lines
// checks judge the same snapshot and the engine is asked once.
type healthRun struct {
	*Health
	once sync.Once
	list []docker.Container
	err  error
}

func (r *healthRun) containerList(ctx context.Context) ([]docker.Container, error) {
	r.once.Do(func() { r.list, r.err = r.Docker.Containers(ctx) })
	return r.list, r.err
}

// checks lists the probes in the runbook's order.
func (r *healthRun) checks() []healthCheck {
	return []healthCheck{
		{"api /health", func(ctx context.Context) []bot.Check { return r.http(ctx, "api /health", r.APIURL) }},
		{"frontend /health", func(ctx context.Context) []bot.Check { return r.http(ctx, "frontend /health", r.FrontendURL) }},
		{"containers", r.containers},
		{"error lines", r.errorLines},
		{"latest backup", r.backup},
		{"disk", r.disk},
		{"memory", r.memory},
		{"postgres", r.postgres},
		{"redis", r.redis},
	}
}

// CheckNames lists the probes, for benchmarks that run one alone.
func (h *Health) CheckNames() []string {
	var names []string
	for _, c := range (&healthRun{Health: h}).checks() {
		names = append(names, c.name)
	}
	return names
}

// RunCheck runs one probe alone, with the usual deadline.
func (h *Health) RunCheck(ctx context.Context, name string) []bot.Check {
	for _, c := range (&healthRun{Health: h}).checks() {
		if c.name == name {
			return runBounded(ctx, c, h.Limits.CheckTimeout)
		}
	}
	return nil
}

// Run performs every check concurrently, each under its own deadline, and
// returns within that deadline plus a little bookkeeping.
func (h *Health) Run(ctx context.Context, timeout time.Duration) bot.Message {
	checks := (&healthRun{Health: h}).checks()
	results := make([][]bot.Check, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runBounded(ctx, c, timeout)
		}()
	}
	wg.Wait()
	if h.BotRecords != nil {
		results = append(results, h.BotRecords())
	}
	m := bot.Message{Title: "Daily health check"}
	failed := 0
	for _, r := range results {
		for _, c := range r {
			if c.Status == bot.StatusFailed {
				failed++
			}
			m.Checks = append(m.Checks, c)
		}
	}
	m.Status = bot.StatusOK
	m.Summary = "Health: PASSED"
	if failed > 0 {
		m.Status = bot.StatusFailed
		m.Summary = fmt.Sprintf("Health: FAILED (%d of %d checks)", failed, len(m.Checks))
	}
	return m
}

// runBounded runs one probe under its deadline. A probe that does not
// return in time (it should: all its I/O takes ctx) still yields one FAILED
// line at the deadline; its goroutine ends when its I/O does.
func runBounded(ctx context.Context, c healthCheck, timeout time.Duration) []bot.Check {
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, timeoutKey{}, timeout), timeout)
	defer cancel()
	done := make(chan []bot.Check, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- []bot.Check{{Name: c.name, Status: bot.StatusFailed, Value: fmt.Sprintf("check crashed: %v", p)}}
			}
		}()
		done <- c.run(ctx)
	}()
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
		// Give a probe that honours ctx a moment to report its own reason.
		select {
		case r := <-done:
			return r
		case <-time.After(200 * time.Millisecond):
		}
		return []bot.Check{{Name: c.name, Status: bot.StatusFailed, Value: fmt.Sprintf("no answer within %s", timeout)}}
	}
}

func failed(name, threshold string, format string, a ...any) []bot.Check {
	return []bot.Check{{Name: name, Status: bot.StatusFailed, Value: fmt.Sprintf(format, a...), Threshold: threshold}}
}

func (h *Health) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Health) http(ctx context.Context, name, base string) []bot.Check {
	threshold := fmt.Sprintf("2xx within %s", h.Limits.ResponseTime)
	url := strings.TrimRight(base, "/") + "/health"
	res, err := httpprobe.Probe(ctx, h.HTTP, url)
	if err != nil {
		return failed(name, threshold, "%s", reason(ctx, err))
	}
	c := bot.Check{Name: name, Status: bot.StatusOK, Threshold: threshold,
		Value: fmt.Sprintf("%d in %s", res.StatusCode, ms(res.Duration))}
	switch {
	case res.StatusCode < 200 || res.StatusCode > 299:
		c.Status = bot.StatusFailed
		c.Value = fmt.Sprintf("HTTP %d %s in %s", res.StatusCode, http.StatusText(res.StatusCode), ms(res.Duration))
	case res.Duration > h.Limits.ResponseTime:
		c.Status = bot.StatusFailed
		c.Value += " (too slow)"
	}
	return []bot.Check{c}
}

func (h *healthRun) containers(ctx context.Context) []bot.Check {
	const name, threshold = "containers", "all Up, none unhealthy"
	list, err := h.containerList(ctx)
	if err != nil {
		return failed(name, threshold, "%s", reason(ctx, err))
	}
	if len(list) == 0 {
		return failed(name, threshold, "no containers of the compose project")
	}
	return []bot.Check{containersCheck(list)}
}

// containersCheck judges the project's containers: each one not Up and
// healthy is named once, with its state (the failing ones first, then
// those still starting), by its service, or by its container name where
// a service has several.
func containersCheck(list []docker.Container) bot.Check {
	const name, threshold = "containers", "all Up, none unhealthy"
	perService := map[string]int{}
	for _, c := range list {
		perService[c.Service]++
	}
	var bad, starting []string
	for _, c := range list {
		who := c.Service
		if who == "" || perService[c.Service] > 1 {
			who = c.Name
		}
		switch {
		case c.State != "running":
			s := fmt.Sprintf("%s %s", who, c.State)
			if c.State == "exited" {
				s = fmt.Sprintf("%s exited (%d)", who, c.ExitCode)
			}
			bad = append(bad, s)
		case c.Health == "unhealthy":
			bad = append(bad, who+" unhealthy")
		case c.Health == "starting":
			starting = append(starting, who+" starting")
		}
	}
	up := len(list) - len(bad) - len(starting)
	c := bot.Check{Name: name, Status: bot.StatusOK, Threshold: threshold,
		Value: fmt.Sprintf("%d of %d Up", up, len(list))}
	if named := append(bad, starting...); len(named) > 0 {
		c.Value += "; " + strings.Join(named, ", ")
		c.Status = bot.StatusWarn
	}
	if len(bad) > 0 {
		c.Status = bot.StatusFailed
	}
	return c
}

func (h *healthRun) errorLines(ctx context.Context) []bot.Check {
	name := fmt.Sprintf("error lines (%s)", human(h.Limits.LogWindow))
	threshold := fmt.Sprintf("< %d", h.Limits.ErrorLines)
	list, err := h.containerList(ctx)
	if err != nil {
		return failed(name, threshold, "%s", reason(ctx, err))
	}
	now := h.now()
	defer h.errors.forget(now.Add(-h.Limits.LogWindow))
	type count struct {
		service string
		n       int
		err     error
	}
	counts := make([]count, len(list))
	var wg sync.WaitGroup
	for i, c := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := h.errors.count(ctx, h.Docker, c.ID, now, h.Limits.LogWindow, ContainsError)
			counts[i] = count{c.Service, n, err}
		}()
	}
	wg.Wait()
	perService := map[string]int{}
	total := 0
	var unread []string
	for _, c := range counts {
		if c.err != nil {
			unread = append(unread, c.service)
			continue
		}
		perService[c.service] += c.n
		total += c.n
	}
	var parts []string
	for svc, n := range perService {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", svc, n))
		}
	}
	sort.Strings(parts)
	value := fmt.Sprint(total)
	if len(parts) > 0 {
		value += " (" + strings.Join(parts, ", ") + ")"
	}
	c := bot.Check{Name: name, Status: bot.StatusOK, Value: value, Threshold: threshold}
	if len(unread) > 0 {
		sort.Strings(unread)
		c.Status = bot.StatusWarn
		c.Value += "; logs unreadable: " + strings.Join(unread, ", ")
		if ctx.Err() != nil {
			c.Status = bot.StatusFailed
		}
	}
	if total >= h.Limits.ErrorLines {
		c.Status = bot.StatusFailed
	}
	return []bot.Check{c}
}

// ContainsError reports whether a log line contains "error" in any case,
// as `grep -i error` does, without allocating.
func ContainsError(line []byte) bool {
	const word = "error"
	for i := 0; i+len(word) <= len(line); i++ {
		j := 0
		for ; j < len(word); j++ {
			b := line[i+j]
			if 'A' <= b && b <= 'Z' {
				b += 'a' - 'A'
			}
			if b != word[j] {
				break
			}
		}
		if j == len(word) {
			return true
		}
	}
	return false
}

func (h *Health) backup(ctx context.Context) []bot.Check {
	const name = "latest backup"
	threshold := fmt.Sprintf("a real dump younger than %s", human(h.Limits.BackupAge))
	b, err := backups.Latest(h.BackupDir)
	if err != nil {
		return failed(name, threshold, "%s", err)
	}
	age := h.now().Sub(b.ModTime)
	value := fmt.Sprintf("%s, %s old, %s", b.Name, human(age), host.HumanBytes(uint64(b.Size)))
	if err := backups.Inspect(b); err != nil {
		return failed(name, threshold, "%s: %s", b.Name, err)
	}
	c := bot.Check{Name: name, Status: bot.StatusOK, Value: value, Threshold: threshold}
	if age > h.Limits.BackupAge {
		c.Status = bot.StatusFailed
		c.Value += " (too old)"
	}
	return []bot.Check{c}
}

// disk checks each filesystem that matters once: the one holding the
// backups and the one holding Docker's data.
func (h *Health) disk(ctx context.Context) []bot.Check {
	threshold := fmt.Sprintf("< %.0f%%", h.Limits.DiskPercent)
	type target struct{ path, what string }
	targets := []target{{existingParent(h.BackupDir), "backups"}}
	if root, err := h.Docker.DataRoot(ctx); err == nil && root != "" {
		targets = append(targets, target{root, "docker data"})
	}
	var out []bot.Check
	seen := map[uint64]int{} // filesystem -> index in out
	for _, t := range targets {
		d, err := host.DiskUsage(t.path)
		if err != nil {
			out = append(out, bot.Check{Name: "disk " + t.what, Status: bot.StatusWarn, Value: fmt.Sprintf("not visible from the bot: %s", err), Threshold: threshold})
			continue
		}
		if i, ok := seen[d.Device]; ok {
			out[i].Name = strings.TrimSuffix(out[i].Name, ")") + ", " + t.what + ")"
			continue
		}
		c := bot.Check{Name: fmt.Sprintf("disk %s (%s)", d.Mount, t.what), Status: bot.StatusOK, Threshold: threshold,
			Value: fmt.Sprintf("%.0f%% used, %s free of %s", d.UsedPercent, host.HumanBytes(d.Avail), host.HumanBytes(d.Total))}
		if d.UsedPercent >= h.Limits.DiskPercent {
			c.Status = bot.StatusFailed
		}
		seen[d.Device] = len(out)
		out = append(out, c)
	}
	return out
}

// existingParent returns path, or its nearest existing ancestor, so disk
// usage is measured where the backups will land.
func existingParent(path string) string {
	p, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	for {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p
		}
		p = parent
	}
}

func (h *Health) memory(ctx context.Context) []bot.Check {
	threshold := fmt.Sprintf("< %.0f%%", h.Limits.MemoryPercent)
	m, err := host.MemoryUsage()
	if err != nil {
		return failed("memory", threshold, "%s", err)
	}
	c := bot.Check{Name: "memory", Status: bot.StatusOK, Threshold: threshold,
		Value: fmt.Sprintf("%.0f%% used, %s available of %s", m.UsedPercent, host.HumanBytes(m.Available), host.HumanBytes(m.Total))}
	if m.UsedPercent >= h.Limits.MemoryPercent {
		c.Status = bot.StatusFailed
	}
	return []bot.Check{c}
}

func (h *Health) postgres(ctx context.Context) []bot.Check {
	const name = "postgres"
	// Readiness is pg_isready's start-up probe on a fresh connection; the
	// connection count and the version come over the pool, logged in. Ask
	// both at once.
	type counted struct {
		c   postgres.Connections
		err error
	}
	connc := make(chan counted, 1)
	go func() {
		c, err := h.DB.Connections(ctx)
		connc <- counted{c, err}
	}()
	r, err := h.DB.Ready(ctx)
	if err != nil {
		return failed(name, "accepting connections", "%s", reason(ctx, err))
	}
	if !r.Accepting {
		return failed(name, "accepting connections", "not accepting connections: %s", r.Reason)
	}
	ready := bot.Check{Name: name, Status: bot.StatusOK, Threshold: "accepting connections", Value: "accepting connections"}
	connName := "postgres connections"
	threshold := fmt.Sprintf("< %.0f%% of max_connections", h.Limits.DBConnPercent)
	got := <-connc
	conns, err := got.c, got.err
	if err != nil { // accepting, but we cannot log in or count
		if r.Reason != "" { // the server already said why at start-up
			ready.Value += " (" + r.Reason + ")"
		}
		return []bot.Check{ready, {Name: connName, Status: bot.StatusFailed, Threshold: threshold, Value: reason(ctx, err)}}
	}
	if conns.Version != "" {
		ready.Value += " (PostgreSQL " + conns.Version + ")"
	}
	pct := 0.0
	if conns.Max > 0 {
		pct = 100 * float64(conns.Total) / float64(conns.Max)
	}
	c := bot.Check{Name: connName, Status: bot.StatusOK, Threshold: threshold,
		Value: fmt.Sprintf("%d of %d (%.0f%%)", conns.Total, conns.Max, pct)}
	if pct >= h.Limits.DBConnPercent {
		c.Status = bot.StatusFailed
	}
	return []bot.Check{ready, c}
}

func (h *Health) redis(ctx context.Context) []bot.Check {
	const name = "redis"
	rtt, err := h.Cache.Ping(ctx)
	if err != nil {
		return failed(name, "answers PING", "%s", reason(ctx, err))
	}
	ping := bot.Check{Name: name, Status: bot.StatusOK, Threshold: "answers PING", Value: "PONG in " + ms(rtt)}
	threshold := fmt.Sprintf("< %.0f%% of maxmemory", h.Limits.RedisMemPercent)
	m, err := h.Cache.Memory(ctx)
	if err != nil {
		return []bot.Check{ping, {Name: "redis memory", Status: bot.StatusFailed, Threshold: threshold, Value: reason(ctx, err)}}
	}
	mem := bot.Check{Name: "redis memory", Status: bot.StatusOK, Threshold: threshold}
	if m.Max <= 0 {
		mem.Value = host.HumanBytes(uint64(m.Used)) + " used, no maxmemory set"
		mem.Threshold = "no limit to check"
	} else {
		pct := 100 * float64(m.Used) / float64(m.Max)
		mem.Value = fmt.Sprintf("%s of %s (%.0f%%)", host.HumanBytes(uint64(m.Used)), host.HumanBytes(uint64(m.Max)), pct)
		if pct >= h.Limits.RedisMemPercent {
			mem.Status = bot.StatusFailed
		}
	}
	return []bot.Check{ping, mem}
}

type timeoutKey struct{}

// reason turns an error into the short sentence a health line shows: the
// common network failures by name and address, anything else as the
// integration worded it, clipped.
func reason(ctx context.Context, err error) string {
	where := ""
	var op *net.OpError
	if errors.As(err, &op) && op.Addr != nil {
		where = op.Addr.String() + ": "
	}
	var dns *net.DNSError
	switch {
	case ctx.Err() == context.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded):
		if d, ok := ctx.Value(timeoutKey{}).(time.Duration); ok {
			return fmt.Sprintf("%sno answer within %s", where, d)
		}
		return where + "no answer before the deadline"
	case errors.Is(err, syscall.ECONNREFUSED):
		return where + "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return where + "connection reset by peer"
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot resolve host %q", dns.Name)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return where + "connection closed without an answer"
	}
	return clipMiddle(err.Error(), 200)
}

// clipMiddle keeps the start and the end of a long text, where errors keep
// what was being done and why it failed.
func clipMiddle(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	r = []rune(redact.Builtin(s)) // a secret cut in two is no longer recognised
	if len(r) <= n {
		return string(r)
	}
	head := n / 3
	return string(r[:head]) + " … " + string(r[len(r)-(n-head):])
}

func ms(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%dµs", d.Microseconds())
	}
	if d < 10*time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return d.Round(100 * time.Millisecond).String()
}

// human shows a duration as people say it: 24h, 2h15m, 3d.
func human(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future " + human(-d)
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= time.Hour:
		// "2h0m0s" -> "2h", "2h10m0s" -> "2h10m"
		s := strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		return s
	case d >= time.Minute:
		// "3m0s" -> "3m", "13m50s" stays
		s := d.Round(time.Second).String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		return s
	}
	return d.Round(time.Second).String()
}
