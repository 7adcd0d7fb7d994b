package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// VacuumProgress is called before each table VACUUM ANALYZE works on.
type VacuumProgress func(done, total int, table string)

// VacuumResult is what Vacuum did.
type VacuumResult struct {
	Tables   int // tables vacuumed and analyzed
	Duration time.Duration
}

// Vacuum runs the runbook's `VACUUM ANALYZE;` table by table, so that it
// can say how far it is: every ordinary table and materialized view of
// the operated database (system catalogs included, other sessions'
// temporary tables excluded), names taken from pg_class. Each statement
// runs under statementTimeout (PostgreSQL's statement_timeout on the one
// connection it uses; 0: the remaining time of ctx); ctx ends the whole
// run. Tables the role may not vacuum are skipped by the server with a
// warning, as VACUUM ANALYZE; does.
func (d *DB) Vacuum(ctx context.Context, statementTimeout time.Duration, progress VacuumProgress) (VacuumResult, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	start := time.Now()
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return VacuumResult{}, fmt.Errorf("vacuum: connect: %w", serverErr(err))
	}
	// The session's statement_timeout is set below: never give the
	// connection back to the pool with it.
	defer discard(conn)

	if statementTimeout <= 0 {
		if dl, ok := ctx.Deadline(); ok {
			statementTimeout = time.Until(dl)
		}
	}
	ms := strconv.FormatInt(max(statementTimeout.Milliseconds(), 1), 10)
	if _, err := conn.Exec(ctx, `SELECT set_config('statement_timeout', $1, false)`, ms); err != nil {
		return VacuumResult{}, fmt.Errorf("vacuum: set statement_timeout: %w", serverErr(err))
	}
	rows, err := conn.Query(ctx, `
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND c.relpersistence <> 't'
ORDER BY n.nspname = 'pg_catalog', n.nspname, c.relname`)
	if err != nil {
		return VacuumResult{}, fmt.Errorf("vacuum: list tables: %w", serverErr(err))
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pgx.Identifier, error) {
		var schema, name string
		err := r.Scan(&schema, &name)
		return pgx.Identifier{schema, name}, err
	})
	if err != nil {
		return VacuumResult{}, fmt.Errorf("vacuum: list tables: %w", serverErr(err))
	}
	res := VacuumResult{}
	for i, t := range tables {
		if progress != nil {
			progress(i, len(tables), strings.Join(t, "."))
		}
		// The identifier comes from pg_class and is quoted: no caller's
		// text reaches this statement.
		if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) "+t.Sanitize()); err != nil {
			if isUndefinedTable(err) { // dropped since the listing
				continue
			}
			res.Duration = time.Since(start)
			return res, fmt.Errorf("vacuum %s (after %d of %d tables): %w", strings.Join(t, "."), i, len(tables), serverErr(err))
		}
		res.Tables++
	}
	res.Duration = time.Since(start)
	if progress != nil {
		progress(len(tables), len(tables), "")
	}
	return res, nil
}

// discard closes a pool connection whose session settings were changed,
// so that the pool never hands it out again.
func discard(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = conn.Conn().Close(ctx)
	conn.Release()
}

func isUndefinedTable(err error) bool {
	var pgErr interface{ SQLState() string }
	return errors.As(err, &pgErr) && pgErr.SQLState() == "42P01"
}

// RecommendedIndex is one index of the runbook's "Database Optimization".
// Its names are constants of this package, never a caller's text.
type RecommendedIndex struct {
	Name    string
	Table   string
	Columns []string
}

// RecommendedIndexes are the runbook's indexes for common queries.
var RecommendedIndexes = []RecommendedIndex{
	{Name: "idx_assignments_employee_date", Table: "assignments", Columns: []string{"employee_id", "created_at"}},
	{Name: "idx_shift_demands_date_station", Table: "shift_demands", Columns: []string{"date", "station_id"}},
}

// AnalyzeAfterIndexes are the tables the runbook analyzes after creating
// the indexes.
var AnalyzeAfterIndexes = []string{"assignments", "shift_demands", "employees"}

// SQL returns the index's CREATE INDEX CONCURRENTLY statement.
func (ri RecommendedIndex) SQL() string {
	cols := make([]string, len(ri.Columns))
	for i, c := range ri.Columns {
		cols[i] = pgx.Identifier{c}.Sanitize()
	}
	return fmt.Sprintf("CREATE INDEX CONCURRENTLY %s ON %s (%s)",
		pgx.Identifier{ri.Name}.Sanitize(), pgx.Identifier{ri.Table}.Sanitize(), strings.Join(cols, ", "))
}

// Index states.
const (
	IndexPresent   = "present"    // an index on exactly these leading columns, valid
	IndexMissing   = "missing"    // the table exists, no such index
	IndexInvalid   = "invalid"    // an index of that name exists but is invalid (a failed CONCURRENTLY)
	IndexNoTable   = "no table"   // the table does not exist in the search path
	IndexOtherName = "equivalent" // a valid index on the same columns under another name
)

