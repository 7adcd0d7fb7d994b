package commands

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/host"
	"github.com/shiftwise/shiftwise-bot/integrations/postgres"
)

// DBOps is what the db commands need of the operated PostgreSQL
// (*postgres.DB).
type DBOps interface {
	Ready(ctx context.Context) (postgres.Readiness, error)
	Status(ctx context.Context) (postgres.ServerStatus, error)
	Connections(ctx context.Context) (postgres.Connections, error)
	LongRunning(ctx context.Context, older time.Duration) ([]postgres.Backend, error)
	Terminate(ctx context.Context, refs []postgres.BackendRef, older time.Duration) ([]postgres.Terminated, error)
	SlowQueries(ctx context.Context, limit int) ([]postgres.Statement, error)
	Writes(ctx context.Context, limit int) ([]postgres.TableWrites, error)
	Size(ctx context.Context, limit int) (postgres.Size, error)
	Vacuum(ctx context.Context, statementTimeout time.Duration, progress postgres.VacuumProgress) (postgres.VacuumResult, error)
	Indexes(ctx context.Context) ([]postgres.IndexState, error)
	CreateIndexes(ctx context.Context, statementTimeout time.Duration, progress func(string)) ([]postgres.IndexCreated, error)
	Settings(ctx context.Context) ([]postgres.Setting, error)
	ApplySettings(ctx context.Context) error
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

// DBCommands returns the runbook's PostgreSQL procedures on db.
func DBCommands(db DBOps) []bot.Command {
	obj := func(o string) func(bot.Args) string { return func(bot.Args) string { return o } }
	olderFlag := func(def, usage string) bot.Flag {
		return bot.Flag{Name: "older", Kind: bot.FlagDuration, Default: def, Usage: usage, MinDuration: minOlder, MaxDuration: maxOlder}
	}
	return []bot.Command{
		{
			Name: "db status", Summary: "is PostgreSQL accepting connections; version and uptime",
			Help:   "The runbook's `pg_isready`: a start-up probe on a fresh connection (no login), then the server's version, start time and uptime.",
			Object: obj("db:status"), Level: bot.Level1, Risk: bot.ReadOnly, Timeout: 15 * time.Second,
			Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) { return dbStatus(ctx, db), nil },
		},
		{
			Name: "db connections", Summary: "client connections by state and as a share of max_connections",
			Help: "The runbook's `SELECT count(*), state FROM pg_stat_activity GROUP BY state`, counting client backends " +
				"of every database (server processes, which that query lists with an empty state, are left out), " +
				fmt.Sprintf("against max_connections (WARN from %d%%).", dbConnWarnPercent),
			Object: obj("db:connections"), Level: bot.Level1, Risk: bot.ReadOnly, Timeout: 15 * time.Second,
			Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) { return dbConnections(ctx, db) },
		},
		{
			Name: "db long-running", Summary: "queries of the operated database running longer than --older",
			Usage: "[--older 30s]", Flags: []bot.Flag{olderFlag(defaultLongRunning, "list queries running longer than this")},
			Help: "The runbook's \"Check slow queries\" (pg_stat_activity, state active, query_start older than --older) for the " +
				"operated database only, leaving out this bot's own sessions (application_name shiftwise-bot), monitoring " +
				"(members of pg_monitor, known monitoring tools, queries on pg_stat_activity) and idle sessions. " +
				"It ends with the exact `db kill-long-running` line that would end those backends.",
			Object: obj("db:long-running"), Level: bot.Level1, Risk: bot.ReadOnly, Timeout: 15 * time.Second,
			Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
				older, err := olderArg(req)
				if err != nil {
					return bot.Message{}, err
				}
				return dbLongRunning(ctx, db, older)
			},
		},
		dbKillCommand(db, olderFlag(defaultKillOlder, "end queries running longer than this")),
		{
			Name: "db slow-queries", Summary: "pg_stat_statements: top 10 statements by mean execution time",
			Help: "The runbook's \"Check slow queries\" in its PostgreSQL 13+ form: the runbook's total_time and mean_time " +
				"columns are total_exec_time and mean_exec_time since PostgreSQL 13. Like the runbook's query it covers every " +
				"database of the server. Without the pg_stat_statements extension it says so and what to do.",
			Object: obj("db:slow-queries"), Level: bot.Level1, Risk: bot.ReadOnly, Timeout: 15 * time.Second,
			Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) { return dbSlowQueries(ctx, db) },
		},
		{
			Name: "db tables", Summary: "pg_stat_user_tables: top 10 tables by rows written",
			Help: "The runbook's \"Check database statistics\" (its `tablename` column is `relname` in pg_stat_user_tables), " +
				"with live and dead rows and the last vacuum and analyze.",
			Object: obj("db:tables"), Level: bot.Level1, Risk: bot.ReadOnly, Timeout: 15 * time.Second,
			Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) { return dbTables(ctx, db) },
		},
		{
			Name: "db size", Summary: "size of the operated database and its largest tables",
			Help:   "The runbook's `pg_size_pretty(pg_database_size('shiftwise'))`, and the 10 largest tables with their indexes and TOAST.",
			Object: obj("db:size"), Level: bot.Level1, Risk: bot.ReadOnly, Timeout: 15 * time.Second,
			Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) { return dbSize(ctx, db) },
		},
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

