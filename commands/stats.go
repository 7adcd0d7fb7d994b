package commands

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
)

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
