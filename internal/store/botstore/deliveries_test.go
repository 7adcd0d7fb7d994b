package botstore_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/store/botstore"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
)

// TestLazyDeliveries: while the database has not answered, FirstDelivery
// fails (the Slack transport then decides in its own process); once it
// has, a key is first exactly once.
func TestLazyDeliveries(t *testing.T) {
	st, _ := storetest.OpenTest(t)
	log := logrus.New()
	log.Out = io.Discard
	up := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lazy := botstore.Connect(ctx, func(ctx context.Context) (*store.Store, error) {
		select {
		case <-up:
			return st, nil
		default:
			return nil, errors.New("down")
		}
	}, 10*time.Millisecond, time.Second, 0, log, func(s string) string { return s }, nil)
	defer lazy.Close()
	d := botstore.LazyDeliveries{L: lazy}
	if _, err := d.FirstDelivery(ctx, "slack:event:Ev1", time.Hour); err == nil {
		t.Fatal("a database that has not answered must not decide")
	}
	close(up)
	select {
	case <-lazy.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the lazy store never connected")
	}
	for i, want := range []bool{true, false, false} {
		got, err := d.FirstDelivery(ctx, "slack:event:Ev1", time.Hour)
		if err != nil || got != want {
			t.Errorf("delivery %d: first = %v, %v; want %v", i+1, got, err, want)
		}
	}
}
