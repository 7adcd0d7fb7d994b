package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// States of an incident: opening (reserved while its channel is being
// created) → open → resolved. An opening incident that never got its
// channel is deleted.
const (
	IncidentOpening  = "opening"
	IncidentOpen     = "open"
	IncidentResolved = "resolved"
)

// Why an incident change did nothing; test with errors.Is.
var (
	ErrNoIncident       = errors.New("no such incident")
	ErrIncidentHere     = errors.New("an incident is already open here")
	ErrIncidentResolved = errors.New("the incident is already resolved")
)

// Incident is one incident: INC-<ID>.
type Incident struct {
	ID            int64
	State         string
	Severity      int // 1..4
	Title         string
	Commander     string // namespaced subject
	OpenedBy      string
	OriginChannel string // where it was started
	Channel       string // where its timeline is collected
	ThreadTS      string // "" = the whole channel
	Link          string
	StartedAt     time.Time
	ResolvedAt    time.Time // zero while open
	Summary       string
}

// TimelineEntry is one line of an incident's timeline. Key is its
// idempotency key: appending the same key twice stores it once.
type TimelineEntry struct {
	Seq        int64
	IncidentID int64
	Key        string
	At         time.Time
	Who        string
	Kind       string // command, note, status, approval, escalation, opened, resolved, ...
	What       string
	Outcome    string
	Approver   string
	Link       string
}

const incidentColumns = `id, state, severity, title, commander, opened_by, origin_channel, channel, thread_ts, link, started_at, resolved_at, summary`

func scanIncident(row pgx.Row) (Incident, error) {
	var i Incident
	var resolved *time.Time
	err := row.Scan(&i.ID, &i.State, &i.Severity, &i.Title, &i.Commander, &i.OpenedBy, &i.OriginChannel,
		&i.Channel, &i.ThreadTS, &i.Link, &i.StartedAt, &resolved, &i.Summary)
	if errors.Is(err, pgx.ErrNoRows) {
		return Incident{}, ErrNoIncident
	}
	i.StartedAt = i.StartedAt.UTC()
	if resolved != nil {
		i.ResolvedAt = resolved.UTC()
	}
	return i, err
}

// ReserveIncident records i as opening, with its StartedAt (now when
// zero), and returns it with its ID. Nothing sees it until
// ActivateIncident; DropIncident removes it.
func (s *Store) ReserveIncident(ctx context.Context, i Incident) (Incident, error) {
	if i.StartedAt.IsZero() {
		i.StartedAt = time.Now()
	}
	i.StartedAt = i.StartedAt.UTC().Truncate(time.Microsecond)
	i.makeStorable()
	got, err := scanIncident(s.pool.QueryRow(ctx, `INSERT INTO incidents
		(state, severity, title, commander, opened_by, origin_channel, started_at)
		VALUES ('opening', $1, $2, $3, $4, $5, $6) RETURNING `+incidentColumns,
		i.Severity, i.Title, i.Commander, i.OpenedBy, i.OriginChannel, i.StartedAt))
	if err != nil {
		return Incident{}, fmt.Errorf("reserve incident: %w", classify(err))
	}
	return got, nil
}

// ActivateIncident opens a reserved incident in its place (channel and
// thread). Another incident open in the same place: ErrIncidentHere.
func (s *Store) ActivateIncident(ctx context.Context, id int64, channel, thread, link string) (Incident, error) {
	got, err := scanIncident(s.pool.QueryRow(ctx, `UPDATE incidents SET state = 'open', channel = $2, thread_ts = $3, link = $4
		WHERE id = $1 AND state = 'opening' RETURNING `+incidentColumns, id, indexed(channel), indexed(thread), text(link)))
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == "23505":
		return Incident{}, fmt.Errorf("open INC-%d in %s: %w", id, channel, ErrIncidentHere)
	case err != nil:
		return Incident{}, fmt.Errorf("open INC-%d: %w", id, classify(err))
	}
	return got, nil
}

// DropIncident deletes a reserved incident that never opened.
func (s *Store) DropIncident(ctx context.Context, id int64) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM incidents WHERE id = $1 AND state = 'opening'`, id); err != nil {
		return fmt.Errorf("drop reserved INC-%d: %w", id, err)
	}
	return nil
}

// IncidentByID returns one incident (ErrNoIncident when there is none).
func (s *Store) IncidentByID(ctx context.Context, id int64) (Incident, error) {
	i, err := scanIncident(s.pool.QueryRow(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = $1 AND state <> 'opening'`, id))
	if err != nil {
		return Incident{}, fmt.Errorf("incident INC-%d: %w", id, err)
	}
	return i, nil
}

// OpenIncidentAt returns the incident open in channel, or in its thread
// (an incident that holds the whole channel also holds its threads).
func (s *Store) OpenIncidentAt(ctx context.Context, channel, thread string) (Incident, error) {
	i, err := scanIncident(s.pool.QueryRow(ctx, `SELECT `+incidentColumns+` FROM incidents
		WHERE state = 'open' AND channel = $1 AND (thread_ts = '' OR thread_ts = $2)
		ORDER BY started_at DESC LIMIT 1`, indexed(channel), indexed(thread)))
	if err != nil {
		return Incident{}, fmt.Errorf("open incident in %s: %w", channel, err)
	}
	return i, nil
}

