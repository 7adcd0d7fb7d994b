package store

import (
	"errors"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func request(requester string) Approval {
	return Approval{
		Command: "rollback", Args: "api", Object: "rollback", Level: 2,
		Requester: requester, Channel: "C-ops", ThreadTS: "1700000000.000100", MessageTS: "1700000000.000100",
	}
}

func create(t *testing.T, s *Store, a Approval, ttl time.Duration) Approval {
	t.Helper()
	got, err := s.CreateApproval(ctxFor(t), a, ttl)
	if err != nil {
		t.Fatalf("CreateApproval: %v", err)
	}
	return got
}

func TestCreateAndReadApproval(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	created := time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.UTC)
	a := request("slack:UREQ")
	a.CreatedAt = created
	a.State, a.Approver = StateApproved, "slack:UFORGED" // ignored
	got := create(t, s, a, 15*time.Minute)
	if !regexp.MustCompile(`^A-[2-9A-HJKMNP-Z]{6}$`).MatchString(got.ID) {
		t.Errorf("ID %q", got.ID)
	}
	if got.State != StatePending || got.Approver != "" || !got.DecidedAt.IsZero() {
		t.Errorf("new request: %+v", got)
	}
	if want := created.Truncate(time.Microsecond); !got.CreatedAt.Equal(want) || !got.ExpiresAt.Equal(want.Add(15*time.Minute)) {
		t.Errorf("created %v expires %v", got.CreatedAt, got.ExpiresAt)
	}
	read, err := s.Approval(ctxFor(t), got.ID)
	if err != nil {
		t.Fatal(err)
	}
	if read != got {
		t.Errorf("Approval = %+v\nwant       %+v", read, got)
	}
	if err := s.SetMessage(ctxFor(t), got.ID, "C-other", "1700000001.000200", "1700000001.000200"); err != nil {
		t.Fatal(err)
	}
	if read, _ = s.Approval(ctxFor(t), got.ID); read.Channel != "C-other" || read.MessageTS != "1700000001.000200" {
		t.Errorf("after SetMessage: %+v", read)
	}
	if _, err := s.Approval(ctxFor(t), "A-NOPE22"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown ID: %v", err)
	}
	if _, err := s.CreateApproval(ctxFor(t), request("slack:UREQ"), 0); !errors.Is(err, ErrInvalidApproval) {
		t.Errorf("ttl 0: %v", err)
	}
	// IDs differ.
	seen := map[string]bool{got.ID: true}
	for range 50 {
		id := create(t, s, request("slack:UREQ"), time.Minute).ID
		if seen[id] {
			t.Fatalf("ID %s handed out twice", id)
		}
		seen[id] = true
	}
}

