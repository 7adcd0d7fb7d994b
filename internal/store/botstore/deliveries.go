package botstore

import (
	"context"
	"errors"
	"time"
)

// LazyDeliveries decides first deliveries (Slack's redelivered events,
// duplicated envelopes, double clicks) across processes in a Lazy store:
// the Slack transport's Options.Deliveries.
type LazyDeliveries struct{ L *Lazy }

// errNotConnected says the bot's database has not answered yet; the Slack
// transport then decides in its own process.
var errNotConnected = errors.New("the bot's database is not connected yet")

// FirstDelivery reports whether key is seen for the first time within ttl
// by any process sharing the database.
func (d LazyDeliveries) FirstDelivery(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	st := d.L.Store()
	if st == nil {
		return false, errNotConnected
	}
	return st.FirstDelivery(ctx, key, ttl)
}
