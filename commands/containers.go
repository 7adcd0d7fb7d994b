package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
)

// ContainerEngine is what the container commands need of the Docker
// Engine: the compose project's containers, their details, and the
// operations on one container.
type ContainerEngine interface {
	Project() string
	Containers(ctx context.Context) ([]docker.Container, error)
	Details(ctx context.Context) ([]docker.Detail, error)
	Restart(ctx context.Context, containerID string, stop time.Duration) error
	Start(ctx context.Context, containerID string) error
	Stop(ctx context.Context, containerID string, stop time.Duration) error
	WaitReady(ctx context.Context, containerID string) (docker.Detail, error)
	Top(ctx context.Context, containerID string) (docker.Processes, error)
	Stats(ctx context.Context, containerID string) (docker.Stats, error)
}

// DeployRecord tells the image a service was last deployed with, by ID;
// ok is false when the bot never deployed it.
type DeployRecord interface {
	DeployedImage(ctx context.Context, service string) (imageID string, ok bool, err error)
}

// Stack holds the container commands: status, stats, top, restart, start,
// stop all, logs and errors.
type Stack struct {
	Engine ContainerEngine
	Logs   LogReader
	// Deployed, when set, is where deploy records the image it deployed;
	// without it status reads the container's shiftwise.deployed-image
	// label.
	Deployed DeployRecord
	// ReadyTimeout bounds the wait for a restarted or started container
	// to run and, with a healthcheck, turn healthy (default 2m).
	ReadyTimeout time.Duration
	// StopGrace is the SIGTERM grace before SIGKILL (default 10s, as
	// docker-compose).
	StopGrace time.Duration
	Now       func() time.Time
	// Self is the ID of the container the bot runs in ("" on the host):
	// `stop all`, `start all` and `restart all` leave it alone, and a
	// command naming its service is refused.
	Self string
	// Redact is the bot's redactor (nil: the built-in rules alone), applied
	// to each log line before logs matches or clips it and before errors
	// matches, normalises or clips it: the engine redacts every output too,
	// but a clipped secret, or one with its digits replaced, would no
	// longer look like one, and --grep would match on what is hidden.
	Redact func(string) string

	seenMu sync.Mutex
	seen   []string  // services seen in the last listing, for `restart all`'s levels
	seenAt time.Time // when
}

// runbookServices are the services the runbook names; `restart all`
// counts them among its targets even before the bot has seen the project.
var runbookServices = []string{"api", "frontend", "nginx", "postgres", "redis"}

// stateful services hold data: restarting one is Level 2 (the runbook's
// "Restart PostgreSQL" is a Development-team step); they start first and
// stop last.
var stateful = map[string]bool{"postgres": true, "redis": true}

// Commands returns the container commands.
func (s *Stack) Commands() []bot.Command {
	return []bot.Command{
		s.statusCommand(), s.statsCommand(), s.topCommand(),
		s.restartCommand(), s.startCommand(), s.stopAllCommand(),
		s.logsCommand(), s.errorsCommand(),
	}
}

func (s *Stack) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Stack) readyTimeout() time.Duration {
	if s.ReadyTimeout > 0 {
		return s.ReadyTimeout
	}
	return 2 * time.Minute
}

// list returns the project's containers, remembering its services.
func (s *Stack) list(ctx context.Context) ([]docker.Container, error) {
	list, err := s.Engine.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("Could not list the containers of project %s: %w", s.Engine.Project(), err)
	}
	s.remember(list)
	return list, nil
}

func (s *Stack) remember(list []docker.Container) {
	svcs := services(list)
	s.seenMu.Lock()
	s.seen, s.seenAt = svcs, time.Now()
	s.seenMu.Unlock()
}

// seenFresh is how long a listing stands for the live project when the
// permission targets of `all` are worked out (several times a request).
const seenFresh = 5 * time.Second

// allServices is the services `all` may act on, for its permission
// targets: the runbook's and the live project's (listed now unless a
// listing is fresh; the last one seen when the engine does not answer
// within 3 s, and then the operation itself fails anyway).
func (s *Stack) allServices() []string {
	s.seenMu.Lock()
	fresh := time.Since(s.seenAt) < seenFresh
	s.seenMu.Unlock()
	if !fresh {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		if list, err := s.Engine.Containers(ctx); err == nil {
			s.remember(list)
		}
		cancel()
	}
	s.seenMu.Lock()
	all := append(slices.Clone(runbookServices), s.seen...)
	s.seenMu.Unlock()
	sort.Strings(all)
	return slices.Compact(all)
}

