package botstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/store"
)

// Incidents is bot.Incidents over a *store.Store.
type Incidents struct{ S *store.Store }

var _ bot.Incidents = Incidents{}

func incErr(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range []struct{ from, to error }{
		{store.ErrNoIncident, bot.ErrNoIncident},
		{store.ErrIncidentHere, bot.ErrIncidentHere},
		{store.ErrIncidentResolved, bot.ErrIncidentResolved},
	} {
		if errors.Is(err, m.from) {
			return fmt.Errorf("%w: %w", m.to, err)
		}
	}
	return err
}

func incFromStore(i store.Incident) bot.Incident {
	return bot.Incident{ID: i.ID, State: i.State, Severity: i.Severity, Title: i.Title, Commander: i.Commander,
		OpenedBy: i.OpenedBy, OriginChannel: i.OriginChannel, Channel: i.Channel, ThreadTS: i.ThreadTS, Link: i.Link,
		StartedAt: i.StartedAt, ResolvedAt: i.ResolvedAt, Summary: i.Summary}
}

func one(i store.Incident, err error) (bot.Incident, error) {
	if err != nil {
		return incFromStore(i), incErr(err)
	}
	return incFromStore(i), nil
}

// ReserveIncident implements bot.Incidents.
func (s Incidents) ReserveIncident(ctx context.Context, i bot.Incident) (bot.Incident, error) {
	return one(s.S.ReserveIncident(ctx, store.Incident{Severity: i.Severity, Title: i.Title, Commander: i.Commander,
		OpenedBy: i.OpenedBy, OriginChannel: i.OriginChannel, StartedAt: i.StartedAt}))
}

// ActivateIncident implements bot.Incidents.
func (s Incidents) ActivateIncident(ctx context.Context, id int64, channel, thread, link string) (bot.Incident, error) {
	return one(s.S.ActivateIncident(ctx, id, channel, thread, link))
}

// DropIncident implements bot.Incidents.
func (s Incidents) DropIncident(ctx context.Context, id int64) error {
	return s.S.DropIncident(ctx, id)
}

// IncidentByID implements bot.Incidents.
func (s Incidents) IncidentByID(ctx context.Context, id int64) (bot.Incident, error) {
	return one(s.S.IncidentByID(ctx, id))
}

// OpenIncidentAt implements bot.Incidents.
func (s Incidents) OpenIncidentAt(ctx context.Context, channel, thread string) (bot.Incident, error) {
	return one(s.S.OpenIncidentAt(ctx, channel, thread))
}

// OpenIncidents implements bot.Incidents.
func (s Incidents) OpenIncidents(ctx context.Context) ([]bot.Incident, error) {
	got, err := s.S.OpenIncidents(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]bot.Incident, len(got))
	for n, i := range got {
		out[n] = incFromStore(i)
	}
	return out, nil
}

// SetCommander implements bot.Incidents.
func (s Incidents) SetCommander(ctx context.Context, id int64, who string) (bot.Incident, error) {
	return one(s.S.SetCommander(ctx, id, who))
}

// SetSeverity implements bot.Incidents.
func (s Incidents) SetSeverity(ctx context.Context, id int64, sev int) (bot.Incident, error) {
	return one(s.S.SetSeverity(ctx, id, sev))
}

// ResolveIncident implements bot.Incidents.
func (s Incidents) ResolveIncident(ctx context.Context, id int64, summary string, at time.Time) (bot.Incident, error) {
	return one(s.S.ResolveIncident(ctx, id, summary, at))
}

// AppendTimelineAt implements bot.Incidents.
func (s Incidents) AppendTimelineAt(ctx context.Context, channel, thread string, e bot.TimelineEntry) (int64, bool, error) {
	return s.S.AppendTimelineAt(ctx, channel, thread, store.TimelineEntry{Key: e.Key, At: e.At, Who: e.Who, Kind: e.Kind,
		What: e.What, Outcome: e.Outcome, Approver: e.Approver, Link: e.Link})
}

// Timeline implements bot.Incidents.
func (s Incidents) Timeline(ctx context.Context, id int64, offset, limit int) ([]bot.TimelineEntry, int, error) {
	got, total, err := s.S.Timeline(ctx, id, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]bot.TimelineEntry, len(got))
	for n, e := range got {
		out[n] = bot.TimelineEntry{IncidentID: e.IncidentID, Key: e.Key, At: e.At, Who: e.Who, Kind: e.Kind, What: e.What,
			Outcome: e.Outcome, Approver: e.Approver, Link: e.Link}
	}
	return out, total, nil
}

