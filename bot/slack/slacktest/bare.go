package slacktest

import (
	"context"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// BareClient connects slack-go's Socket Mode client to the fake and acks
// every envelope, doing nothing else: the baseline that benchmarks of the
// bot's ack latency compare with. It returns a function that stops it.
func BareClient(t testing.TB, s *Server) (stop func()) {
	t.Helper()
	api := slack.New(s.BotToken(), slack.OptionAppLevelToken(s.AppToken()), slack.OptionAPIURL(s.APIURL()))
	sm := socketmode.New(api)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		go func() { _ = sm.RunContext(ctx) }()
		for {
			select {
			case evt := <-sm.Events:
				if evt.Request != nil && evt.Request.EnvelopeID != "" {
					_ = sm.Ack(*evt.Request)
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	if err := s.WaitConnected(1, 10*time.Second); err != nil {
		cancel()
		t.Fatal(err)
	}
	return func() { cancel(); <-done }
}