// services lists the distinct services of the containers, sorted.
func services(list []docker.Container) []string {
	var out []string
	for _, c := range list {
		if c.Service != "" {
			out = append(out, c.Service)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// pick returns the containers of the named service, checked against the
// live project: an unknown name is a usage error that lists the real ones.
// Names match exactly, so no spelling reaches a service under another
// permission object.
func (s *Stack) pick(list []docker.Container, name string) ([]docker.Container, error) {
	var out []docker.Container
	for _, c := range list {
		if c.Service == name {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		known := services(list)
		if len(known) == 0 {
			return nil, &bot.UsageError{Msg: fmt.Sprintf("Unknown service %s: project %s has no containers.", quoteName(name), s.Engine.Project())}
		}
		return nil, &bot.UsageError{Msg: fmt.Sprintf("Unknown service %s. Services of project %s: %s.",
			quoteName(name), s.Engine.Project(), strings.Join(known, ", "))}
	}
	return out, nil
}

// quoteName echoes a user's word safely: quoted, escaped, clipped.
func quoteName(name string) string {
	r := []rune(name)
	if len(r) > 40 {
		name = string(r[:40]) + "…"
	}
	return fmt.Sprintf("%q", name)
}

// serviceTargets is the permission targets of `verb <service>` and, when
// allLevel is LevelNone, of `verb all` as one target per service;
// otherwise `verb all` is one target of its own at allLevel.
func (s *Stack) serviceTargets(verb string, level func(svc string) bot.Level, allLevel bot.Level, allApproval bool) func(bot.Args) []bot.Target {
	return func(a bot.Args) []bot.Target {
		svc := a.First()
		if svc != "all" {
			return []bot.Target{{Object: verb + ":" + svc, Level: level(svc)}}
		}
		if allLevel != bot.LevelNone {
			return []bot.Target{{Object: verb + ":all", Level: allLevel, Approval: allApproval}}
		}
		var ts []bot.Target
		for _, svc := range s.allServices() {
			ts = append(ts, bot.Target{Object: verb + ":" + svc, Level: level(svc)})
		}
		return ts
	}
}

func restartLevel(svc string) bot.Level {
	if stateful[svc] {
		return bot.Level2
	}
	return bot.Level1
}

// ---- status ----

func (s *Stack) statusCommand() bot.Command {
	return bot.Command{
		Name:    "status",
		Summary: "the project's containers: state, health, uptime, image (docker-compose ps)",
		Usage:   "[service]",
		Help: "The runbook's `docker-compose ps`: one row per container of the compose project with its state, health, " +
			"uptime and image. A service whose running image differs from the one the bot last deployed is marked.",
		MaxArgs: 1,
		Level:   bot.Level1,
		Risk:    bot.ReadOnly,
		Timeout: time.Minute,
		Run:     s.status,
	}
}

func (s *Stack) status(ctx context.Context, req bot.Request) (bot.Message, error) {
	details, err := s.Engine.Details(ctx)
	if err != nil {
		return bot.Message{}, fmt.Errorf("Could not read the containers of project %s: %w", s.Engine.Project(), err)
	}
	list := make([]docker.Container, len(details))
	for i, d := range details {
		list[i] = d.Container
	}
	s.remember(list)
	if svc := req.Args.First(); svc != "" {
		if _, err := s.pick(list, svc); err != nil {
			return bot.Message{}, err
		}
		details = slices.DeleteFunc(details, func(d docker.Detail) bool { return d.Service != svc })
	}
	m := bot.Message{Title: "Containers of " + s.Engine.Project()}
	if len(details) == 0 {
		m.Status = bot.StatusFailed
		m.Text = fmt.Sprintf("Project %s has no containers.", s.Engine.Project())
		return m, nil
	}
	now := s.now()
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tNAME\tSTATE\tHEALTH\tUPTIME\tIMAGE")
	up, worst := 0, bot.StatusOK
	var notes []string
	for _, d := range details {
		health := d.Health
		if health == "" {
			health = "-"
		}
		image := d.Image + " (" + shortImageID(d.ImageID) + ")"
		deployed, known, derr := s.deployedImage(ctx, d)
		switch {
		case derr != nil:
			notes = append(notes, fmt.Sprintf("%s: the deployed image is unknown (%v)", d.Service, derr))
		case known && deployed != d.ImageID:
			image += " *"
			notes = append(notes, fmt.Sprintf("%s runs %s, not %s that the bot last deployed", d.Service, shortImageID(d.ImageID), shortImageID(deployed)))
			worst = bot.Worst(worst, bot.StatusWarn)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Service, d.Name, stateText(d), health, uptime(d, now), image)
		switch {
		case d.State != "running":
			worst = bot.StatusFailed
		case d.Health == "unhealthy":
			worst = bot.StatusFailed
		case d.Health == "starting":
			worst = bot.Worst(worst, bot.StatusWarn)
			up++
		default:
			up++
		}
	}
	tw.Flush()
	m.Code = []bot.CodeBlock{{Text: trimLines(b.String())}}
	if len(notes) > 0 {
		m.Text = "* " + strings.Join(notes, "\n* ")
	}
	m.Status = worst
	m.Summary = fmt.Sprintf("%d of %d Up", up, len(details))
	return m, nil
}

// deployedImage is the image ID the bot last deployed for the container's
// service: from the deploy record when there is one, else the label.
func (s *Stack) deployedImage(ctx context.Context, d docker.Detail) (string, bool, error) {
	if s.Deployed != nil {
		id, ok, err := s.Deployed.DeployedImage(ctx, d.Service)
		if err != nil || ok {
			return id, ok, err
		}
	}
	return d.DeployedImage, d.DeployedImage != "", nil
}

func stateText(d docker.Detail) string {
	switch d.State {
	case "exited":
		s := fmt.Sprintf("exited (%d)", d.ExitCode)
		if d.OOMKilled {
			s += " OOM"
		}
		return s
	case "running":
		if d.RestartCount > 0 {
			return fmt.Sprintf("running (%d restarts)", d.RestartCount)
		}
	}
	return d.State
}

// uptime is how long a running container has run, or how long ago a
// stopped one exited.
func uptime(d docker.Detail, now time.Time) string {
	switch {
	case (d.State == "running" || d.State == "paused") && !d.StartedAt.IsZero():
		return "Up " + humanAge(now.Sub(d.StartedAt))
	case !d.FinishedAt.IsZero():
		return humanAge(now.Sub(d.FinishedAt)) + " ago"
	}
	return "-"
}

// humanAge is a short duration: 45s, 12m30s, 3h5m, 2d4h.
func humanAge(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

func shortImageID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	if id == "" {
		return "?"
	}
	return id
}

// ---- stats ----

func (s *Stack) statsCommand() bot.Command {
	return bot.Command{
		Name:    "stats",
		Summary: "CPU and memory of the project's containers (docker stats --no-stream)",
		Usage:   "[service]",
		Help: "The runbook's `docker stats --no-stream`: CPU %, memory use and limit, network and block I/O and PIDs " +
			"of each running container (all of the project, or one service), computed as the docker CLI does.",
		MaxArgs: 1,
		Level:   bot.Level1,
		Risk:    bot.ReadOnly,
		Timeout: time.Minute,
		Run:     s.stats,
	}
}

func (s *Stack) stats(ctx context.Context, req bot.Request) (bot.Message, error) {
	list, err := s.list(ctx)
	if err != nil {
		return bot.Message{}, err
	}
	if svc := req.Args.First(); svc != "" {
		if list, err = s.pick(list, svc); err != nil {
			return bot.Message{}, err
		}
	}
	type row struct {
		c   docker.Container
		st  docker.Stats
		err error
	}
	rows := make([]row, len(list))
	var wg sync.WaitGroup
	for i, c := range list {
		rows[i].c = c
		if c.State != "running" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows[i].st, rows[i].err = s.Engine.Stats(ctx, c.ID)
		}()
	}
	wg.Wait()
	m := bot.Message{Title: "Resource use of " + s.Engine.Project(), Status: bot.StatusNone}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS")
	var failedReads []string
	for _, r := range rows {
		switch {
		case r.c.State != "running":
			fmt.Fprintf(tw, "%s\t%s\t%s\t\t\t\t\t\n", r.c.Service, r.c.Name, r.c.State)
		case r.err != nil:
			failedReads = append(failedReads, fmt.Sprintf("%s: %v", r.c.Name, r.err))
			fmt.Fprintf(tw, "%s\t%s\tunreadable\t\t\t\t\t\n", r.c.Service, r.c.Name)
		default:
			st := r.st
			fmt.Fprintf(tw, "%s\t%s\t%.2f%%\t%s / %s\t%.2f%%\t%s / %s\t%s / %s\t%d\n", r.c.Service, r.c.Name,
				st.CPUPercent, docker.BinarySize(st.MemUsage), docker.BinarySize(st.MemLimit), st.MemPercent,
				docker.DecimalSize(st.NetRx), docker.DecimalSize(st.NetTx),
				docker.DecimalSize(st.BlockRead), docker.DecimalSize(st.BlockWrite), st.PIDs)
		}
	}
	tw.Flush()
	m.Code = []bot.CodeBlock{{Text: trimLines(b.String())}}
	if len(failedReads) > 0 {
		m.Status = bot.StatusWarn
		m.Text = "Could not read: " + strings.Join(failedReads, "; ")
	}
	return m, nil
}

// ---- top ----

func (s *Stack) topCommand() bot.Command {
	return bot.Command{
		Name:    "top",
		Summary: "processes running in a service's container (docker top)",
		Usage:   "<service>",
		Help:    "The processes of the service's running container(s), as `docker top` (ps -ef) shows them; the runbook's `docker-compose exec postgres ps aux`.",
		MinArgs: 1, MaxArgs: 1,
		Level:   bot.Level1,
		Risk:    bot.ReadOnly,
		Timeout: time.Minute,
		Run:     s.top,
	}
}

func (s *Stack) top(ctx context.Context, req bot.Request) (bot.Message, error) {
	list, err := s.list(ctx)
	if err != nil {
		return bot.Message{}, err
	}
	picked, err := s.pick(list, req.Args.First())
	if err != nil {
		return bot.Message{}, err
	}
	m := bot.Message{Title: "Processes of " + req.Args.First()}
	total := 0
	for _, c := range picked {
		if c.State != "running" {
			m.Code = append(m.Code, bot.CodeBlock{Title: c.Name, Text: "not running (" + c.State + ")"})
			m.Status = bot.StatusWarn
			continue
		}
		p, err := s.Engine.Top(ctx, c.ID)
		if err != nil {
			return bot.Message{}, fmt.Errorf("Could not list the processes of %s: %w", c.Name, err)
		}
		var b strings.Builder
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(p.Titles, "\t"))
		for _, row := range p.Rows {
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		tw.Flush()
		total += len(p.Rows)
		m.Code = append(m.Code, bot.CodeBlock{Title: c.Name, Text: trimLines(b.String())})
	}
	m.Summary = fmt.Sprintf("%d processes", total)
	return m, nil
}

// ---- restart, start, stop all ----

func (s *Stack) restartCommand() bot.Command {
	return bot.Command{
		Name:    "restart",
		Summary: "restart a service's container, or all of them, and wait until it is healthy",
		Usage:   "<service>|all",
		Help: "The runbook's `docker-compose restart <service>`: SIGTERM, SIGKILL after the grace period, start; then waits " +
			"(bounded) until the container runs and, with a healthcheck, is healthy, and says so. api, frontend and nginx " +
			"need Level 1; postgres and redis Level 2; `restart all` needs the highest level among the services " +
			"(postgres and redis first, then the others). The service must exist in the live compose project.",
		MinArgs: 1, MaxArgs: 1,
		Object:  func(a bot.Args) string { return "restart:" + a.First() },
		Targets: s.serviceTargets("restart", restartLevel, bot.LevelNone, false),
		Level:   bot.Level1,
		Risk:    bot.Changes,
		Timeout: 10 * time.Minute,
		Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			return s.operate(ctx, req, "restart")
		},
	}
}

func (s *Stack) startCommand() bot.Command {
	return bot.Command{
		Name:    "start",
		Summary: "start a stopped service's container (up -d), or every container (start all)",
		Usage:   "<service>|all",
		Help: "The runbook's `docker-compose up -d <service>` for a container that is down: starts the existing container " +
			"with its configuration and waits (bounded) until it runs and is healthy. A running one is left alone. " +
			"`start <service>` needs Level 1; `start all` (the runbook's `docker-compose up -d` after a `down`) needs Level 3 " +
			"and a second person's approval. Rebuilding images (`--build`) is out of scope.",
		MinArgs: 1, MaxArgs: 1,
		Object:  func(a bot.Args) string { return "start:" + a.First() },
		Targets: s.serviceTargets("start", func(string) bot.Level { return bot.Level1 }, bot.Level3, true),
		Level:   bot.Level1,
		Risk:    bot.Changes,
		Timeout: 10 * time.Minute,
		Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			return s.operate(ctx, req, "start")
		},
	}
}

func (s *Stack) stopAllCommand() bot.Command {
	return bot.Command{
		Name:    "stop all",
		Summary: "stop every container of the project (docker-compose stop)",
		Help: "The runbook's `docker-compose down` in its first step of the outage, corruption and security procedures, " +
			"without removing anything: stops every container (nginx, frontend and api first, postgres and redis last), " +
			"so that `start all` brings the same containers back. Level 3, with a second person's approval.",
		Object:   func(bot.Args) string { return "stop:all" },
		Level:    bot.Level3,
		Approval: true,
		Risk:     bot.Destructive,
		Timeout:  10 * time.Minute,
		Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			req.Args.Positional = []string{"all"}
			return s.operate(ctx, req, "stop")
		},
	}
}

