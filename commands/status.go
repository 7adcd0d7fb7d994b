package commands

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
)

// ContainerReader is what status, stats and top read of the project's
// containers (*docker.Client).
type ContainerReader interface {
	Details(ctx context.Context) ([]docker.Detail, error)
	Stats(ctx context.Context, containerID string) (docker.Stats, error)
	Top(ctx context.Context, containerID string) (docker.Processes, error)
}

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
