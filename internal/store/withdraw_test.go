package store

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestWithdrawByTheRequesterOnly: the requester withdraws their own
// pending request (state withdrawn, the requester named as who decided);
// nobody else can; a decided, withdrawn or expired request is not
// withdrawn again; and the stored row keeps the new state (migration 0007).
func TestWithdrawByTheRequesterOnly(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	a := create(t, s, request("slack:UREQ"), 15*time.Minute)
	if _, err := s.Withdraw(ctxFor(t), a.ID, "slack:UDEV", time.Now()); !errors.Is(err, ErrNotRequester) {
		t.Errorf("someone else withdrawing: %v, want ErrNotRequester", err)
	}
	got, err := s.Withdraw(ctxFor(t), a.ID, "slack:UREQ", time.Now())
	if err != nil || got.State != StateWithdrawn || got.Approver != "slack:UREQ" || got.DecidedAt.IsZero() {
		t.Fatalf("Withdraw by the requester: %+v, %v", got, err)
	}
	if stored, _ := s.Approval(ctxFor(t), a.ID); stored != got {
		t.Errorf("stored %+v\nwant   %+v", stored, got)
	}
	var de *DecisionError
	for _, try := range []func() error{
		func() error { _, err := s.Withdraw(ctxFor(t), a.ID, "slack:UREQ", time.Now()); return err },
		func() error { _, err := s.Decide(ctxFor(t), a.ID, "slack:UDEV", true, time.Now()); return err },
	} {
		if err := try(); !errors.Is(err, ErrAlreadyDecided) || !errors.As(err, &de) || de.State != StateWithdrawn || de.Approver != "slack:UREQ" {
			t.Errorf("after the withdrawal: %v, want ErrAlreadyDecided (withdrawn by slack:UREQ)", err)
		}
	}

	approved := create(t, s, request("slack:UREQ"), 15*time.Minute)
	if _, err := s.Decide(ctxFor(t), approved.ID, "slack:UDEV", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Withdraw(ctxFor(t), approved.ID, "slack:UREQ", time.Now()); !errors.Is(err, ErrAlreadyDecided) {
		t.Errorf("withdrawing an approved request: %v, want ErrAlreadyDecided", err)
	}

	old := request("slack:UREQ")
	old.CreatedAt = time.Now().Add(-time.Hour)
	expired := create(t, s, old, 15*time.Minute)
	got, err = s.Withdraw(ctxFor(t), expired.ID, "slack:UREQ", time.Now())
	if !errors.Is(err, ErrExpired) || got.State != StateExpired {
		t.Errorf("withdrawing an expired request: %+v, %v, want ErrExpired", got, err)
	}
	if _, err := s.Withdraw(ctxFor(t), "A-NOPE22", "slack:UREQ", time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown ID: %v, want ErrNotFound", err)
	}
}

// TestWithdrawRacingApprovalsDecidesOnce: the requester withdrawing while
// others approve and deny, on three stores (three processes): exactly one
// change wins, every other caller hears what it was.
func TestWithdrawRacingApprovalsDecidesOnce(t *testing.T) {
	t.Parallel()
	dbURL := newDatabase(t)
	stores := []*Store{openStore(t, dbURL), openStore(t, dbURL), openStore(t, dbURL)}
	for round := range 10 {
		a := create(t, stores[0], request("slack:UREQ"), 15*time.Minute)
		const callers = 12
		var wg sync.WaitGroup
		start := make(chan struct{})
		results := make(chan Approval, callers)
		errs := make(chan error, callers)
		for i := range callers {
			wg.Go(func() {
				<-start
				var got Approval
				var err error
				if i%3 == round%3 {
					got, err = stores[i%3].Withdraw(ctxFor(t), a.ID, "slack:UREQ", time.Now())
				} else {
					got, err = stores[i%3].Decide(ctxFor(t), a.ID, "slack:UDEV", i%2 == 0, time.Now())
				}
				if err != nil {
					errs <- err
					return
				}
				results <- got
			})
		}
		close(start)
		wg.Wait()
		close(results)
		close(errs)
		if len(results) != 1 {
			t.Fatalf("round %d: %d changes won, want exactly 1", round, len(results))
		}
		w := <-results
		for err := range errs {
			var de *DecisionError
			if !errors.Is(err, ErrAlreadyDecided) || !errors.As(err, &de) || de.State != w.State || de.Approver != w.Approver {
				t.Errorf("round %d: a losing caller: %v, want ErrAlreadyDecided (%s by %s)", round, err, w.State, w.Approver)
			}
		}
	}
}
