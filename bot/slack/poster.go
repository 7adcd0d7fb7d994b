package slack

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/slack-go/slack"
	"golang.org/x/time/rate"
)

// poster sends Web API writes one channel at a time, in order, within
// Slack's per-channel rate (about one message a second, short bursts
// allowed), and retries a 429 after its Retry-After. A burst of results
// queues per channel; it never holds up acks, which go over the socket.
// Each call runs in its caller's goroutine (a worker, at the workers'
// lower priority) once it is that channel's turn: callers wait in
// arrival order.
type poster struct {
	log      logrus.FieldLogger
	every    time.Duration
	burst    int
	retries  int
	mu       sync.Mutex
	channels map[string]*channelQueue
	closed   atomic.Bool
}

type channelQueue struct {
	turn    chan struct{} // capacity 1: holding it is this channel's turn
	limiter *rate.Limiter
}

func newPoster(log logrus.FieldLogger, every time.Duration, burst int) *poster {
	return &poster{log: log, every: every, burst: burst, retries: 5, channels: map[string]*channelQueue{}}
}

// do runs fn when it is channel's turn and its rate allows, and returns
// what fn returned (after retrying 429s).
func (p *poster) do(ctx context.Context, channel, what string, fn func(ctx context.Context) error) error {
	if p.closed.Load() {
		return fmt.Errorf("%s in %s: the bot is shutting down", what, channel)
	}
	q := p.queue(channel)
	select {
	case q.turn <- struct{}{}: // senders blocked here are served first come, first served
	case <-ctx.Done():
		return fmt.Errorf("%s in %s: %w", what, channel, ctx.Err())
	}
	defer func() { <-q.turn }()
	return p.run(ctx, channel, q, what, fn)
}

func (p *poster) queue(channel string) *channelQueue {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.channels[channel]
	if q == nil {
		q = &channelQueue{turn: make(chan struct{}, 1), limiter: rate.NewLimiter(rate.Every(p.every), p.burst)}
		p.channels[channel] = q
	}
	return q
}

func (p *poster) run(ctx context.Context, channel string, q *channelQueue, what string, fn func(ctx context.Context) error) error {
	for attempt := 0; ; attempt++ {
		if err := q.limiter.Wait(ctx); err != nil {
			return fmt.Errorf("%s in %s: %w", what, channel, err)
		}
		err := fn(ctx)
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) || attempt >= p.retries {
			return err
		}
		wait := max(rl.RetryAfter, time.Second)
		p.log.WithFields(logrus.Fields{"channel": channel, "call": what, "retry_after": wait.String()}).Warn("slack rate limit; waiting")
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s in %s: rate limited and gave up: %w", what, channel, ctx.Err())
		}
	}
}

// close makes later calls fail at once; calls already made finish.
func (p *poster) close() {
	p.closed.Store(true)
}
