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

// DBMaintenance is what `db vacuum`, `db indexes` and `db settings`, with
// their fixes, need of the operated PostgreSQL (*postgres.DB).
type DBMaintenance interface {
	Vacuum(ctx context.Context, statementTimeout time.Duration, progress postgres.VacuumProgress) (postgres.VacuumResult, error)
	Indexes(ctx context.Context) ([]postgres.IndexState, error)
	CreateIndexes(ctx context.Context, statementTimeout time.Duration, progress func(string)) ([]postgres.IndexCreated, error)
	Settings(ctx context.Context) ([]postgres.Setting, error)
	ApplySettings(ctx context.Context) error
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

func dbVacuum(ctx context.Context, db DBMaintenance, req bot.Request) (bot.Message, error) {
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

func dbIndexes(ctx context.Context, db DBMaintenance) (bot.Message, error) {
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

func dbCreateIndexes(ctx context.Context, db DBMaintenance, req bot.Request) (bot.Message, error) {
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

func dbSettings(ctx context.Context, db DBMaintenance) (bot.Message, error) {
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
