package commands

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/postgres"
)

// DBOps is what the db commands need of the operated PostgreSQL
// (*postgres.DB): each family's own interface, in the family's file.
type DBOps interface {
	DBStatus
	DBStats
	DBBackends
	DBMaintenance
}

// Defaults of the db commands: the runbook's thresholds.
const (
	dbTopN              = 10
	dbConnWarnPercent   = 80
	defaultLongRunning  = "30s"
	defaultKillOlder    = "5m"
	defaultVacuumStmt   = "30m"
	defaultIndexStmt    = "30m"
	vacuumTimeout       = 2 * time.Hour
	indexTimeout        = 2 * time.Hour
	minOlder            = time.Second
	maxOlder            = 365 * 24 * time.Hour // --older at most: a year
	dbProgressEvery     = time.Second
	queryShown          = 160
	maxBackendsArgument = postgres.MaxBackends
)

// DBCommands returns the runbook's PostgreSQL procedures on db, in the
// order help lists them. The diagnostics and the long-running family are
// declared in their files (db_status.go, db_stats.go, db_longrunning.go);
// vacuum, indexes and settings, with their fixes, here and in
// db_maintenance.go.
func DBCommands(db DBOps) []bot.Command {
	obj := func(o string) func(bot.Args) string { return func(bot.Args) string { return o } }
	olderFlag := func(def, usage string) bot.Flag {
		return bot.Flag{Name: "older", Kind: bot.FlagDuration, Default: def, Usage: usage, MinDuration: minOlder, MaxDuration: maxOlder}
	}
	return []bot.Command{
		dbStatusCommand(db), dbConnectionsCommand(db),
		dbLongRunningCommand(db, olderFlag),
		dbKillCommand(db, olderFlag(defaultKillOlder, "end queries running longer than this")),
		dbSlowQueriesCommand(db), dbTablesCommand(db), dbSizeCommand(db),
		{
			Name: "db vacuum", Summary: "VACUUM ANALYZE the operated database, with progress",
			Usage: "[--statement-timeout 30m]",
			Flags: []bot.Flag{{Name: "statement-timeout", Kind: bot.FlagDuration, Default: defaultVacuumStmt, Usage: "PostgreSQL's statement_timeout for each table", MinDuration: time.Second, MaxDuration: vacuumTimeout}},
			Help: "The runbook's weekly `VACUUM ANALYZE;`, table by table (system catalogs included) so that its progress shows, " +
				"each table under --statement-timeout (a table locked by someone else then fails instead of waiting for ever); " +
				fmt.Sprintf("the whole run ends after %s. Take a backup first, as the runbook does.", vacuumTimeout),
			Object: obj("db:vacuum"), Level: bot.Level2, Approval: true, Risk: bot.Changes, Timeout: vacuumTimeout,
			Preview: func(_ context.Context, req bot.Request) (bot.Message, error) {
				stmt, err := statementTimeoutArg(req)
				if err != nil {
					return bot.Message{}, err
				}
				return bot.Message{Text: fmt.Sprintf(
					"If approved, VACUUM (ANALYZE) runs on every table of the operated database, one after another, each under a statement timeout of %s. "+
						"It takes no lock that stops reads or writes, but adds I/O while it runs.", human(stmt))}, nil
			},
			Run: func(ctx context.Context, req bot.Request) (bot.Message, error) { return dbVacuum(ctx, db, req) },
		},
		{
			Name: "db indexes", Summary: "the runbook's recommended indexes: present or missing",
			Help: "The indexes of the runbook's \"Database Optimization\" (" + indexList() + "), by name, or served by another " +
				"valid index whose leading columns are the same (a B-tree on (a, b, c) serves (a, b)). `db indexes --create` " +
				"creates the missing ones.",
			Object: obj("db:indexes"), Level: bot.Level1, Risk: bot.ReadOnly, Timeout: 15 * time.Second,
			Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) { return dbIndexes(ctx, db) },
		},
		{
			Name: "db indexes --create", Summary: "create the runbook's missing indexes CONCURRENTLY, then ANALYZE",
			Usage: "[--statement-timeout 30m]",
			Flags: []bot.Flag{{Name: "statement-timeout", Kind: bot.FlagDuration, Default: defaultIndexStmt, Usage: "PostgreSQL's statement_timeout for each statement", MinDuration: time.Second, MaxDuration: indexTimeout}},
			Help: "CREATE INDEX CONCURRENTLY for each missing index of the runbook's \"Database Optimization\" (" + indexList() +
				"; names and columns are fixed by the bot), an invalid one from a failed earlier run dropped first, then " +
				"ANALYZE assignments, shift_demands and employees. Writes go on meanwhile.",
			Object: obj("db:indexes:create"), Level: bot.Level3, Approval: true, Risk: bot.Changes, Timeout: indexTimeout,
			Preview: func(ctx context.Context, req bot.Request) (bot.Message, error) {
				if _, err := statementTimeoutArg(req); err != nil {
					return bot.Message{}, err
				}
				m, err := dbIndexes(ctx, db)
				return bot.Message{Text: "What the database has now:", Code: m.Code}, err
			},
			Run: func(ctx context.Context, req bot.Request) (bot.Message, error) { return dbCreateIndexes(ctx, db, req) },
		},
		{
			Name: "db settings", Summary: "the runbook's tuning settings: current vs recommended, restart pending",
			Help: "shared_buffers and effective_cache_size from pg_settings against the runbook's 256MB and 1GB, and " +
				"pending_restart. shared_buffers only changes with a restart of PostgreSQL: the runbook's pg_reload_conf() " +
				"is not enough.",
			Object: obj("db:settings"), Level: bot.Level1, Risk: bot.ReadOnly, Timeout: 15 * time.Second,
			Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) { return dbSettings(ctx, db) },
		},
		{
			Name: "db settings --apply", Summary: "ALTER SYSTEM the runbook's tuning settings and reload",
			Help: "The runbook's \"Optimize PostgreSQL settings\": ALTER SYSTEM SET shared_buffers = '256MB', " +
				"effective_cache_size = '1GB', then pg_reload_conf(). effective_cache_size takes effect at once; " +
				"shared_buffers needs `restart postgres`, and `db settings` shows it pending until then.",
			Object: obj("db:settings:apply"), Level: bot.Level3, Approval: true, Risk: bot.Changes, Timeout: 30 * time.Second,
			Preview: func(ctx context.Context, _ bot.Request) (bot.Message, error) {
				m, err := dbSettings(ctx, db)
				return bot.Message{Text: "What the server has now:", Code: m.Code}, err
			},
			Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) {
				if err := db.ApplySettings(ctx); err != nil {
					return bot.Message{}, err
				}
				m, err := dbSettings(ctx, db)
				if err != nil {
					return bot.Message{}, err
				}
				m.Title = "PostgreSQL settings applied"
				m.Text = "ALTER SYSTEM and pg_reload_conf() done. " + m.Text
				return m, nil
			},
		},
	}
}

func indexList() string {
	parts := make([]string, len(postgres.RecommendedIndexes))
	for i, ri := range postgres.RecommendedIndexes {
		parts[i] = fmt.Sprintf("%s on %s(%s)", ri.Name, ri.Table, strings.Join(ri.Columns, ", "))
	}
	return strings.Join(parts, ", ")
}

// statementTimeoutArg returns --statement-timeout, at least a second.
func statementTimeoutArg(req bot.Request) (time.Duration, error) {
	stmt := req.Args.Duration("statement-timeout")
	if stmt < time.Second {
		return 0, &bot.UsageError{Msg: "--statement-timeout must be at least 1s."}
	}
	return stmt, nil
}