// step is one container's outcome in an operation.
type step struct {
	c      docker.Container
	status bot.Status
	value  string
}

// operate restarts, starts or stops the containers the request names, in
// tiers (stateful services first when starting, last when stopping), and
// reports each step as progress.
func (s *Stack) operate(ctx context.Context, req bot.Request, verb string) (bot.Message, error) {
	list, err := s.list(ctx)
	if err != nil {
		return bot.Message{}, err
	}
	target := req.Args.First()
	picked := list
	var note string
	if target != "all" {
		if picked, err = s.pick(list, target); err != nil {
			return bot.Message{}, err
		}
		if slices.ContainsFunc(picked, s.isSelf) {
			return bot.Message{}, fmt.Errorf("%s is the bot's own service: %s it from the host (docker-compose %s %s), not from the bot", target, verb, verb, target)
		}
	} else {
		for _, c := range picked {
			if s.isSelf(c) {
				note = fmt.Sprintf("The bot's own container (%s) was left alone.", c.Name)
			}
		}
		picked = slices.DeleteFunc(slices.Clone(picked), s.isSelf)
		if len(picked) == 0 {
			return bot.Message{}, fmt.Errorf("Project %s has no containers to %s", s.Engine.Project(), verb)
		}
	}
	title := fmt.Sprintf("%s %s", verb, target)
	pr := &progress{title: title, appendOnly: req.Channel == "console"}
	var steps []step
	for _, tier := range tiers(picked, verb == "stop") {
		steps = append(steps, s.runTier(ctx, verb, tier, pr)...)
	}
	m := bot.Message{Title: title, Status: bot.StatusOK, Text: note}
	failed := 0
	for _, st := range steps {
		m.Checks = append(m.Checks, bot.Check{Name: st.c.Service + " (" + st.c.Name + ")", Status: st.status, Value: st.value})
		m.Status = bot.Worst(m.Status, st.status)
		if st.status == bot.StatusFailed {
			failed++
		}
	}
	past := map[string]string{"restart": "restarted", "start": "started", "stop": "stopped"}[verb]
	switch {
	case failed > 0:
		m.Summary = fmt.Sprintf("%s: %d of %d containers FAILED", title, failed, len(steps))
	case m.Status == bot.StatusWarn:
		m.Summary = fmt.Sprintf("%s: %d containers %s, not all ready yet", title, len(steps), past)
	default:
		m.Summary = fmt.Sprintf("%s: %d containers %s", title, len(steps), past)
		if verb != "stop" {
			m.Summary += ", running and healthy"
		}
	}
	return m, nil
}

