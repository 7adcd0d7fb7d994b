package slack

import (
	"sync"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// dedupTTL is how long this process remembers a delivery (the core's
// Deliveries remember it across processes as long).
const dedupTTL = bot.DeliveryTTL

// once remembers keys for a while, so a redelivered event, an envelope
// delivered twice or a redelivered button press is handled once by this
// process, without a round trip; across processes the core decides
// behind it (bot.Deliveries). Memory is bounded: at most max keys, the
// oldest forgotten first.
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
