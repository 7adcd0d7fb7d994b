package docker

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Op is an operation on containers of the compose project.
type Op string

// The operations Operate knows.
const (
	OpRestart Op = "restart"
	OpStart   Op = "start"
	OpStop    Op = "stop"
)

// DefaultReadyTimeout bounds the wait for a restarted or started
// container to run and, with a healthcheck, turn healthy.
const DefaultReadyTimeout = 2 * time.Minute

// Stateful tells whether a service of the project holds data (postgres,
// redis): those start first and stop last.
func Stateful(service string) bool { return service == "postgres" || service == "redis" }

// Tiers orders containers for an operation: stateful services first (or
// last when stopping), each tier acted on concurrently. Empty tiers are
// left out.
func Tiers(list []Container, stopping bool) [][]Container {
	var data, rest []Container
	for _, c := range list {
		if Stateful(c.Service) {
			data = append(data, c)
		} else {
			rest = append(rest, c)
		}
	}
	out := [][]Container{data, rest}
	if stopping {
		out = [][]Container{rest, data}
	}
	return slices.DeleteFunc(out, func(t []Container) bool { return len(t) == 0 })
}

// Phase is how far one container's operation got.
type Phase int

const (
	// Begun: the engine is asked to restart, start or stop it.
	Begun Phase = iota
	// LeftAlone: it was already as wanted. Stopping, that is its last
	// step; starting one that runs, the wait for ready follows (WasUp).
	LeftAlone
	// Done: the engine did it. Stopping, that is its last step (Took);
	// restarting or starting, the wait for ready follows.
	Done
	// Failed: the engine refused (Err). Its last step.
	Failed
	// Ready: running and, with a healthcheck, healthy (Detail, Took).
	Ready
	// Starting: running, health still starting when the wait ended.
	Starting
	// NotReady: exited, unhealthy, or the wait ended first (Err, Took).
	NotReady
)

// Step is one container's progress in Operate: reported as it reaches
// each phase, and its last one returned.
type Step struct {
	Container Container
	Op        Op
	Phase     Phase
	// WasUp: starting, the container already ran and was only waited for.
	WasUp  bool
	Detail Detail        // Ready, Starting, NotReady: the container as the wait left it
	Took   time.Duration // since its operation began (Done, Ready, Starting, NotReady)
	Err    error         // Failed, NotReady
}

// OperateOptions are the bounds of an Operate and where it reports.
type OperateOptions struct {
	// StopGrace is the SIGTERM grace before SIGKILL (0: 10 s, as
	// docker-compose).
	StopGrace time.Duration
	// ReadyTimeout bounds the wait for each restarted or started
	// container (0: DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// Self is the ID of the container the bot runs in ("" on the host):
	// it is never acted on.
	Self string
	// Progress, when set, hears each step as it happens, concurrently
	// from the containers of one tier.
	Progress func(Step)
}

// Operated is what Operate did.
type Operated struct {
	Steps  []Step      // the last step of each container acted on, tier by tier
	Spared []Container // the bot's own container, left alone
}

// Operate restarts, starts or stops the containers in tiers (stateful
// services first, or last when stopping), the containers of one tier
// concurrently, and waits (bounded) after a restart or start until each
// runs and is healthy before the next tier. The bot's own container is
// spared. Each container's outcome is in its Step, never an error of the
// whole.
func (c *Client) Operate(ctx context.Context, op Op, list []Container, opts OperateOptions) Operated {
	var res Operated
	var act []Container
	for _, ct := range list {
		if opts.Self != "" && ct.ID == opts.Self {
			res.Spared = append(res.Spared, ct)
		} else {
			act = append(act, ct)
		}
	}
	for _, tier := range Tiers(act, op == OpStop) {
		steps := make([]Step, len(tier))
		var wg sync.WaitGroup
		for i, ct := range tier {
			wg.Add(1)
			go func() {
				defer wg.Done()
				steps[i] = c.operateOne(ctx, op, ct, opts)
			}()
		}
		wg.Wait()
		res.Steps = append(res.Steps, steps...)
	}
	return res
}

func (c *Client) operateOne(ctx context.Context, op Op, ct Container, opts OperateOptions) Step {
	start := time.Now()
	report := func(s Step) Step {
		if opts.Progress != nil {
			opts.Progress(s)
		}
		return s
	}
	var err error
	switch op {
	case OpRestart:
		report(Step{Container: ct, Op: op, Phase: Begun})
		err = c.Restart(ctx, ct.ID, opts.StopGrace)
	case OpStart:
		if ct.State == "running" {
			report(Step{Container: ct, Op: op, Phase: LeftAlone, WasUp: true})
			return c.ready(ctx, op, ct, start, true, opts, report)
		}
		report(Step{Container: ct, Op: op, Phase: Begun})
		err = c.Start(ctx, ct.ID)
	case OpStop:
		if ct.State != "running" && ct.State != "restarting" && ct.State != "paused" {
			return report(Step{Container: ct, Op: op, Phase: LeftAlone})
		}
		report(Step{Container: ct, Op: op, Phase: Begun})
		err = c.Stop(ctx, ct.ID, opts.StopGrace)
		if err == nil {
			return report(Step{Container: ct, Op: op, Phase: Done, Took: time.Since(start)})
		}
	default:
		err = errors.New("docker: unknown operation " + string(op))
	}
	if err != nil {
		return report(Step{Container: ct, Op: op, Phase: Failed, Err: err})
	}
	report(Step{Container: ct, Op: op, Phase: Done, Took: time.Since(start)})
	return c.ready(ctx, op, ct, start, false, opts, report)
}

// ready waits, bounded, until the container runs and is healthy.
func (c *Client) ready(ctx context.Context, op Op, ct Container, start time.Time, wasUp bool, opts OperateOptions, report func(Step) Step) Step {
	timeout := opts.ReadyTimeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d, err := c.WaitReady(wctx, ct.ID)
	s := Step{Container: ct, Op: op, WasUp: wasUp, Detail: d, Took: time.Since(start), Err: err}
	switch {
	case err == nil:
		s.Phase = Ready
	case errors.Is(err, ErrNotReady) && d.State == "running" && d.Health == "starting":
		s.Phase, s.Err = Starting, nil
	default:
		s.Phase = NotReady
	}
	return report(s)
}
