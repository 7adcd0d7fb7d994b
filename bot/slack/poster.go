package slack

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/slack-go/slack"
	"golang.org/x/time/rate"
)

// poster sends Web API writes one channel at a time, in order, within
// Slack's per-channel rate (about one message a second, short bursts
// allowed), and retries a 429 after its Retry-After. A burst of results
// queues per channel; it never holds up acks, which go over the socket.
type poster struct {
	log      logrus.FieldLogger
	every    time.Duration
	burst    int
	retries  int
	mu       sync.Mutex
	channels map[string]*channelQueue
	wg       sync.WaitGroup
	quit     chan struct{}
}

type channelQueue struct {
	jobs    chan job
	limiter *rate.Limiter
}

type job struct {
	ctx  context.Context
	what string
	fn   func(ctx context.Context) error
	done chan error
}

func newPoster(log logrus.FieldLogger, every time.Duration, burst int) *poster {
	return &poster{log: log, every: every, burst: burst, retries: 5, channels: map[string]*channelQueue{}, quit: make(chan struct{})}
}

// do runs fn in channel's queue and waits for it to finish.
func (p *poster) do(ctx context.Context, channel, what string, fn func(ctx context.Context) error) error {
	j := job{ctx: ctx, what: what, fn: fn, done: make(chan error, 1)}
	q := p.queue(channel)
	select {
	case q.jobs <- j:
	case <-p.quit:
		return fmt.Errorf("%s in %s: the bot is shutting down", what, channel)
	case <-ctx.Done():
		return fmt.Errorf("%s in %s: %w", what, channel, ctx.Err())
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%s in %s: %w", what, channel, ctx.Err())
	}
}

func (p *poster) queue(channel string) *channelQueue {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.channels[channel]
	if q == nil {
		q = &channelQueue{jobs: make(chan job, 64), limiter: rate.NewLimiter(rate.Every(p.every), p.burst)}
		p.channels[channel] = q
		p.wg.Add(1)
		go p.drain(channel, q)
	}
	return q
}

func (p *poster) drain(channel string, q *channelQueue) {
	defer p.wg.Done()
	for {
		select {
		case j := <-q.jobs:
			j.done <- p.run(channel, q, j)
		case <-p.quit:
			for {
				select {
				case j := <-q.jobs: // queued before the quit: still sent
					j.done <- p.run(channel, q, j)
				default:
					return
				}
			}
		}
	}
}

func (p *poster) run(channel string, q *channelQueue, j job) error {
	for attempt := 0; ; attempt++ {
		if err := q.limiter.Wait(j.ctx); err != nil {
			return fmt.Errorf("%s in %s: %w", j.what, channel, err)
		}
		err := j.fn(j.ctx)
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) || attempt >= p.retries {
			return err
		}
		wait := max(rl.RetryAfter, time.Second)
		p.log.WithFields(logrus.Fields{"channel": channel, "call": j.what, "retry_after": wait.String()}).Warn("slack rate limit; waiting")
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-j.ctx.Done():
			t.Stop()
			return fmt.Errorf("%s in %s: rate limited and gave up: %w", j.what, channel, j.ctx.Err())
		}
	}
}

// close stops the queues after their pending jobs; later calls to do
// fail at once.
func (p *poster) close() {
	close(p.quit)
	p.wg.Wait()
}
