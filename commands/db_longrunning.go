package commands

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/postgres"
)

// DBBackends is what `db long-running` and `db kill-long-running` need of
// the operated PostgreSQL (*postgres.DB).
type DBBackends interface {
	LongRunning(ctx context.Context, older time.Duration) ([]postgres.Backend, error)
	Terminate(ctx context.Context, refs []postgres.BackendRef, older time.Duration) ([]postgres.Terminated, error)
}

func dbLongRunningCommand(db DBBackends, olderFlag func(def, usage string) bot.Flag) bot.Command {
	obj := func(o string) func(bot.Args) string { return func(bot.Args) string { return o } }
	return bot.Command{
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
	}
}

// olderArg returns --older, refusing values too small to mean a long query.
func olderArg(req bot.Request) (time.Duration, error) {
	older := req.Args.Duration("older")
	if older < minOlder {
		return 0, &bot.UsageError{Msg: fmt.Sprintf("--older must be at least %s.", minOlder)}
	}
	return older, nil
}

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

func dbLongRunning(ctx context.Context, db DBBackends, older time.Duration) (bot.Message, error) {
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

func dbKillCommand(db DBBackends, older bot.Flag) bot.Command {
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
func killCandidates(ctx context.Context, db DBBackends, req bot.Request) (time.Duration, []postgres.Backend, bool, error) {
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
func dbKillPin(ctx context.Context, db DBBackends, req bot.Request) (string, error) {
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
func dbKillPreview(ctx context.Context, db DBBackends, req bot.Request) (bot.Message, error) {
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

func dbKill(ctx context.Context, db DBBackends, req bot.Request) (bot.Message, error) {
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
