package slacktest

import (
	"context"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// AckOnly runs slack-go's Socket Mode client and acks every envelope,
// doing nothing else, until ctx ends: the baseline that benchmarks of a
// bot's ack latency compare with. cmd bareclient runs it in a process of
// its own, as the bot runs in its own.
func AckOnly(ctx context.Context, appToken, botToken, apiURL string) error {
	api := slack.New(botToken, slack.OptionAppLevelToken(appToken), slack.OptionAPIURL(apiURL))
	sm := socketmode.New(api)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sm.RunContext(ctx) }()
	for {
		select {
		case evt := <-sm.Events:
			if evt.Request != nil && evt.Request.EnvelopeID != "" {
				_ = sm.Ack(*evt.Request)
			}
		case err := <-done:
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// BareClient runs AckOnly against the fake in this process and waits until
// it is connected. It returns a function that stops it.
func BareClient(t testing.TB, s *Server) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = AckOnly(ctx, s.AppToken(), s.BotToken(), s.APIURL())
	}()
	if err := s.WaitConnected(1, 10*time.Second); err != nil {
		cancel()
		t.Fatal(err)
	}
	return func() { cancel(); <-done }
}
