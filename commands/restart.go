package commands

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
)

// ContainerOperator restarts, starts or stops containers of the project
// in tiers and waits until they are ready (*docker.Client).
type ContainerOperator interface {
	Operate(ctx context.Context, op docker.Op, list []docker.Container, opts docker.OperateOptions) docker.Operated
}

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
			return s.operate(ctx, req, docker.OpRestart)
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
			return s.operate(ctx, req, docker.OpStart)
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
			return s.operate(ctx, req, docker.OpStop)
		},
	}
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
	if docker.Stateful(svc) {
		return bot.Level2
	}
	return bot.Level1
}

func (s *Stack) readyTimeout() time.Duration {
	if s.ReadyTimeout > 0 {
		return s.ReadyTimeout
	}
	return docker.DefaultReadyTimeout
}

// operate restarts, starts or stops the containers the request names, in
// tiers (stateful services first when starting, last when stopping), and
// reports each step as progress.
func (s *Stack) operate(ctx context.Context, req bot.Request, op docker.Op) (bot.Message, error) {
	verb := string(op)
	list, err := s.list(ctx)
	if err != nil {
		return bot.Message{}, err
	}
	target := req.Args.First()
	picked := list
	if target != "all" {
		if picked, err = s.pick(list, target); err != nil {
			return bot.Message{}, err
		}
		if slices.ContainsFunc(picked, s.isSelf) {
			return bot.Message{}, fmt.Errorf("%s is the bot's own service: %s it from the host (docker-compose %s %s), not from the bot", target, verb, verb, target)
		}
	} else if len(slices.DeleteFunc(slices.Clone(picked), s.isSelf)) == 0 {
		return bot.Message{}, fmt.Errorf("Project %s has no containers to %s", s.Engine.Project(), verb)
	}
	title := fmt.Sprintf("%s %s", verb, target)
	pr := &progress{title: title, appendOnly: req.Channel == "console"}
	done := s.Engine.Operate(ctx, op, picked, docker.OperateOptions{
		StopGrace: s.StopGrace, ReadyTimeout: s.readyTimeout(), Self: s.Self,
		Progress: func(st docker.Step) { pr.add(ctx, s.progressLine(st)) },
	})
	m := bot.Message{Title: title, Status: bot.StatusOK}
	for _, c := range done.Spared {
		m.Text = fmt.Sprintf("The bot's own container (%s) was left alone.", c.Name)
	}
	failed := 0
	for _, st := range done.Steps {
		status, value := stepOutcome(st)
		m.Checks = append(m.Checks, bot.Check{Name: stepName(st.Container), Status: status, Value: value})
		m.Status = bot.Worst(m.Status, status)
		if status == bot.StatusFailed {
			failed++
		}
	}
	past := map[docker.Op]string{docker.OpRestart: "restarted", docker.OpStart: "started", docker.OpStop: "stopped"}[op]
	switch {
	case failed > 0:
		m.Summary = fmt.Sprintf("%s: %d of %d containers FAILED", title, failed, len(done.Steps))
	case m.Status == bot.StatusWarn:
		m.Summary = fmt.Sprintf("%s: %d containers %s, not all ready yet", title, len(done.Steps), past)
	default:
		m.Summary = fmt.Sprintf("%s: %d containers %s", title, len(done.Steps), past)
		if op != docker.OpStop {
			m.Summary += ", running and healthy"
		}
	}
	return m, nil
}

func (s *Stack) isSelf(c docker.Container) bool { return s.Self != "" && c.ID == s.Self }

func stepName(c docker.Container) string { return c.Service + " (" + c.Name + ")" }

// readyState is "running" and the health when there is one.
func readyState(d docker.Detail) string {
	state := "running"
	if d.Health != "" {
		state += ", " + d.Health
	}
	return state
}

// progressLine says what one step of an operation is doing.
func (s *Stack) progressLine(st docker.Step) string {
	name, verb := stepName(st.Container), string(st.Op)
	switch st.Phase {
	case docker.Begun:
		return fmt.Sprintf("%s %s…", map[docker.Op]string{docker.OpRestart: "restarting", docker.OpStart: "starting", docker.OpStop: "stopping"}[st.Op], name)
	case docker.LeftAlone:
		if st.WasUp {
			return fmt.Sprintf("%s is already running; left alone", name)
		}
		return fmt.Sprintf("%s is already %s", name, st.Container.State)
	case docker.Done:
		if st.Op == docker.OpStop {
			return fmt.Sprintf("%s stopped in %s", name, ms(st.Took))
		}
		return fmt.Sprintf("%s %sed; waiting until it is running and healthy (up to %s)", name, verb, s.readyTimeout())
	case docker.Failed:
		return fmt.Sprintf("%s: %s FAILED: %v", name, verb, st.Err)
	case docker.Ready:
		return fmt.Sprintf("%s is %s after %s", name, readyState(st.Detail), ms(st.Took))
	case docker.Starting:
		return fmt.Sprintf("%s is still starting after %s", name, ms(st.Took))
	}
	return fmt.Sprintf("%s is NOT ready after %s: %v", name, ms(st.Took), st.Err)
}

// stepOutcome is a container's check in the operation's answer.
func stepOutcome(st docker.Step) (bot.Status, string) {
	did := string(st.Op) + "ed"
	if st.WasUp {
		did = "already running"
	}
	took := ms(st.Took)
	switch st.Phase {
	case docker.LeftAlone:
		return bot.StatusOK, "already " + st.Container.State
	case docker.Done:
		return bot.StatusOK, "stopped in " + took
	case docker.Failed:
		return bot.StatusFailed, fmt.Sprintf("%s failed: %v", st.Op, st.Err)
	case docker.Ready:
		return bot.StatusOK, fmt.Sprintf("%s; %s after %s", did, readyState(st.Detail), took)
	case docker.Starting:
		return bot.StatusWarn, fmt.Sprintf("%s; health still starting after %s", did, took)
	}
	return bot.StatusFailed, fmt.Sprintf("%s; not ready after %s: %v", did, took, st.Err)
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