// IndexState is a recommended index as the database has it.
type IndexState struct {
	RecommendedIndex
	State string
	Found string // the name of the index found, when there is one
	Def   string // pg_get_indexdef of the index found
}

// Indexes says, for each recommended index, whether the operated database
// has it: by name, or as another valid index whose leading columns are
// the same in the same order.
func (d *DB) Indexes(ctx context.Context) ([]IndexState, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	out := make([]IndexState, 0, len(RecommendedIndexes))
	for _, ri := range RecommendedIndexes {
		st := IndexState{RecommendedIndex: ri}
		var tableOID *uint32
		if err := d.pool.QueryRow(ctx, `SELECT to_regclass($1)::oid`, pgx.Identifier{ri.Table}.Sanitize()).Scan(&tableOID); err != nil {
			return nil, fmt.Errorf("check index %s: %w", ri.Name, serverErr(err))
		}
		if tableOID == nil {
			st.State = IndexNoTable
			out = append(out, st)
			continue
		}
		rows, err := d.pool.Query(ctx, `
SELECT ic.relname, i.indisvalid, pg_get_indexdef(i.indexrelid),
       ARRAY(SELECT a.attname::text FROM unnest(i.indkey[0:array_length($2::text[], 1) - 1]) WITH ORDINALITY AS k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n)
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = $1
ORDER BY ic.relname = $3 DESC, ic.relname`, *tableOID, ri.Columns, ri.Name)
		if err != nil {
			return nil, fmt.Errorf("check index %s: %w", ri.Name, serverErr(err))
		}
		st.State = IndexMissing
		for rows.Next() {
			var name, def string
			var valid bool
			var cols []string
			if err := rows.Scan(&name, &valid, &def, &cols); err != nil {
				rows.Close()
				return nil, fmt.Errorf("check index %s: %w", ri.Name, err)
			}
			sameCols := strings.Join(cols, ",") == strings.Join(ri.Columns, ",")
			switch {
			case name == ri.Name && valid:
				st.State, st.Found, st.Def = IndexPresent, name, def
			case name == ri.Name:
				st.State, st.Found, st.Def = IndexInvalid, name, def
			case sameCols && valid && st.State == IndexMissing:
				st.State, st.Found, st.Def = IndexOtherName, name, def
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("check index %s: %w", ri.Name, serverErr(err))
		}
		out = append(out, st)
	}
	return out, nil
}

// IndexCreated is what CreateIndexes did with one recommended index.
type IndexCreated struct {
	RecommendedIndex
	Action string // "created", "kept" (already there), "rebuilt" (was invalid), "skipped: no table"
}

// CreateIndexes creates the recommended indexes that are missing, with
// CREATE INDEX CONCURRENTLY (writes go on meanwhile), replacing an invalid
// one of the same name (DROP INDEX CONCURRENTLY first), then ANALYZEs the
// runbook's tables. Each statement runs under statementTimeout on one
// connection. A statement that fails stops the run; what was done so far
// is returned with the error.
func (d *DB) CreateIndexes(ctx context.Context, statementTimeout time.Duration, progress func(string)) ([]IndexCreated, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	states, err := d.Indexes(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("create indexes: connect: %w", serverErr(err))
	}
	defer discard(conn) // its statement_timeout must not go back to the pool
	if statementTimeout <= 0 {
		if dl, ok := ctx.Deadline(); ok {
			statementTimeout = time.Until(dl)
		}
	}
	ms := strconv.FormatInt(max(statementTimeout.Milliseconds(), 1), 10)
	if _, err := conn.Exec(ctx, `SELECT set_config('statement_timeout', $1, false)`, ms); err != nil {
		return nil, fmt.Errorf("create indexes: set statement_timeout: %w", serverErr(err))
	}
	say := func(s string) {
		if progress != nil {
			progress(s)
		}
	}
	var done []IndexCreated
	for _, st := range states {
		r := IndexCreated{RecommendedIndex: st.RecommendedIndex}
		switch st.State {
		case IndexPresent, IndexOtherName:
			r.Action = "kept (" + st.Found + ")"
		case IndexNoTable:
			r.Action = "skipped: no table " + st.Table
		case IndexInvalid, IndexMissing:
			if st.State == IndexInvalid {
				say("dropping the invalid index " + st.Name)
				if _, err := conn.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+pgx.Identifier{st.Name}.Sanitize()); err != nil {
					return done, fmt.Errorf("drop invalid index %s: %w", st.Name, serverErr(err))
				}
			}
			say("creating " + st.Name)
			if _, err := conn.Exec(ctx, st.SQL()); err != nil {
				return done, fmt.Errorf("create index %s: %w", st.Name, serverErr(err))
			}
			r.Action = "created"
			if st.State == IndexInvalid {
				r.Action = "rebuilt"
			}
		}
		done = append(done, r)
	}
	for _, t := range AnalyzeAfterIndexes {
		say("analyzing " + t)
		var oid *uint32
		if err := conn.QueryRow(ctx, `SELECT to_regclass($1)::oid`, pgx.Identifier{t}.Sanitize()).Scan(&oid); err != nil {
			return done, fmt.Errorf("analyze %s: %w", t, serverErr(err))
		}
		if oid == nil {
			continue
		}
		if _, err := conn.Exec(ctx, "ANALYZE "+pgx.Identifier{t}.Sanitize()); err != nil {
			return done, fmt.Errorf("analyze %s: %w", t, serverErr(err))
		}
	}
	return done, nil
}

