package slacktest_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/shiftwise/shiftwise-bot/bot/slack/slacktest"
)

// smClient is a bare slack-go Socket Mode client pointed at the fake. It
// records every event it emits; with autoAck it acks every envelope at once.
type smClient struct {
	t   testing.TB
	api *slack.Client
	sm  *socketmode.Client
	ctx context.Context

	mu      sync.Mutex
	events  []socketmode.Event
	changed chan struct{}
}

func newAPI(s *slacktest.Server) *slack.Client {
	return slack.New(s.BotToken(), slack.OptionAppLevelToken(s.AppToken()), slack.OptionAPIURL(s.APIURL()))
}

func startClient(t testing.TB, s *slacktest.Server, autoAck bool, opts ...socketmode.Option) *smClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &smClient{t: t, api: newAPI(s), ctx: ctx, changed: make(chan struct{})}
	c.sm = socketmode.New(c.api, opts...)
	runDone := make(chan error, 1)
	go func() { runDone <- c.sm.RunContext(ctx) }()
	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-c.sm.Events:
				if autoAck && e.Request != nil && e.Request.EnvelopeID != "" {
					_ = c.sm.AckCtx(ctx, e.Request.EnvelopeID, nil)
				}
				c.mu.Lock()
				c.events = append(c.events, e)
				close(c.changed)
				c.changed = make(chan struct{})
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-runDone:
		case <-time.After(5 * time.Second):
			t.Errorf("socketmode client did not stop within 5s")
		}
		<-pumpDone
	})
	return c
}

// wait returns the first recorded event matching match, waiting up to timeout.
func (c *smClient) wait(timeout time.Duration, what string, match func(socketmode.Event) bool) socketmode.Event {
	c.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for _, e := range c.events {
			if match(e) {
				c.mu.Unlock()
				return e
			}
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			c.t.Fatalf("no %s event within %v", what, timeout)
		}
	}
}

// count returns how many recorded events match.
func (c *smClient) count(match func(socketmode.Event) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.events {
		if match(e) {
			n++
		}
	}
	return n
}

func ofType(t socketmode.EventType) func(socketmode.Event) bool {
	return func(e socketmode.Event) bool { return e.Type == t }
}

// envelope matches the event that carried envelope env.
func envelope(env slacktest.Envelope) func(socketmode.Event) bool {
	return func(e socketmode.Event) bool { return e.Request != nil && e.Request.EnvelopeID == env.ID }
}

func (c *smClient) ack(e socketmode.Event, payload any) {
	c.t.Helper()
	if err := c.sm.AckCtx(c.ctx, e.Request.EnvelopeID, payload); err != nil {
		c.t.Fatalf("ack: %v", err)
	}
}
