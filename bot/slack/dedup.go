package slack

import (
	"sync"
	"time"
)

// once remembers keys for a while, so a redelivered event, an envelope
// delivered twice or a double-clicked button is handled once by this
// process. (Across processes the bot's database decides; see the
// approvals capability.) Memory is bounded: at most max keys, the oldest
// forgotten first.
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