// RecommendedSetting is one of the runbook's tuning settings.
type RecommendedSetting struct {
	Name  string
	Value string // in the runbook's words, e.g. "256MB"
}

// RecommendedSettings are the runbook's "Optimize PostgreSQL settings".
var RecommendedSettings = []RecommendedSetting{
	{Name: "shared_buffers", Value: "256MB"},
	{Name: "effective_cache_size", Value: "1GB"},
}

// Setting is a recommended setting as the server has it.
type Setting struct {
	RecommendedSetting
	Current        string // current_setting(name), e.g. "128MB"
	Setting, Unit  string // pg_settings.setting and unit, e.g. "16384", "8kB"
	Context        string // pg_settings.context: "postmaster" needs a restart
	PendingRestart bool   // changed in the configuration, waiting for a restart
	Matches        bool   // the value in force equals the recommendation
	NeedsRestart   bool   // context = postmaster
}

// Settings reads the recommended settings from pg_settings (and
// pg_file_settings, for a restart pending) and compares
// the value in force with the recommendation in bytes.
func (d *DB) Settings(ctx context.Context) ([]Setting, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	out := make([]Setting, 0, len(RecommendedSettings))
	for _, rs := range RecommendedSettings {
		s := Setting{RecommendedSetting: rs}
		var unit *string
		err := d.pool.QueryRow(ctx, `
SELECT current_setting(name), setting, unit, context, pending_restart
FROM pg_settings WHERE name = $1`, rs.Name).Scan(&s.Current, &s.Setting, &unit, &s.Context, &s.PendingRestart)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("read setting %s: the server has no such setting", rs.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("read setting %s: %w", rs.Name, serverErr(err))
		}
		if unit != nil {
			s.Unit = *unit
		}
		if !s.PendingRestart {
			// A session that was open when the configuration was reloaded
			// may not flag it: the configuration files, read afresh, say
			// whether a value waits for a restart. Reading them needs
			// pg_read_all_settings; without it pg_settings' word stands.
			var pending bool
			err := d.pool.QueryRow(ctx, `
SELECT coalesce(bool_or(error = 'setting could not be applied'), false)
FROM pg_file_settings WHERE name = $1`, rs.Name).Scan(&pending)
			if err == nil {
				s.PendingRestart = pending
			}
		}
		s.Matches, err = sameSize(s.Setting, s.Unit, rs.Value)
		if err != nil {
			return nil, fmt.Errorf("read setting %s: %w", rs.Name, err)
		}
		s.NeedsRestart = s.Context == "postmaster"
		out = append(out, s)
	}
	return out, nil
}

// sameSize compares a pg_settings value (setting in units of unit, e.g.
// "16384" of "8kB") with a size such as "256MB".
func sameSize(setting, unit, want string) (bool, error) {
	n, err := strconv.ParseInt(setting, 10, 64)
	if err != nil {
		return setting == want, nil
	}
	u, err := sizeBytes(unit)
	if err != nil {
		return false, err
	}
	w, err := sizeBytes(want)
	if err != nil {
		return false, err
	}
	return n*u == w, nil
}

// sizeBytes reads PostgreSQL's memory units: "8kB", "256MB", "1GB", "".
func sizeBytes(s string) (int64, error) {
	if s == "" {
		return 1, nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], s[i:]
	}
	n := int64(1)
	if num != "" {
		var err error
		if n, err = strconv.ParseInt(num, 10, 64); err != nil {
			return 0, fmt.Errorf("size %q: %w", s, err)
		}
	}
	mult := map[string]int64{"B": 1, "": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("size %q: unknown unit %q", s, unit)
	}
	return n * mult, nil
}

// ApplySettings sets the recommended settings with ALTER SYSTEM (values
// are this package's constants) and reloads the configuration, the
// runbook's "Optimize PostgreSQL settings". shared_buffers takes effect
// only after a restart (the runbook's pg_reload_conf() is not enough);
// Settings then reports it as pending_restart.
func (d *DB) ApplySettings(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	for _, rs := range RecommendedSettings {
		// ALTER SYSTEM takes no parameters: both parts are constants,
		// quoted all the same.
		stmt := fmt.Sprintf("ALTER SYSTEM SET %s = '%s'", pgx.Identifier{rs.Name}.Sanitize(), strings.ReplaceAll(rs.Value, "'", "''"))
		if _, err := d.pool.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("set %s: %w", rs.Name, serverErr(err))
		}
	}
	var ok bool
	if err := d.pool.QueryRow(ctx, `SELECT pg_reload_conf()`).Scan(&ok); err != nil {
		return fmt.Errorf("reload configuration: %w", serverErr(err))
	}
	if !ok {
		return errors.New("reload configuration: pg_reload_conf() returned false")
	}
	return nil
}
