package bot

import (
	"context"
	"time"

	"github.com/sirupsen/logrus"
)

// Deliveries decides across processes whether a delivery is seen for the
// first time (the bot's store: a conditional insert in PostgreSQL).
// Several bot replicas on one Slack app then run a redelivered event, an
// envelope delivered twice or a double click once between them. A
// transport remembers what its own process has seen and asks the Engine
// only about what is new to it (Request.Delivery, Action.Delivery).
type Deliveries interface {
	FirstDelivery(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// DeliveryTTL is how long a delivery is remembered: well past Slack's
// redelivery window (three retries within minutes).
const DeliveryTTL = time.Hour

// deliveryTimeout bounds asking the store whether a delivery is new; the
// request's own deadline bounds it too.
const deliveryTimeout = 3 * time.Second

// Place is where an answer goes: a channel, and a thread in it ("" for
// the channel itself).
type Place struct {
	Channel, Thread string
	// Request, when set, is the approval request whose thread this is: a
	// typed `approve <id>` or `deny <id>` is answered where that request
	// was posted, not where it was typed.
	Request string
}

// firstDelivery asks the store whether key, already new to the
// transport's process, is new to every process. Without a store, or when
// it does not answer by the earlier of deliveryTimeout and the request's
// deadline, this process's own answer stands (logged): running a command
// a second time is better than losing it, and approvals are decided in
// the store anyway.
func (e *Engine) firstDelivery(ctx context.Context, key string, deadline time.Time, log logrus.FieldLogger) bool {
	if e.deliveries == nil || key == "" {
		return true
	}
	dctx, cancel := context.WithDeadline(ctx, earliest(time.Now().Add(deliveryTimeout), deadline))
	defer cancel()
	first, err := e.deliveries.FirstDelivery(dctx, key, DeliveryTTL)
	if err != nil {
		log.WithFields(logrus.Fields{"delivery": key, "error": err.Error()}).Warn("delivery dedup database did not answer; deciding in this process only")
		return true
	}
	if !first {
		log.WithField("delivery", key).Info("delivery already handled by another process; ignored")
	}
	return first
}

// earliest is the earlier of two instants, ignoring a zero one.
func earliest(a, b time.Time) time.Time {
	if b.IsZero() || (!a.IsZero() && a.Before(b)) {
		return a
	}
	return b
}