// LazyIncidents is bot.Incidents over a Lazy store: until the database
// has answered, every call fails (timeline entries then go to the spool,
// and the incident commands say the database is down).
type LazyIncidents struct{ L *Lazy }

var _ bot.Incidents = LazyIncidents{}

// s waits for the first attempt to reach the store within ctx (see
// Lazy.Wait); now, which AppendTimelineAt uses, never waits: a timeline
// entry has the spool to go to.
func (l LazyIncidents) s(ctx context.Context) (Incidents, error) {
	st := l.L.Wait(ctx)
	if st == nil {
		return Incidents{}, l.L.unavailable()
	}
	return Incidents{S: st}, nil
}

func (l LazyIncidents) now() (Incidents, error) {
	st := l.L.Store()
	if st == nil {
		return Incidents{}, fmt.Errorf("%w (still retrying)", bot.ErrStoreUnavailable)
	}
	return Incidents{S: st}, nil
}

// ReserveIncident implements bot.Incidents.
func (l LazyIncidents) ReserveIncident(ctx context.Context, i bot.Incident) (bot.Incident, error) {
	s, err := l.s(ctx)
	if err != nil {
		return bot.Incident{}, err
	}
	return s.ReserveIncident(ctx, i)
}

// ActivateIncident implements bot.Incidents.
func (l LazyIncidents) ActivateIncident(ctx context.Context, id int64, channel, thread, link string) (bot.Incident, error) {
	s, err := l.s(ctx)
	if err != nil {
		return bot.Incident{}, err
	}
	return s.ActivateIncident(ctx, id, channel, thread, link)
}

// DropIncident implements bot.Incidents.
func (l LazyIncidents) DropIncident(ctx context.Context, id int64) error {
	s, err := l.s(ctx)
	if err != nil {
		return err
	}
	return s.DropIncident(ctx, id)
}

// IncidentByID implements bot.Incidents.
func (l LazyIncidents) IncidentByID(ctx context.Context, id int64) (bot.Incident, error) {
	s, err := l.s(ctx)
	if err != nil {
		return bot.Incident{}, err
	}
	return s.IncidentByID(ctx, id)
}

// OpenIncidentAt implements bot.Incidents.
func (l LazyIncidents) OpenIncidentAt(ctx context.Context, channel, thread string) (bot.Incident, error) {
	s, err := l.s(ctx)
	if err != nil {
		return bot.Incident{}, err
	}
	return s.OpenIncidentAt(ctx, channel, thread)
}

// OpenIncidents implements bot.Incidents.
func (l LazyIncidents) OpenIncidents(ctx context.Context) ([]bot.Incident, error) {
	s, err := l.s(ctx)
	if err != nil {
		return nil, err
	}
	return s.OpenIncidents(ctx)
}

// SetCommander implements bot.Incidents.
func (l LazyIncidents) SetCommander(ctx context.Context, id int64, who string) (bot.Incident, error) {
	s, err := l.s(ctx)
	if err != nil {
		return bot.Incident{}, err
	}
	return s.SetCommander(ctx, id, who)
}

// SetSeverity implements bot.Incidents.
func (l LazyIncidents) SetSeverity(ctx context.Context, id int64, sev int) (bot.Incident, error) {
	s, err := l.s(ctx)
	if err != nil {
		return bot.Incident{}, err
	}
	return s.SetSeverity(ctx, id, sev)
}

// ResolveIncident implements bot.Incidents.
func (l LazyIncidents) ResolveIncident(ctx context.Context, id int64, summary string, at time.Time) (bot.Incident, error) {
	s, err := l.s(ctx)
	if err != nil {
		return bot.Incident{}, err
	}
	return s.ResolveIncident(ctx, id, summary, at)
}

// AppendTimelineAt implements bot.Incidents.
func (l LazyIncidents) AppendTimelineAt(ctx context.Context, channel, thread string, e bot.TimelineEntry) (int64, bool, error) {
	s, err := l.now()
	if err != nil {
		return 0, false, err
	}
	return s.AppendTimelineAt(ctx, channel, thread, e)
}

// Timeline implements bot.Incidents.
func (l LazyIncidents) Timeline(ctx context.Context, id int64, offset, limit int) ([]bot.TimelineEntry, int, error) {
	s, err := l.s(ctx)
	if err != nil {
		return nil, 0, err
	}
	return s.Timeline(ctx, id, offset, limit)
}
