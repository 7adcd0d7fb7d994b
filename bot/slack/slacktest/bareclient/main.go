// Command bareclient is a bare slack-go Socket Mode client that acks every
// envelope and does nothing else: the baseline the Slack ack-latency
// benchmark (cmd/shiftwise-bot, scripts/bench.sh slack) runs beside the
// bot, each in a process of its own. It reads SLACK_APP_TOKEN,
// SLACK_BOT_TOKEN and SLACK_API_URL and runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/shiftwise/shiftwise-bot/bot/slack/slacktest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := slacktest.AckOnly(ctx, os.Getenv("SLACK_APP_TOKEN"), os.Getenv("SLACK_BOT_TOKEN"), os.Getenv("SLACK_API_URL")); err != nil {
		fmt.Fprintln(os.Stderr, "bareclient:", err)
		os.Exit(1)
	}
}