// olderArg returns --older, refusing values too small to mean a long query.
func olderArg(req bot.Request) (time.Duration, error) {
	older := req.Args.Duration("older")
	if older < minOlder {
		return 0, &bot.UsageError{Msg: fmt.Sprintf("--older must be at least %s.", minOlder)}
	}
	return older, nil
}

// statementTimeoutArg returns --statement-timeout, at least a second.
func statementTimeoutArg(req bot.Request) (time.Duration, error) {
	stmt := req.Args.Duration("statement-timeout")
	if stmt < time.Second {
		return 0, &bot.UsageError{Msg: "--statement-timeout must be at least 1s."}
	}
	return stmt, nil
}

func dbStatus(ctx context.Context, db DBOps) bot.Message {
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

func dbConnections(ctx context.Context, db DBOps) (bot.Message, error) {
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

// oneLineClip collapses whitespace and clips a query for a table row.
func oneLineClip(s string, n int) string { return clipCell(oneLine(s), n) }

func backendTable(list []postgres.Backend) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tAGE\tUSER\tAPPLICATION\tWAITING\tQUERY")
	for _, be := range list {
		app := be.Application
		if app == "" {
			app = "-"
		}
		wait := be.WaitEvent
		if wait == "" {
			wait = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", be.PID, human(be.Age), be.User, app, wait, oneLineClip(be.Query, queryShown))
	}
	tw.Flush()
	return b.String()
}

// backendsArg is the --backends value naming exactly these backends.
func backendsArg(list []postgres.Backend) string {
	parts := make([]string, len(list))
	for i, b := range list {
		parts[i] = fmt.Sprintf("%d@%d", b.PID, b.QueryStart.UnixMicro())
	}
	return strings.Join(parts, ",")
}

var backendRef = regexp.MustCompile(`^([1-9][0-9]{0,9})@([0-9]{1,19})$`)

// parseBackends reads --backends: PID@query_start (Unix microseconds),
// comma-separated, as `db long-running` writes them.
func parseBackends(s string) ([]postgres.BackendRef, error) {
	bad := func(why string) error {
		return &bot.UsageError{Msg: "--backends " + why + ": it takes PID@START,... as `db long-running` prints it."}
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxBackendsArgument {
		return nil, bad(fmt.Sprintf("names more than %d backends", maxBackendsArgument))
	}
	refs := make([]postgres.BackendRef, 0, len(parts))
	seen := map[string]bool{}
	for _, p := range parts {
		m := backendRef.FindStringSubmatch(p)
		if m == nil {
			return nil, bad(fmt.Sprintf("has %q, which is not a backend", clipMiddle(p, 40)))
		}
		pid, err1 := strconv.ParseInt(m[1], 10, 32)
		us, err2 := strconv.ParseInt(m[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, bad(fmt.Sprintf("has %q, which is out of range", clipMiddle(p, 40)))
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		refs = append(refs, postgres.BackendRef{PID: int(pid), QueryStart: time.UnixMicro(us)})
	}
	return refs, nil
}

func killLine(older time.Duration, list []postgres.Backend) string {
	return fmt.Sprintf("db kill-long-running --older %s --backends %s", durationArg(older), backendsArg(list))
}

// durationArg writes a duration the parser reads back exactly ("5m0s").
func durationArg(d time.Duration) string { return d.String() }

func dbLongRunning(ctx context.Context, db DBOps, older time.Duration) (bot.Message, error) {
	list, err := db.LongRunning(ctx, older)
	if err != nil {
		return bot.Message{}, err
	}
	m := bot.Message{Title: "Long-running queries"}
	if len(list) == 0 {
		m.Status = bot.StatusOK
		m.Text = fmt.Sprintf("No query of the operated database has run for longer than %s (this bot's own, monitoring and idle sessions are not counted).", human(older))
		return m, nil
	}
	m.Status = bot.StatusWarn
	m.Text = fmt.Sprintf("%d queries have run for longer than %s.", len(list), human(older))
	if len(list) == postgres.MaxBackends {
		m.Text = fmt.Sprintf("At least %d queries have run for longer than %s (the oldest %d are shown).", len(list), human(older), len(list))
	}
	m.Code = []bot.CodeBlock{
		{Title: "Backends", Text: backendTable(list)},
		{Title: "To end exactly these (Level 2, with approval)", Text: killLine(older, list)},
	}
	return m, nil
}

func dbKillCommand(db DBOps, older bot.Flag) bot.Command {
	return bot.Command{
		Name: "db kill-long-running", Summary: "end the backends of queries running longer than --older (approval)",
		Usage: "[--older 5m] [--backends PID@START,...]",
		Flags: []bot.Flag{older, {Name: "backends", Kind: bot.FlagString, Usage: "exactly these backends, as `db long-running` prints them"}},
		Help: "The runbook's pg_terminate_backend of active queries older than --older, for the operated database's client " +
			"backends only: never this bot's own sessions (application_name shiftwise-bot), monitoring (pg_monitor members, " +
			"known monitoring tools, queries on pg_stat_activity) or idle sessions. The request shows exactly which backends " +
			"it would end and pins them (--backends PID@START); once approved it ends only those still running the very same " +
			"query (same PID and query_start, so a reused PID is never hit).",
		Object: func(bot.Args) string { return "db:kill-long-running" }, Level: bot.Level2, Approval: true,
		Risk: bot.Destructive, Timeout: 30 * time.Second,
		Pin:     func(ctx context.Context, req bot.Request) (string, error) { return dbKillPin(ctx, db, req) },
		Preview: func(ctx context.Context, req bot.Request) (bot.Message, error) { return dbKillPreview(ctx, db, req) },
		Run:     func(ctx context.Context, req bot.Request) (bot.Message, error) { return dbKill(ctx, db, req) },
	}
}

// killCandidates returns the backends a kill with these arguments would
// end now: the candidates older than --older, only those named when
// --backends is given.
func killCandidates(ctx context.Context, db DBOps, req bot.Request) (time.Duration, []postgres.Backend, bool, error) {
	older, err := olderArg(req)
	if err != nil {
		return 0, nil, false, err
	}
	var refs []postgres.BackendRef
	named := req.Args.Has("backends")
	if named {
		if refs, err = parseBackends(req.Args.String("backends")); err != nil {
			return 0, nil, false, err
		}
	}
	list, err := db.LongRunning(ctx, older)
	if err != nil {
		return 0, nil, false, err
	}
	if named {
		list = matching(list, refs)
	}
	return older, list, named, nil
}

// dbKillPin makes the request exact: the backends that would be ended
// now, by PID and query start. With none, nothing is requested.
func dbKillPin(ctx context.Context, db DBOps, req bot.Request) (string, error) {
	older, list, named, err := killCandidates(ctx, db, req)
	if err != nil {
		return "", err
	}
	if len(list) == 0 {
		among := ""
		if named {
			among = " among the backends named"
		}
		return "", &bot.UsageError{Msg: fmt.Sprintf(
			"No query of the operated database that may be ended has run for longer than %s%s: there is nothing to end, and nothing was requested.",
			human(older), among)}
	}
	return killLine(older, list), nil
}

// dbKillPreview shows the pinned backends with their queries.
func dbKillPreview(ctx context.Context, db DBOps, req bot.Request) (bot.Message, error) {
	_, list, _, err := killCandidates(ctx, db, req)
	if err != nil {
		return bot.Message{}, err
	}
	if len(list) == 0 {
		return bot.Message{Text: "None of the backends named runs that query any more: approving it would end nothing."}, nil
	}
	return bot.Message{
		Text: fmt.Sprintf("If approved, it ends these %d backends (pg_terminate_backend), and only those still running the same query then:", len(list)),
		Code: []bot.CodeBlock{{Title: "Backends to end", Text: backendTable(list)}},
	}, nil
}

func matching(list []postgres.Backend, refs []postgres.BackendRef) []postgres.Backend {
	var out []postgres.Backend
	for _, b := range list {
		for _, r := range refs {
			if b.PID == r.PID && b.QueryStart.Equal(r.QueryStart) {
				out = append(out, b)
				break
			}
		}
	}
	return out
}

func dbKill(ctx context.Context, db DBOps, req bot.Request) (bot.Message, error) {
	older, err := olderArg(req)
	if err != nil {
		return bot.Message{}, err
	}
	var refs []postgres.BackendRef
	shown := map[int]postgres.Backend{}
	if req.Args.Has("backends") {
		if refs, err = parseBackends(req.Args.String("backends")); err != nil {
			return bot.Message{}, err
		}
	} else {
		// Run without a request (a policy that waives approval): end what
		// matches now, and say exactly what that was.
		list, err := db.LongRunning(ctx, older)
		if err != nil {
			return bot.Message{}, err
		}
		for _, b := range list {
			refs = append(refs, b.Ref())
			shown[b.PID] = b
		}
	}
	if len(refs) == 0 {
		return bot.Message{Title: "No long-running queries", Status: bot.StatusOK,
			Text: fmt.Sprintf("No query of the operated database that may be ended has run for longer than %s. Nothing was ended.", human(older))}, nil
	}
	res, err := db.Terminate(ctx, refs, older)
	if err != nil {
		return bot.Message{}, err
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tQUERY STARTED\tRESULT")
	ended := 0
	for _, t := range res {
		what := "left alone: no longer running that query (finished, or no longer a candidate)"
		if t.Ended {
			what, ended = "ended", ended+1
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", t.PID, t.QueryStart.UTC().Format("2006-01-02 15:04:05.000000 UTC"), what)
	}
	tw.Flush()
	m := bot.Message{
		Title:   "Long-running queries ended",
		Status:  bot.StatusOK,
		Text:    fmt.Sprintf("Ended %d of the %d backends named; the others had moved on and were left alone.", ended, len(res)),
		Code:    []bot.CodeBlock{{Title: "Backends", Text: b.String()}},
		Summary: fmt.Sprintf("ended %d of %d", ended, len(res)),
	}
	if ended == len(res) {
		m.Text = fmt.Sprintf("Ended all %d backends named.", ended)
	}
	return m, nil
}

func dbSlowQueries(ctx context.Context, db DBOps) (bot.Message, error) {
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

func dbTables(ctx context.Context, db DBOps) (bot.Message, error) {
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

func dbSize(ctx context.Context, db DBOps) (bot.Message, error) {
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

// throttled reports progress at most once per dbProgressEvery, the first
// and the last time always.
func throttled(ctx context.Context, title string) func(text string, last bool) {
	var at time.Time
	return func(text string, last bool) {
		if !last && !at.IsZero() && time.Since(at) < dbProgressEvery {
			return
		}
		at = time.Now()
		bot.Report(ctx, bot.Message{Title: title, Text: text})
	}
}

func dbVacuum(ctx context.Context, db DBOps, req bot.Request) (bot.Message, error) {
	stmt, err := statementTimeoutArg(req)
	if err != nil {
		return bot.Message{}, err
	}
	report := throttled(ctx, "VACUUM ANALYZE")
	res, err := db.Vacuum(ctx, stmt, func(done, total int, table string) {
		if done == total {
			report(fmt.Sprintf("%d of %d tables done", done, total), true)
			return
		}
		report(fmt.Sprintf("%d of %d tables done; now %s", done, total, table), done == 0)
	})
	if err != nil {
		return bot.Message{}, fmt.Errorf("%w (statement timeout %s)", err, human(stmt))
	}
	return bot.Message{
		Title: "VACUUM ANALYZE done", Status: bot.StatusOK,
		Text:    fmt.Sprintf("Vacuumed and analyzed %d tables in %s.", res.Tables, ms(res.Duration)),
		Summary: fmt.Sprintf("%d tables", res.Tables),
	}, nil
}

func dbIndexes(ctx context.Context, db DBOps) (bot.Message, error) {
	list, err := db.Indexes(ctx)
	if err != nil {
		return bot.Message{}, err
	}
	m := bot.Message{Title: "Recommended indexes"}
	missing := 0
	var covered []string
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INDEX\tON\tSTATE")
	for _, st := range list {
		state := st.State
		switch st.State {
		case postgres.IndexOtherName:
			state = "not by this name, but covered by " + st.Found + " (same leading columns): --create leaves it out"
			covered = append(covered, st.Def)
		case postgres.IndexInvalid:
			state = "invalid (a failed CREATE INDEX CONCURRENTLY): --create rebuilds it"
			missing++
		case postgres.IndexMissing:
			missing++
		}
		fmt.Fprintf(tw, "%s\t%s(%s)\t%s\n", st.Name, st.Table, strings.Join(st.Columns, ", "), state)
	}
	tw.Flush()
	m.Code = []bot.CodeBlock{{Title: "Indexes", Text: b.String()}}
	if len(covered) > 0 {
		m.Code = append(m.Code, bot.CodeBlock{Title: "Existing indexes that serve a recommended one", Text: strings.Join(covered, "\n")})
	}
	m.Status = bot.StatusOK
	m.Text = "All of the runbook's recommended indexes are present, or served by an index on the same leading columns."
	if missing > 0 {
		m.Status = bot.StatusWarn
		m.Text = fmt.Sprintf("%d of %d recommended indexes are missing: `db indexes --create` (Level 3, with approval) creates them CONCURRENTLY.", missing, len(list))
	}
	return m, nil
}

func dbCreateIndexes(ctx context.Context, db DBOps, req bot.Request) (bot.Message, error) {
	stmt, err := statementTimeoutArg(req)
	if err != nil {
		return bot.Message{}, err
	}
	done, err := db.CreateIndexes(ctx, stmt, func(s string) { bot.Report(ctx, bot.Message{Title: "Creating indexes", Text: s}) })
	var b strings.Builder
	for _, d := range done {
		fmt.Fprintf(&b, "%s: %s\n", d.Name, d.Action)
	}
	if err != nil {
		if b.Len() > 0 {
			return bot.Message{}, fmt.Errorf("%w (done before: %s)", err, strings.TrimSpace(strings.ReplaceAll(b.String(), "\n", "; ")))
		}
		return bot.Message{}, err
	}
	return bot.Message{
		Title: "Recommended indexes", Status: bot.StatusOK,
		Text: "Done, and " + strings.Join(postgres.AnalyzeAfterIndexes, ", ") + " analyzed.",
		Code: []bot.CodeBlock{{Title: "Indexes", Text: b.String()}},
	}, nil
}

func dbSettings(ctx context.Context, db DBOps) (bot.Message, error) {
	list, err := db.Settings(ctx)
	if err != nil {
		return bot.Message{}, err
	}
	m := bot.Message{Title: "PostgreSQL tuning settings", Status: bot.StatusOK}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tCURRENT\tRECOMMENDED\tPENDING RESTART\tTAKES EFFECT")
	off, pending := 0, 0
	for _, s := range list {
		how := "on reload"
		if s.NeedsRestart {
			how = "after a restart"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.Current, s.Value, yesNo(s.PendingRestart), how)
		if !s.Matches {
			off++
		}
		if s.PendingRestart {
			pending++
		}
	}
	tw.Flush()
	m.Code = []bot.CodeBlock{{Title: "Settings", Text: b.String()}}
	var notes []string
	if off > 0 {
		m.Status = bot.StatusWarn
		notes = append(notes, fmt.Sprintf("%d of %d settings differ from the runbook's recommendation (`db settings --apply`, Level 3, sets them).", off, len(list)))
	} else {
		notes = append(notes, "Every setting is as the runbook recommends.")
	}
	if pending > 0 {
		m.Status = bot.StatusWarn
		notes = append(notes, fmt.Sprintf("%d changed settings wait for a restart of PostgreSQL (`restart postgres`).", pending))
	}
	notes = append(notes, "shared_buffers only changes with a restart: the runbook's pg_reload_conf() is not enough.")
	m.Text = strings.Join(notes, " ")
	return m, nil
}
