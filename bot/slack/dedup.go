package slack

import (
	"context"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Deliveries decides across processes whether a delivery is seen for the
// first time (main passes the bot's store: a conditional insert in
// PostgreSQL). Several bot replicas on one app then run a redelivered
// event, an envelope delivered twice or a double click once between them.
type Deliveries interface {
	FirstDelivery(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// dedupTTL is how long a delivery is remembered: well past Slack's
// redelivery window (three retries within minutes).
const dedupTTL = time.Hour

// deliveryTimeout bounds asking the database.
const deliveryTimeout = 3 * time.Second

// firstDelivery asks the shared database whether key, already new to
// this process, is new to every process. It runs off the ack path, in
// the handler's goroutine. Without a database, or when it does not
// answer, this process's own answer stands (logged): running a command
// a second time is better than losing it, and approvals are decided in
// the database anyway.
func (b *Bot) firstDelivery(ctx context.Context, key string) bool {
	if b.o.Deliveries == nil {
		return true
	}
	dctx, cancel := context.WithTimeout(ctx, deliveryTimeout)
	defer cancel()
	first, err := b.o.Deliveries.FirstDelivery(dctx, "slack:"+key, dedupTTL)
	if err != nil {
		b.log.WithFields(logrus.Fields{"key": key, "error": err.Error()}).Warn("slack: delivery dedup database did not answer; deciding in this process only")
		return true
	}
	if !first {
		b.log.WithField("key", key).Info("slack: delivery already handled by another process; ignored")
	}
	return first
}

// once remembers keys for a while, so a redelivered event, an envelope
// delivered twice or a redelivered button press is handled once by this
// process, without a round trip; across processes Deliveries decides
// behind it. Memory is bounded: at most max keys, the oldest forgotten
// first.
type once struct {
	mu    sync.Mutex
	ttl   time.Duration
	max   int
	seen  map[string]time.Time
	order []string // insertion order, for eviction
}

func newOnce(ttl time.Duration, max int) *once {
	return &once{ttl: ttl, max: max, seen: map[string]time.Time{}}
}

// first reports whether key is new (and records it); false means it was
// seen within the ttl.
func (o *once) first(key string, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if at, ok := o.seen[key]; ok && now.Sub(at) < o.ttl {
		return false
	}
	for len(o.order) > 0 && (len(o.seen) >= o.max || now.Sub(o.seen[o.order[0]]) >= o.ttl) {
		delete(o.seen, o.order[0])
		o.order = o.order[1:]
	}
	o.seen[key] = now
	o.order = append(o.order, key)
	return true
}

// inFlight holds the keys of what is being handled right now: a button
// pressed again while its first press is still being handled (a double
// click) is dropped, and nothing is remembered once it is done, so a
// press that was refused or failed never uses up the button.
type inFlight struct {
	mu   sync.Mutex
	keys map[string]bool
}

func newInFlight() *inFlight { return &inFlight{keys: map[string]bool{}} }

// start reports whether key was not in flight, and marks it so.
func (f *inFlight) start(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys[key] {
		return false
	}
	f.keys[key] = true
	return true
}

// done forgets key.
func (f *inFlight) done(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.keys, key)
}
