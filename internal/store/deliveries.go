package store

import (
	"context"
	"fmt"
	"time"
)

// sweepEvery is how often, at most, one Store deletes delivery keys older than their ttl.
const sweepEvery = time.Minute

// FirstDelivery reports whether key (a Slack event_id, or a message ts +
// action_id + value) is seen for the first time within ttl: true exactly
// once per key across all processes sharing the database. A key last seen
// longer than ttl ago counts as new again, whether or not it was swept
// yet; keys older than ttl are deleted now and then.
func (s *Store) FirstDelivery(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("first delivery: ttl %v must be positive", ttl)
	}
	s.sweep(ctx, ttl)
	key = indexed(key)
	tag, err := s.pool.Exec(ctx, `INSERT INTO deliveries (key, seen_at) VALUES ($1, now())
		ON CONFLICT (key) DO UPDATE SET seen_at = now()
		WHERE deliveries.seen_at < now() - $2 * interval '1 microsecond'`,
		key, ttl.Microseconds())
	if err != nil {
		return false, fmt.Errorf("first delivery of %q: %w", key, classify(err))
	}
	return tag.RowsAffected() == 1, nil
}

// sweep deletes keys older than ttl, at most once every sweepEvery per
// Store. It is housekeeping: its failure changes no answer.
func (s *Store) sweep(ctx context.Context, ttl time.Duration) {
	now := time.Now().UnixNano()
	last := s.lastSweep.Load()
	if now-last < int64(sweepEvery) || !s.lastSweep.CompareAndSwap(last, now) {
		return
	}
	_, _ = s.pool.Exec(ctx, `DELETE FROM deliveries WHERE seen_at < now() - $1 * interval '1 microsecond'`,
		ttl.Microseconds())
}