// OpenIncidents lists the open incidents, oldest first.
func (s *Store) OpenIncidents(ctx context.Context) ([]Incident, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE state = 'open' ORDER BY id LIMIT 1000`)
	if err != nil {
		return nil, fmt.Errorf("open incidents: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Incident, error) { return scanIncident(r) })
	if err != nil {
		return nil, fmt.Errorf("open incidents: %w", err)
	}
	return out, nil
}

// updateOpen changes an open incident with one conditional UPDATE.
func (s *Store) updateOpen(ctx context.Context, what string, id int64, set string, args ...any) (Incident, error) {
	got, err := scanIncident(s.pool.QueryRow(ctx, `UPDATE incidents SET `+set+` WHERE id = $1 AND state = 'open' RETURNING `+incidentColumns,
		append([]any{id}, args...)...))
	if errors.Is(err, ErrNoIncident) {
		cur, gerr := s.IncidentByID(ctx, id)
		if gerr == nil && cur.State == IncidentResolved {
			return cur, fmt.Errorf("%s INC-%d: %w", what, id, ErrIncidentResolved)
		}
	}
	if err != nil {
		return Incident{}, fmt.Errorf("%s INC-%d: %w", what, id, classify(err))
	}
	return got, nil
}

// SetCommander names the incident's commander.
func (s *Store) SetCommander(ctx context.Context, id int64, who string) (Incident, error) {
	return s.updateOpen(ctx, "set commander of", id, `commander = $2`, text(who))
}

// SetSeverity changes the incident's severity (1..4).
func (s *Store) SetSeverity(ctx context.Context, id int64, sev int) (Incident, error) {
	return s.updateOpen(ctx, "set severity of", id, `severity = $2`, sev)
}

// ResolveIncident closes an open incident, once: a second call gets
// ErrIncidentResolved with the incident as it stands.
func (s *Store) ResolveIncident(ctx context.Context, id int64, summary string, at time.Time) (Incident, error) {
	return s.updateOpen(ctx, "resolve", id, `state = 'resolved', summary = $2, resolved_at = $3`, text(summary), at.UTC().Truncate(time.Microsecond))
}

// AppendTimeline adds e to incident e.IncidentID unless an entry with its
// Key exists; it reports whether it was added.
func (s *Store) AppendTimeline(ctx context.Context, e TimelineEntry) (bool, error) {
	e.makeStorable()
	tag, err := s.pool.Exec(ctx, `INSERT INTO incident_timeline (incident_id, key, at, who, kind, what, outcome, approver, link)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (key) DO NOTHING`,
		e.IncidentID, e.Key, e.At.UTC(), e.Who, e.Kind, e.What, e.Outcome, e.Approver, e.Link)
	if err != nil {
		return false, fmt.Errorf("append to the timeline of INC-%d: %w", e.IncidentID, classify(err))
	}
	return tag.RowsAffected() == 1, nil
}

// AppendTimelineAt adds e to the incident that held channel (or its
// thread) at e.At, if any, in one statement: unless an entry with its Key
// exists. It returns the incident's ID (0 when none held the place) and
// whether the entry was added.
func (s *Store) AppendTimelineAt(ctx context.Context, channel, thread string, e TimelineEntry) (int64, bool, error) {
	e.makeStorable()
	channel, thread = indexed(channel), indexed(thread)
	var id, added int64
	err := s.pool.QueryRow(ctx, `WITH inc AS (
			SELECT id FROM incidents
			WHERE channel = $1 AND (thread_ts = '' OR thread_ts = $2) AND state IN ('open', 'resolved')
			  AND started_at <= $4 AND (resolved_at IS NULL OR resolved_at >= $4)
			ORDER BY started_at DESC LIMIT 1
		), ins AS (
			INSERT INTO incident_timeline (incident_id, key, at, who, kind, what, outcome, approver, link)
			SELECT id, $3, $4, $5, $6, $7, $8, $9, $10 FROM inc
			ON CONFLICT (key) DO NOTHING RETURNING incident_id
		)
		SELECT COALESCE((SELECT id FROM inc), 0), (SELECT count(*) FROM ins)`,
		channel, thread, e.Key, e.At.UTC(), e.Who, e.Kind, e.What, e.Outcome, e.Approver, e.Link).Scan(&id, &added)
	if err != nil {
		return 0, false, fmt.Errorf("append to the timeline in %s: %w", channel, classify(err))
	}
	return id, added == 1, nil
}

// Timeline returns up to limit entries of incident id from offset, in
// order of time, and how many it has in all.
func (s *Store) Timeline(ctx context.Context, id int64, offset, limit int) ([]TimelineEntry, int, error) {
	// One snapshot: the total and the page agree while entries arrive.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, 0, fmt.Errorf("timeline of INC-%d: %w", id, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	var total int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM incident_timeline WHERE incident_id = $1`, id).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("timeline of INC-%d: %w", id, err)
	}
	rows, err := tx.Query(ctx, `SELECT seq, incident_id, key, at, who, kind, what, outcome, approver, link
		FROM incident_timeline WHERE incident_id = $1 ORDER BY at, seq OFFSET $2 LIMIT $3`, id, offset, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("timeline of INC-%d: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TimelineEntry, error) {
		var e TimelineEntry
		err := r.Scan(&e.Seq, &e.IncidentID, &e.Key, &e.At, &e.Who, &e.Kind, &e.What, &e.Outcome, &e.Approver, &e.Link)
		e.At = e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("timeline of INC-%d: %w", id, err)
	}
	return out, total, nil
}