// 50 clicks from three bots: one decides, 49 hear it was already decided.
func TestDecideOnceAcrossStores(t *testing.T) {
	t.Parallel()
	dbURL := newDatabase(t)
	stores := []*Store{openStore(t, dbURL), openStore(t, dbURL), openStore(t, dbURL)}
	a := create(t, stores[0], request("slack:UREQ"), 15*time.Minute)
	const clicks = 50
	var won atomic.Int32
	var wg sync.WaitGroup
	winner := make(chan Approval, clicks)
	errs := make(chan error, clicks)
	start := make(chan struct{})
	for i := range clicks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			approver := []string{"slack:UDEV1", "slack:UDEV2", "console:bob"}[i%3]
			got, err := stores[i%3].Decide(ctxFor(t), a.ID, approver, i%2 == 0, time.Now())
			if err == nil {
				won.Add(1)
				winner <- got
				return
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	close(winner)
	if n := won.Load(); n != 1 {
		t.Fatalf("%d decisions succeeded, want exactly 1", n)
	}
	w := <-winner
	for err := range errs {
		var de *DecisionError
		if !errors.Is(err, ErrAlreadyDecided) || !errors.As(err, &de) || de.State != w.State || de.Approver != w.Approver {
			t.Errorf("a losing click: %v, want ErrAlreadyDecided (%s by %s)", err, w.State, w.Approver)
		}
	}
	final, err := stores[2].Approval(ctxFor(t), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final.State != w.State || final.Approver != w.Approver || final.DecidedAt.IsZero() {
		t.Errorf("stored %+v, winner %+v", final, w)
	}
}

func TestDecideRefusesSelfApproval(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	a := create(t, s, request("slack:UREQ"), 15*time.Minute)
	for _, approve := range []bool{true, false} {
		_, err := s.Decide(ctxFor(t), a.ID, "slack:UREQ", approve, time.Now())
		if !errors.Is(err, ErrSelfApproval) {
			t.Errorf("requester deciding (approve=%v): %v, want ErrSelfApproval", approve, err)
		}
	}
	if got, _ := s.Approval(ctxFor(t), a.ID); got.State != StatePending {
		t.Errorf("after self-approval: %s, want still pending", got.State)
	}
	// Another person still can.
	got, err := s.Decide(ctxFor(t), a.ID, "slack:UDEV", true, time.Now())
	if err != nil || got.State != StateApproved || got.Approver != "slack:UDEV" {
		t.Errorf("Decide by another: %+v, %v", got, err)
	}
}

func TestDecideRefusesExpired(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	created := time.Now().Add(-time.Hour)
	req := request("slack:UREQ")
	req.CreatedAt = created
	a := create(t, s, req, 15*time.Minute)
	got, err := s.Decide(ctxFor(t), a.ID, "slack:UDEV", true, time.Now())
	if !errors.Is(err, ErrExpired) {
		t.Fatalf("Decide on an expired request: %v, want ErrExpired", err)
	}
	if got.State != StateExpired {
		t.Errorf("returned state %s, want expired", got.State)
	}
	if stored, _ := s.Approval(ctxFor(t), a.ID); stored.State != StateExpired || stored.Approver != "" {
		t.Errorf("stored %+v, want expired with no approver", stored)
	}
	// Expiry is exact: at ExpiresAt it is too late, just before it is not.
	b := create(t, s, req, 15*time.Minute)
	if _, err := s.Decide(ctxFor(t), b.ID, "slack:UDEV", true, b.ExpiresAt); !errors.Is(err, ErrExpired) {
		t.Errorf("at ExpiresAt: %v, want ErrExpired", err)
	}
	c := create(t, s, req, 15*time.Minute)
	if _, err := s.Decide(ctxFor(t), c.ID, "slack:UDEV", true, c.ExpiresAt.Add(-time.Microsecond)); err != nil {
		t.Errorf("just before ExpiresAt: %v", err)
	}
	if _, err := s.Decide(ctxFor(t), "A-NOPE22", "slack:UDEV", true, time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown ID: %v, want ErrNotFound", err)
	}
}

func TestMarkExecutedOnce(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	a := create(t, s, request("slack:UREQ"), 15*time.Minute)
	if err := s.MarkExecuted(ctxFor(t), a.ID, "rolled back", true); !errors.Is(err, ErrNotApproved) {
		t.Errorf("executing a pending request: %v, want ErrNotApproved", err)
	}
	if _, err := s.Decide(ctxFor(t), a.ID, "slack:UDEV", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.MarkExecuted(ctxFor(t), a.ID, "rolled back", i%2 == 0)
			switch {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, ErrAlreadyDecided):
				t.Errorf("second MarkExecuted: %v, want ErrAlreadyDecided", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d MarkExecuted succeeded, want 1", ok.Load())
	}
	got, _ := s.Approval(ctxFor(t), a.ID)
	if (got.State != StateExecuted && got.State != StateFailed) || got.Result != "rolled back" {
		t.Errorf("after MarkExecuted: %+v", got)
	}
	d := create(t, s, request("slack:UREQ"), 15*time.Minute)
	if _, err := s.Decide(ctxFor(t), d.ID, "slack:UDEV", false, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkExecuted(ctxFor(t), d.ID, "ran anyway", true); !errors.Is(err, ErrNotApproved) {
		t.Errorf("executing a denied request: %v, want ErrNotApproved", err)
	}
	if err := s.MarkExecuted(ctxFor(t), "A-NOPE22", "", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown ID: %v", err)
	}
}

func TestExpireReturnsEachOnce(t *testing.T) {
	t.Parallel()
	dbURL := newDatabase(t)
	s1, s2 := openStore(t, dbURL), openStore(t, dbURL)
	now := time.Now()
	old := request("slack:UREQ")
	old.CreatedAt = now.Add(-time.Hour)
	var stale []string
	for range 5 {
		stale = append(stale, create(t, s1, old, 15*time.Minute).ID)
	}
	fresh := create(t, s1, request("slack:UREQ"), 15*time.Minute)
	decided := create(t, s1, old, 2*time.Hour)
	if _, err := s1.Decide(ctxFor(t), decided.ID, "slack:UDEV", true, now); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([][]Approval, 2)
	for i, s := range []*Store{s1, s2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.Expire(ctxFor(t), now)
			if err != nil {
				t.Error(err)
			}
			results[i] = got
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for _, r := range results {
		for _, a := range r {
			seen[a.ID]++
			if a.State != StateExpired {
				t.Errorf("%s returned as %s", a.ID, a.State)
			}
		}
	}
	if len(seen) != len(stale) {
		t.Errorf("expired %v, want %v", seen, stale)
	}
	for _, id := range stale {
		if seen[id] != 1 {
			t.Errorf("%s returned %d times, want once", id, seen[id])
		}
	}
	for id, want := range map[string]string{fresh.ID: StatePending, decided.ID: StateApproved} {
		if got, _ := s2.Approval(ctxFor(t), id); got.State != want {
			t.Errorf("%s: %s, want %s", id, got.State, want)
		}
	}
	if again, err := s1.Expire(ctxFor(t), now); err != nil || len(again) != 0 {
		t.Errorf("second Expire: %d, %v", len(again), err)
	}
}