func (s *Stack) isSelf(c docker.Container) bool { return s.Self != "" && c.ID == s.Self }

// tiers orders containers for an operation: stateful services first (or
// last when stopping), each tier acted on concurrently.
func tiers(list []docker.Container, stopping bool) [][]docker.Container {
	var data, rest []docker.Container
	for _, c := range list {
		if stateful[c.Service] {
			data = append(data, c)
		} else {
			rest = append(rest, c)
		}
	}
	out := [][]docker.Container{data, rest}
	if stopping {
		out = [][]docker.Container{rest, data}
	}
	return slices.DeleteFunc(out, func(t []docker.Container) bool { return len(t) == 0 })
}

func (s *Stack) runTier(ctx context.Context, verb string, tier []docker.Container, pr *progress) []step {
	out := make([]step, len(tier))
	var wg sync.WaitGroup
	for i, c := range tier {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = s.runOne(ctx, verb, c, pr)
		}()
	}
	wg.Wait()
	return out
}

func (s *Stack) runOne(ctx context.Context, verb string, c docker.Container, pr *progress) step {
	start := time.Now()
	name := c.Service + " (" + c.Name + ")"
	var err error
	switch verb {
	case "restart":
		pr.add(ctx, fmt.Sprintf("restarting %s…", name))
		err = s.Engine.Restart(ctx, c.ID, s.StopGrace)
	case "start":
		if c.State == "running" {
			pr.add(ctx, fmt.Sprintf("%s is already running; left alone", name))
			return s.ready(ctx, c, start, "already running", pr)
		}
		pr.add(ctx, fmt.Sprintf("starting %s…", name))
		err = s.Engine.Start(ctx, c.ID)
	case "stop":
		if c.State != "running" && c.State != "restarting" && c.State != "paused" {
			pr.add(ctx, fmt.Sprintf("%s is already %s", name, c.State))
			return step{c: c, status: bot.StatusOK, value: "already " + c.State}
		}
		pr.add(ctx, fmt.Sprintf("stopping %s…", name))
		err = s.Engine.Stop(ctx, c.ID, s.StopGrace)
		if err == nil {
			pr.add(ctx, fmt.Sprintf("%s stopped in %s", name, ms(time.Since(start))))
			return step{c: c, status: bot.StatusOK, value: "stopped in " + ms(time.Since(start))}
		}
	}
	if err != nil {
		pr.add(ctx, fmt.Sprintf("%s: %s FAILED: %v", name, verb, err))
		return step{c: c, status: bot.StatusFailed, value: fmt.Sprintf("%s failed: %v", verb, err)}
	}
	pr.add(ctx, fmt.Sprintf("%s %sed; waiting until it is running and healthy (up to %s)", name, verb, s.readyTimeout()))
	return s.ready(ctx, c, start, verb+"ed", pr)
}

