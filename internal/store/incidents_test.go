package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func openIncident(t *testing.T, s *Store, channel, thread string) Incident {
	t.Helper()
	ctx := ctxFor(t)
	r, err := s.ReserveIncident(ctx, Incident{Severity: 2, Title: "API 500s", Commander: "slack:UOPS", OpenedBy: "slack:UOPS", OriginChannel: "C0OPS"})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID == 0 || r.State != IncidentOpening {
		t.Fatalf("reserved: %+v", r)
	}
	i, err := s.ActivateIncident(ctx, r.ID, channel, thread, "")
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func TestIncidentLifecycle(t *testing.T) {
	s := newStore(t)
	ctx := ctxFor(t)
	i := openIncident(t, s, "CINC1", "")
	if i.State != IncidentOpen || i.Channel != "CINC1" {
		t.Fatalf("opened: %+v", i)
	}
	// A reserved incident is invisible, and a dropped one is gone.
	r, err := s.ReserveIncident(ctx, Incident{Severity: 3, Title: "x", Commander: "a", OpenedBy: "a", OriginChannel: "C0OPS"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.IncidentByID(ctx, r.ID); !errors.Is(err, ErrNoIncident) {
		t.Errorf("reserved incident visible: %v", err)
	}
	if err := s.DropIncident(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	// Second incident in the same place: refused.
	r2, _ := s.ReserveIncident(ctx, Incident{Severity: 3, Title: "y", Commander: "a", OpenedBy: "a", OriginChannel: "C0OPS"})
	if _, err := s.ActivateIncident(ctx, r2.ID, "CINC1", "", ""); !errors.Is(err, ErrIncidentHere) {
		t.Errorf("second incident in CINC1: %v", err)
	}
	got, err := s.OpenIncidentAt(ctx, "CINC1", "1700000000.000100")
	if err != nil || got.ID != i.ID {
		t.Errorf("open incident in a thread of its channel: %+v %v", got, err)
	}
	if _, err := s.OpenIncidentAt(ctx, "C0OPS", ""); !errors.Is(err, ErrNoIncident) {
		t.Errorf("no incident in the ops channel: %v", err)
	}
	if got, err := s.SetSeverity(ctx, i.ID, 1); err != nil || got.Severity != 1 {
		t.Errorf("severity: %+v %v", got, err)
	}
	if got, err := s.SetCommander(ctx, i.ID, "slack:UDEV"); err != nil || got.Commander != "slack:UDEV" {
		t.Errorf("commander: %+v %v", got, err)
	}
	open, err := s.OpenIncidents(ctx)
	if err != nil || len(open) != 1 || open[0].ID != i.ID {
		t.Errorf("open incidents: %+v %v", open, err)
	}
	res, err := s.ResolveIncident(ctx, i.ID, "fixed", time.Now())
	if err != nil || res.State != IncidentResolved || res.Summary != "fixed" || res.ResolvedAt.IsZero() {
		t.Fatalf("resolve: %+v %v", res, err)
	}
	if _, err := s.ResolveIncident(ctx, i.ID, "again", time.Now()); !errors.Is(err, ErrIncidentResolved) {
		t.Errorf("second resolve: %v", err)
	}
	if _, err := s.SetSeverity(ctx, i.ID, 2); !errors.Is(err, ErrIncidentResolved) {
		t.Errorf("severity of a resolved incident: %v", err)
	}
	if got, _ := s.IncidentByID(ctx, i.ID); got.Summary != "fixed" {
		t.Errorf("the second resolve changed it: %+v", got)
	}
}

func TestTimelineOnceAndInOrder(t *testing.T) {
	s := newStore(t)
	ctx := ctxFor(t)
	i := openIncident(t, s, "CINC2", "")
	base := i.StartedAt
	// Written out of order and twice, concurrently: read back once each, by time.
	var wg sync.WaitGroup
	for rep := 0; rep < 2; rep++ {
		for n := 9; n >= 0; n-- {
			wg.Add(1)
			go func(n int) {
				defer wg.Done()
				e := TimelineEntry{Key: fmt.Sprintf("k-%d", n), At: base.Add(time.Duration(n+1) * time.Second), Who: "slack:UOPS", Kind: "command", What: fmt.Sprintf("health %d", n), Outcome: "ok"}
				if _, _, err := s.AppendTimelineAt(ctx, "CINC2", "", e); err != nil {
					t.Error(err)
				}
			}(n)
		}
	}
	wg.Wait()
	entries, total, err := s.Timeline(ctx, i.ID, 0, 100)
	if err != nil || total != 10 || len(entries) != 10 {
		t.Fatalf("timeline: %d of %d, %v", len(entries), total, err)
	}
	for n, e := range entries {
		if e.What != fmt.Sprintf("health %d", n) {
			t.Errorf("entry %d: %+v", n, e)
		}
	}
	page, total, _ := s.Timeline(ctx, i.ID, 8, 5)
	if len(page) != 2 || total != 10 || page[0].What != "health 8" {
		t.Errorf("page: %+v of %d", page, total)
	}
	// Outside the incident's place or before it started: no incident.
	if id, added, err := s.AppendTimelineAt(ctx, "C0OPS", "", TimelineEntry{Key: "x1", At: time.Now(), Who: "a", Kind: "command", What: "health"}); err != nil || id != 0 || added {
		t.Errorf("elsewhere: %d %v %v", id, added, err)
	}
	if id, _, _ := s.AppendTimelineAt(ctx, "CINC2", "", TimelineEntry{Key: "x2", At: base.Add(-time.Minute), Who: "a", Kind: "command", What: "health"}); id != 0 {
		t.Errorf("before it started: %d", id)
	}
	// After it was resolved, an entry timed while it was open still lands on it.
	if _, err := s.ResolveIncident(ctx, i.ID, "done", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if id, added, _ := s.AppendTimelineAt(ctx, "CINC2", "", TimelineEntry{Key: "late", At: base.Add(time.Minute), Who: "a", Kind: "command", What: "late"}); id != i.ID || !added {
		t.Errorf("late entry: %d %v", id, added)
	}
	if id, _, _ := s.AppendTimelineAt(ctx, "CINC2", "", TimelineEntry{Key: "after", At: base.Add(2 * time.Hour), Who: "a", Kind: "command", What: "after"}); id != 0 {
		t.Errorf("after it was resolved: %d", id)
	}
	if added, err := s.AppendTimeline(ctx, TimelineEntry{IncidentID: i.ID, Key: "late", At: time.Now(), Who: "a", Kind: "note", What: "dup"}); err != nil || added {
		t.Errorf("same key again: %v %v", added, err)
	}
}

// A thread incident holds its thread only, not the rest of the channel.
func TestThreadIncident(t *testing.T) {
	s := newStore(t)
	ctx := ctxFor(t)
	i := openIncident(t, s, "C0OPS", "1700000000.000200")
	at := i.StartedAt.Add(time.Second)
	if id, _, _ := s.AppendTimelineAt(ctx, "C0OPS", "", TimelineEntry{Key: "a", At: at, Who: "a", Kind: "command", What: "health"}); id != 0 {
		t.Errorf("the channel outside the thread: %d", id)
	}
	if id, _, _ := s.AppendTimelineAt(ctx, "C0OPS", "1700000000.000200", TimelineEntry{Key: "b", At: at, Who: "a", Kind: "command", What: "health"}); id != i.ID {
		t.Errorf("in the thread: %d", id)
	}
}
