package commands

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/host"
)

// Host is the `host` command: the runbook's `df -h && free -h` on the
// machine the bot runs on.
type Host struct {
	// Filesystems and Memory read the host; nil means integrations/host.
	Filesystems func() ([]host.Filesystem, error)
	Memory      func() (host.Free, error)
	// WarnPercent is the usage at which a filesystem or the memory is
	// flagged (default 80, the Daily Health Check's limit).
	WarnPercent float64
}

// Command returns the `host` command.
func (h *Host) Command() bot.Command {
	return bot.Command{
		Name:    "host",
		Summary: "disk per filesystem and memory of the host (df -h, free -h)",
		Help: "The runbook's `df -h && free -h`: size, used, available and use% of every mounted filesystem (pseudo " +
			"filesystems and containers' own overlay mounts left out, as df -h lists the rest), and the host's memory " +
			"and swap as free -h shows them. A filesystem or memory at 80% or more is flagged. From inside a container " +
			"this is the container's view.",
		Level:   bot.Level1,
		Risk:    bot.ReadOnly,
		Timeout: 30 * time.Second,
		Run:     h.run,
	}
}

func (h *Host) run(ctx context.Context, req bot.Request) (bot.Message, error) {
	fsList, memory := h.Filesystems, h.Memory
	if fsList == nil {
		fsList = host.Filesystems
	}
	if memory == nil {
		memory = host.FreeMemory
	}
	warn := h.WarnPercent
	if warn <= 0 {
		warn = 80
	}
	type fsAnswer struct {
		list []host.Filesystem
		err  error
	}
	ch := make(chan fsAnswer, 1)
	go func() { l, err := fsList(); ch <- fsAnswer{l, err} }()
	mem, memErr := memory()
	var fs fsAnswer
	select {
	case fs = <-ch:
	case <-ctx.Done():
		return bot.Message{}, fmt.Errorf("The filesystems did not answer in time: %w", ctx.Err())
	}
	if fs.err != nil && memErr != nil {
		return bot.Message{}, fmt.Errorf("Could not read the host: %v; %v", fs.err, memErr)
	}
	m := bot.Message{Title: "Host: disk and memory", Status: bot.StatusOK}
	var flagged []string
	if fs.err != nil {
		m.Status = bot.StatusWarn
		flagged = append(flagged, "filesystems unreadable: "+fs.err.Error())
	} else {
		var b strings.Builder
		tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
		fmt.Fprintln(tw, "Filesystem\tType\tSize\tUsed\tAvail\tUse%\tMounted on")
		for _, f := range fs.list {
			if f.Err != nil {
				fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t%s (%v)\n", f.Source, f.Type, f.Mount, f.Err)
				m.Status = bot.Worst(m.Status, bot.StatusWarn)
				continue
			}
			pct := dfPercent(f.UsedPercent)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d%%\t%s\n", f.Source, f.Type, host.HumanBytes(f.Total), host.HumanBytes(f.Used), host.HumanBytes(f.Avail), pct, f.Mount)
			if float64(pct) >= warn {
				flagged = append(flagged, fmt.Sprintf("%s is %d%% full (%s free)", f.Mount, pct, host.HumanBytes(f.Avail)))
				m.Status = bot.StatusWarn
			}
		}
		tw.Flush()
		m.Code = append(m.Code, bot.CodeBlock{Title: "df -h", Text: trimLines(b.String())})
	}
	if memErr != nil {
		m.Status = bot.StatusWarn
		flagged = append(flagged, "memory unreadable: "+memErr.Error())
	} else {
		var b strings.Builder
		tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\ttotal\tused\tfree\tshared\tbuff/cache\tavailable\t")
		fmt.Fprintf(tw, "Mem:\t%s\t%s\t%s\t%s\t%s\t%s\t\n", freeHuman(mem.Total), freeHuman(mem.Used), freeHuman(mem.Free),
			freeHuman(mem.Shared), freeHuman(mem.BuffCache), freeHuman(mem.Available))
		fmt.Fprintf(tw, "Swap:\t%s\t%s\t%s\t\t\t\t\n", freeHuman(mem.SwapTotal), freeHuman(mem.SwapUsed), freeHuman(mem.SwapFree))
		tw.Flush()
		m.Code = append(m.Code, bot.CodeBlock{Title: "free -h", Text: trimLines(b.String())})
		pct := float64(mem.Used) / float64(mem.Total) * 100
		m.Summary = fmt.Sprintf("memory %.0f%% used, %s available of %s", pct, freeHuman(mem.Available), freeHuman(mem.Total))
		if pct >= warn {
			flagged = append(flagged, fmt.Sprintf("memory is %.0f%% used", pct))
			m.Status = bot.StatusWarn
		}
	}
	if len(flagged) > 0 {
		m.Text = fmt.Sprintf("At or above %.0f%%: %s.", warn, strings.Join(flagged, "; "))
	}
	return m, nil
}

// dfPercent is df's Use%: rounded up.
func dfPercent(p float64) int {
	n := int(p)
	if float64(n) < p {
		n++
	}
	return n
}

// freeHuman formats bytes as free -h (procps 4) does: up to 999 bytes
// as "999B"; else the first binary unit whose value prints as "9.9" in
// three characters, or as a truncated integer in three ("23Gi", "1.5Mi").
func freeHuman(n uint64) string {
	if n < 1000 {
		return fmt.Sprintf("%dB", n)
	}
	v := float64(n)
	for _, unit := range []string{"Ki", "Mi", "Gi", "Ti", "Pi"} {
		v /= 1024
		if s := fmt.Sprintf("%.1f", v); len(s) <= 3 {
			return s + unit
		}
		if s := fmt.Sprintf("%d", int64(v)); len(s) <= 3 {
			return s + unit
		}
	}
	return fmt.Sprintf("%.0fEi", v/1024)
}
