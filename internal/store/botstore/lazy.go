package botstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/store"
)

// Lazy is the bot's store reached in the background: a database that is
// down when the bot starts is retried until it answers (and is migrated
// then), instead of meaning no approvals and no audit until a restart.
// Until then its approval methods fail with bot.ErrStoreUnavailable, so
// the core says plainly that the database is down and runs nothing that
// needs it.
type Lazy struct {
	st     atomic.Pointer[store.Store]
	cancel context.CancelFunc
	done   chan struct{}
	ready  chan struct{} // closed once connected
	first  chan struct{} // closed once the first attempt has ended
	start  time.Time     // when Connect began
	hung   atomic.Bool   // the last attempt ran out of time (not refused)
	// answered is closed when the database first sent a byte (it is
	// alive, perhaps slow), when open passes its context to store.Open.
	answered     chan struct{}
	answeredOnce sync.Once
	once         sync.Once
}

// Connect starts connecting to url in the background, retrying every
// retry (doubling up to 16 times that) until it succeeds or ctx ends. It
// waits up to wait for the first attempt (the bot passes 0: a database
// that accepts connections and never answers must not hold up the start;
// the calls that need the store wait for the first attempt themselves,
// each within its own deadline — see Wait). open opens the store
// (store.Open in production); onUp, when set, is called once connected.
// Failures are logged with redact applied to the error text.
func Connect(ctx context.Context, open func(context.Context) (*store.Store, error), retry, attempt, wait time.Duration,
	log logrus.FieldLogger, redact func(string) string, onUp func(*store.Store)) *Lazy {
	ctx, cancel := context.WithCancel(ctx)
	l := &Lazy{cancel: cancel, done: make(chan struct{}), ready: make(chan struct{}), first: make(chan struct{}), start: time.Now(),
		answered: make(chan struct{})}
	ctx = store.WithAnswered(ctx, func() { l.answeredOnce.Do(func() { close(l.answered) }) })
	first := l.first
	go func() {
		defer close(l.done)
		delay := retry
		for n := 0; ; n++ {
			actx, acancel := context.WithTimeout(ctx, attempt)
			st, err := open(actx)
			acancel()
			if err == nil {
				l.st.Store(st)
				l.once.Do(func() { close(l.ready) })
			} else {
				l.hung.Store(errors.Is(err, store.ErrNotAnswering) || errors.Is(err, context.DeadlineExceeded))
			}
			if n == 0 {
				close(first)
			}
			if err == nil {
				if n > 0 {
					log.WithField("attempts", n+1).Warn("the bot's database answers again: approvals and audit are back on")
				}
				if onUp != nil {
					onUp(st)
				}
				return
			}
			if ctx.Err() != nil {
				return
			}
			if n == 0 {
				log.WithField("error", redact(err.Error())).Error("the bot's database is unreachable: approvals are OFF and audit entries go to the local spool until it answers; retrying in the background")
			} else {
				log.WithFields(logrus.Fields{"error": redact(err.Error()), "attempts": n + 1}).Debug("the bot's database is still unreachable")
			}
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			delay = min(delay*2, 16*retry)
		}
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-first:
	case <-t.C:
	}
	return l
}

// Store returns the store, or nil while the database has not answered.
func (l *Lazy) Store() *store.Store { return l.st.Load() }

// Ready is closed once the store is connected.
func (l *Lazy) Ready() <-chan struct{} { return l.ready }

// Answered is closed once the database has sent anything at all: it is
// alive, even if its first attempt is still going (a first start applying
// migrations), unlike a database that accepts connections and never
// answers.
func (l *Lazy) Answered() <-chan struct{} { return l.answered }

// Started is when Connect began the first attempt.
func (l *Lazy) Started() time.Time { return l.start }

// Wait returns the store once the first attempt to reach it has ended,
// waiting for that at most until ctx ends; nil when the database has not
// answered (yet). It never waits for a retry: once the first attempt
// failed, the database is known to be down and Wait answers at once.
func (l *Lazy) Wait(ctx context.Context) *store.Store {
	if st := l.st.Load(); st != nil {
		return st
	}
	select {
	case <-l.first:
	case <-l.ready:
	case <-ctx.Done():
	}
	return l.st.Load()
}

// unavailable says why the store is not there: not answering (still
// being reached for the first time when the caller's deadline came, or
// the last attempt ran out of time: it accepts connections and never
// answers), or down (it refused).
func (l *Lazy) unavailable() error {
	select {
	case <-l.first:
		if !l.hung.Load() {
			return fmt.Errorf("%w (still retrying)", bot.ErrStoreUnavailable)
		}
	default:
	}
	return fmt.Errorf("%w: %w (still trying)", bot.ErrStoreUnavailable, bot.ErrStoreNotAnswering)
}

// Close stops retrying and closes the store if it was connected.
func (l *Lazy) Close() {
	l.cancel()
	<-l.done
	if st := l.st.Load(); st != nil {
		st.Close()
	}
}

// approvals waits for the first attempt within ctx (see Wait).
func (l *Lazy) approvals(ctx context.Context) (Approvals, error) {
	st := l.Wait(ctx)
	if st == nil {
		return Approvals{}, l.unavailable()
	}
	return Approvals{S: st}, nil
}

// LazyApprovals is bot.Approvals over a Lazy store.
type LazyApprovals struct{ L *Lazy }

var _ bot.Approvals = LazyApprovals{}

// Create implements bot.Approvals.
func (a LazyApprovals) Create(ctx context.Context, r bot.Approval, ttl time.Duration) (bot.Approval, error) {
	s, err := a.L.approvals(ctx)
	if err != nil {
		return bot.Approval{}, err
	}
	return s.Create(ctx, r, ttl)
}

// Decide implements bot.Approvals.
func (a LazyApprovals) Decide(ctx context.Context, id, approver string, approve bool, now time.Time) (bot.Approval, error) {
	s, err := a.L.approvals(ctx)
	if err != nil {
		return bot.Approval{}, err
	}
	return s.Decide(ctx, id, approver, approve, now)
}

// Withdraw implements bot.Approvals.
func (a LazyApprovals) Withdraw(ctx context.Context, id, requester string, now time.Time) (bot.Approval, error) {
	s, err := a.L.approvals(ctx)
	if err != nil {
		return bot.Approval{}, err
	}
	return s.Withdraw(ctx, id, requester, now)
}

// MarkExecuted implements bot.Approvals.
func (a LazyApprovals) MarkExecuted(ctx context.Context, id, result string, ok bool) error {
	s, err := a.L.approvals(ctx)
	if err != nil {
		return err
	}
	return s.MarkExecuted(ctx, id, result, ok)
}

// Expire implements bot.Approvals. Nothing can expire while the database
// is down (no request could be made either): it returns none.
func (a LazyApprovals) Expire(ctx context.Context, now time.Time) ([]bot.Approval, error) {
	s, err := a.L.approvals(ctx)
	if err != nil {
		return nil, nil
	}
	return s.Expire(ctx, now)
}

// Get implements bot.Approvals.
func (a LazyApprovals) Get(ctx context.Context, id string) (bot.Approval, error) {
	s, err := a.L.approvals(ctx)
	if err != nil {
		return bot.Approval{}, err
	}
	return s.Get(ctx, id)
}

// SetMessage implements bot.Approvals.
func (a LazyApprovals) SetMessage(ctx context.Context, id, channel, messageTS, threadTS string) error {
	s, err := a.L.approvals(ctx)
	if err != nil {
		return err
	}
	return s.SetMessage(ctx, id, channel, messageTS, threadTS)
}
