package botstore_test

import (
	"context"
	"errors"
	"io"
	"net/url"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/store/botstore"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

func connect(t *testing.T, dbURL string) *botstore.Lazy {
	t.Helper()
	log := logrus.New()
	log.Out = io.Discard
	lazy := botstore.Connect(context.Background(), func(ctx context.Context) (*store.Store, error) { return store.Open(ctx, dbURL) },
		time.Hour, time.Hour, 0, log, func(s string) string { return s }, nil)
	t.Cleanup(lazy.Close)
	return lazy
}

// TestLazyHungDatabase: a database that accepts connections and never
// answers holds up neither Connect nor a call past its own deadline; the
// call says the database is not answering (not that it is down), and the
// database never counts as having answered.
func TestLazyHungDatabase(t *testing.T) {
	silent := testenv.NewSilent(t)
	lazy := connect(t, (&url.URL{Scheme: "postgres", User: url.User("bot"), Host: silent.Addr, Path: "/bot", RawQuery: "sslmode=disable"}).String())
	for _, call := range []struct {
		name string
		f    func(ctx context.Context) error
	}{
		{"Get", func(ctx context.Context) error {
			_, err := botstore.LazyApprovals{L: lazy}.Get(ctx, "A-ABCDEF")
			return err
		}},
		{"Decide", func(ctx context.Context) error {
			_, err := botstore.LazyApprovals{L: lazy}.Decide(ctx, "A-ABCDEF", "console:bob", true, time.Now())
			return err
		}},
		{"OpenIncidentAt", func(ctx context.Context) error {
			_, err := botstore.LazyIncidents{L: lazy}.OpenIncidentAt(ctx, "C1", "")
			return err
		}},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // its deadline has come: it must not wait for the store
		err := call.f(ctx)
		if !errors.Is(err, bot.ErrStoreUnavailable) || !errors.Is(err, bot.ErrStoreNotAnswering) {
			t.Errorf("%s against a hung database: %v", call.name, err)
		}
	}
	if lazy.Wait(canceled()) != nil {
		t.Error("a hung database gave a store")
	}
	select {
	case <-lazy.Answered():
		t.Error("a silent database counted as having answered")
	default:
	}
}

// TestLazyWaitsForTheFirstAttempt: a call made while the first attempt
// to reach a live database is under way waits for it (within its own
// deadline) instead of saying the database is down.
func TestLazyWaitsForTheFirstAttempt(t *testing.T) {
	lazy := connect(t, storetest.NewDatabase(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := (botstore.LazyApprovals{L: lazy}).Get(ctx, "A-ABCDEF"); !errors.Is(err, bot.ErrApprovalNotFound) {
		t.Fatalf("Get during the first attempt: %v, want not found", err)
	}
	select {
	case <-lazy.Answered():
	default:
		t.Error("a live database did not count as having answered")
	}
}

// TestLazyDownDatabase: a refused database is down, not "not answering".
func TestLazyDownDatabase(t *testing.T) {
	lazy := connect(t, (&url.URL{Scheme: "postgres", User: url.User("bot"), Host: testenv.RefusedAddr(t), Path: "/bot", RawQuery: "sslmode=disable"}).String())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := botstore.LazyApprovals{L: lazy}.Get(ctx, "A-ABCDEF")
	if !errors.Is(err, bot.ErrStoreUnavailable) || errors.Is(err, bot.ErrStoreNotAnswering) {
		t.Fatalf("Get against a refused database: %v", err)
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
