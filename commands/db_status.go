package commands

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/postgres"
)

// DBStatus is what `db status` and `db connections` read of the operated
// PostgreSQL (*postgres.DB).
type DBStatus interface {
	Ready(ctx context.Context) (postgres.Readiness, error)
	Status(ctx context.Context) (postgres.ServerStatus, error)
	Connections(ctx context.Context) (postgres.Connections, error)
}

func dbStatusCommand(db DBStatus) bot.Command {
	obj := func(o string) func(bot.Args) string { return func(bot.Args) string { return o } }
	return bot.Command{
		Name: "db status", Summary: "is PostgreSQL accepting connections; version and uptime",
		Help:   "The runbook's `pg_isready`: a start-up probe on a fresh connection (no login), then the server's version, start time and uptime.",
		Object: obj("db:status"), Level: bot.Level1, Risk: bot.ReadOnly, Timeout: 15 * time.Second,
		Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) { return dbStatus(ctx, db), nil },
	}
}

func dbConnectionsCommand(db DBStatus) bot.Command {
	obj := func(o string) func(bot.Args) string { return func(bot.Args) string { return o } }
	return bot.Command{
		Name: "db connections", Summary: "client connections by state and as a share of max_connections",
		Help: "The runbook's `SELECT count(*), state FROM pg_stat_activity GROUP BY state`, counting client backends " +
			"of every database (server processes, which that query lists with an empty state, are left out), " +
			fmt.Sprintf("against max_connections (WARN from %d%%).", dbConnWarnPercent),
		Object: obj("db:connections"), Level: bot.Level1, Risk: bot.ReadOnly, Timeout: 15 * time.Second,
		Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) { return dbConnections(ctx, db) },
	}
}

func dbStatus(ctx context.Context, db DBStatus) bot.Message {
	m := bot.Message{Title: "PostgreSQL status"}
	r, err := db.Ready(ctx)
	ready := bot.Check{Name: "postgres", Threshold: "accepting connections"}
	switch {
	case err != nil:
		ready.Status, ready.Value = bot.StatusFailed, reason(ctx, err)
	case !r.Accepting:
		ready.Status, ready.Value = bot.StatusFailed, "not accepting connections: "+r.Reason
	default:
		ready.Status, ready.Value = bot.StatusOK, "accepting connections"
		if r.Reason != "" {
			ready.Value += " (" + r.Reason + ")"
		}
	}
	m.Checks = append(m.Checks, ready)
	if ready.Status == bot.StatusOK {
		s, err := db.Status(ctx)
		if err != nil {
			m.Checks = append(m.Checks, bot.Check{Name: "postgres login", Status: bot.StatusFailed, Threshold: "logs in", Value: reason(ctx, err)})
		} else {
			role := "primary"
			if s.Recovery {
				role = "standby (in recovery)"
			}
			m.Fields = []bot.Field{
				{Name: "Version", Value: "PostgreSQL " + s.Version},
				{Name: "Up since", Value: s.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC")},
				{Name: "Uptime", Value: human(s.Uptime)},
				{Name: "Database", Value: s.Database + " as " + s.User},
				{Name: "Role", Value: role},
			}
		}
	}
	m.Status = bot.Worst(checkStatuses(m.Checks)...)
	m.Summary = "PostgreSQL: " + m.Status.String()
	return m
}

func checkStatuses(cs []bot.Check) []bot.Status {
	out := make([]bot.Status, len(cs))
	for i, c := range cs {
		out[i] = c.Status
	}
	return out
}

func dbConnections(ctx context.Context, db DBStatus) (bot.Message, error) {
	c, err := db.Connections(ctx)
	if err != nil {
		return bot.Message{}, err
	}
	pct := 100 * float64(c.Total) / float64(c.Max)
	check := bot.Check{Name: "connections", Status: bot.StatusOK, Threshold: fmt.Sprintf("< %d%% of max_connections", dbConnWarnPercent),
		Value: fmt.Sprintf("%d of %d (%.0f%%)", c.Total, c.Max, pct)}
	if pct >= dbConnWarnPercent {
		check.Status = bot.StatusWarn
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tCOUNT")
	for _, st := range sortedKeys(c.ByState) {
		fmt.Fprintf(tw, "%s\t%d\n", st, c.ByState[st])
	}
	tw.Flush()
	m := bot.Message{
		Title: "PostgreSQL connections", Status: check.Status, Checks: []bot.Check{check},
		Code: []bot.CodeBlock{{Title: "Client connections by state (all databases)", Text: b.String()}},
	}
	if c.Hidden > 0 {
		m.Text = fmt.Sprintf("%d sessions are hidden from this role (not superuser nor pg_read_all_stats): the count may be low.", c.Hidden)
	}
	return m, nil
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Most first, then by name.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && (m[keys[j]] > m[keys[j-1]] || m[keys[j]] == m[keys[j-1]] && keys[j] < keys[j-1]); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
