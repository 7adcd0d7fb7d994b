package commands

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
)

// ContainerEngine is what the container commands need of the Docker
// Engine (*docker.Client): the compose project's containers, what the
// status, stats and top commands read of them (ContainerReader) and the
// tiered restart, start and stop (ContainerOperator).
type ContainerEngine interface {
	Project() string
	Containers(ctx context.Context) ([]docker.Container, error)
	ContainerReader
	ContainerOperator
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

// trimLines drops the padding tabwriter leaves at the ends of lines and
// the final newline.
func trimLines(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}