// ready waits, bounded, until the container runs and is healthy.
func (s *Stack) ready(ctx context.Context, c docker.Container, start time.Time, did string, pr *progress) step {
	name := c.Service + " (" + c.Name + ")"
	wctx, cancel := context.WithTimeout(ctx, s.readyTimeout())
	defer cancel()
	d, err := s.Engine.WaitReady(wctx, c.ID)
	took := ms(time.Since(start))
	switch {
	case err == nil:
		state := "running"
		if d.Health != "" {
			state += ", " + d.Health
		}
		pr.add(ctx, fmt.Sprintf("%s is %s after %s", name, state, took))
		return step{c: c, status: bot.StatusOK, value: fmt.Sprintf("%s; %s after %s", did, state, took)}
	case errors.Is(err, docker.ErrNotReady) && d.State == "running" && d.Health == "starting":
		pr.add(ctx, fmt.Sprintf("%s is still starting after %s", name, took))
		return step{c: c, status: bot.StatusWarn, value: fmt.Sprintf("%s; health still starting after %s", did, took)}
	default:
		pr.add(ctx, fmt.Sprintf("%s is NOT ready after %s: %v", name, took, err))
		return step{c: c, status: bot.StatusFailed, value: fmt.Sprintf("%s; not ready after %s: %v", did, took, err)}
	}
}

// progress collects an operation's steps and reports them as one message
// updated in place (Slack), or one step at a time where each report is
// printed below the last (the console: appendOnly).
type progress struct {
	mu         sync.Mutex
	title      string
	appendOnly bool
	lines      []string
}

const maxProgressLines = 40

func (p *progress) add(ctx context.Context, line string) {
	p.mu.Lock()
	p.lines = append(p.lines, time.Now().UTC().Format("15:04:05")+" "+line)
	if len(p.lines) > maxProgressLines {
		p.lines = p.lines[len(p.lines)-maxProgressLines:]
	}
	text := strings.Join(p.lines, "\n")
	if p.appendOnly {
		text = p.lines[len(p.lines)-1]
	}
	p.mu.Unlock()
	bot.Report(ctx, bot.Message{Title: p.title + " (in progress)", Code: []bot.CodeBlock{{Text: text}}})
}

// trimLines drops the padding tabwriter leaves at the ends of lines and
// the final newline.
func trimLines(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}
