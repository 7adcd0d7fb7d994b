package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/host"
	"github.com/shiftwise/shiftwise-bot/integrations/postgres"
)

// DBStats is what `db slow-queries`, `db tables` and `db size` read of
// the operated PostgreSQL (*postgres.DB).
type DBStats interface {
	SlowQueries(ctx context.Context, limit int) ([]postgres.Statement, error)
	Writes(ctx context.Context, limit int) ([]postgres.TableWrites, error)
	Size(ctx context.Context, limit int) (postgres.Size, error)
}

func dbSlowQueriesCommand(db DBStats) bot.Command {
	obj := func(o string) func(bot.Args) string { return func(bot.Args) string { return o } }
	return bot.Command{
		Name: "db slow-queries", Summary: "pg_stat_statements: top 10 statements by mean execution time",
		Help: "The runbook's \"Check slow queries\" in its PostgreSQL 13+ form: the runbook's total_time and mean_time " +
			"columns are total_exec_time and mean_exec_time since PostgreSQL 13. Like the runbook's query it covers every " +
			"database of the server. Without the pg_stat_statements extension it says so and what to do.",
		Object: obj("db:slow-queries"), Level: bot.Level1, Risk: bot.ReadOnly, Timeout: 15 * time.Second,
		Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) { return dbSlowQueries(ctx, db) },
	}
}

func dbTablesCommand(db DBStats) bot.Command {
	obj := func(o string) func(bot.Args) string { return func(bot.Args) string { return o } }
	return bot.Command{
		Name: "db tables", Summary: "pg_stat_user_tables: top 10 tables by rows written",
		Help: "The runbook's \"Check database statistics\" (its `tablename` column is `relname` in pg_stat_user_tables), " +
			"with live and dead rows and the last vacuum and analyze.",
		Object: obj("db:tables"), Level: bot.Level1, Risk: bot.ReadOnly, Timeout: 15 * time.Second,
		Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) { return dbTables(ctx, db) },
	}
}

func dbSizeCommand(db DBStats) bot.Command {
	obj := func(o string) func(bot.Args) string { return func(bot.Args) string { return o } }
	return bot.Command{
		Name: "db size", Summary: "size of the operated database and its largest tables",
		Help:   "The runbook's `pg_size_pretty(pg_database_size('shiftwise'))`, and the 10 largest tables with their indexes and TOAST.",
		Object: obj("db:size"), Level: bot.Level1, Risk: bot.ReadOnly, Timeout: 15 * time.Second,
		Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) { return dbSize(ctx, db) },
	}
}

// oneLineClip collapses whitespace and clips a query for a table row.
func oneLineClip(s string, n int) string { return clipCell(oneLine(s), n) }

func dbSlowQueries(ctx context.Context, db DBStats) (bot.Message, error) {
	list, err := db.SlowQueries(ctx, dbTopN)
	if errors.Is(err, postgres.ErrNoStatements) {
		return bot.Message{Title: "Slow queries", Status: bot.StatusWarn,
			Text: "Slow queries cannot be shown: " + err.Error() + "."}, nil
	}
	if err != nil {
		return bot.Message{}, err
	}
	m := bot.Message{Title: "Slow queries (pg_stat_statements, top 10 by mean time)"}
	if len(list) == 0 {
		m.Text = "pg_stat_statements has recorded no statements yet (or was reset)."
		return m, nil
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MEAN ms\tCALLS\tTOTAL ms\tROWS\tQUERY")
	for _, s := range list {
		fmt.Fprintf(tw, "%.2f\t%d\t%.2f\t%d\t%s\n", s.MeanMS, s.Calls, s.TotalMS, s.Rows, oneLineClip(s.Query, queryShown))
	}
	tw.Flush()
	m.Code = []bot.CodeBlock{{Title: "Statements", Text: b.String()}}
	return m, nil
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return human(time.Since(t)) + " ago"
}

func dbTables(ctx context.Context, db DBStats) (bot.Message, error) {
	list, err := db.Writes(ctx, dbTopN)
	if err != nil {
		return bot.Message{}, err
	}
	m := bot.Message{Title: "Tables by rows written (pg_stat_user_tables, top 10)"}
	if len(list) == 0 {
		m.Text = "The operated database has no user tables."
		return m, nil
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tINSERTED\tUPDATED\tDELETED\tLIVE\tDEAD\tLAST VACUUM\tLAST ANALYZE")
	for _, t := range list {
		vac := t.LastVacuum
		if t.LastAutovacuum.After(vac) {
			vac = t.LastAutovacuum
		}
		fmt.Fprintf(tw, "%s.%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", t.Schema, t.Table, t.Inserts, t.Updates, t.Deletes,
			t.LiveRows, t.DeadRows, ago(vac), ago(t.LastAnalyze))
	}
	tw.Flush()
	m.Code = []bot.CodeBlock{{Title: "Tables", Text: b.String()}}
	return m, nil
}

func dbSize(ctx context.Context, db DBStats) (bot.Message, error) {
	s, err := db.Size(ctx, dbTopN)
	if err != nil {
		return bot.Message{}, err
	}
	m := bot.Message{
		Title:  "Database size",
		Fields: []bot.Field{{Name: s.Database, Value: fmt.Sprintf("%s (%d bytes)", host.HumanBytes(uint64(s.Bytes)), s.Bytes)}},
	}
	if len(s.Tables) > 0 {
		var b strings.Builder
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TABLE\tSIZE (with indexes)")
		for _, t := range s.Tables {
			fmt.Fprintf(tw, "%s.%s\t%s\n", t.Schema, t.Table, host.HumanBytes(uint64(t.Bytes)))
		}
		tw.Flush()
		m.Code = []bot.CodeBlock{{Title: "Largest tables", Text: b.String()}}
	}
	return m, nil
}
