package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/bot/slack"
	"github.com/shiftwise/shiftwise-bot/bot/slack/slacktest"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
)

// The audit digest reaches SHIFTWISE_AUDIT_CHANNEL through the Slack
// transport's workspace, as main wires it.
func TestAuditDigestIsPostedToTheAuditChannel(t *testing.T) {
	fake := slacktest.New(t)
	reg, err := bot.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.Out = io.Discard
	eng, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: denyAll{}, Redactor: redact.New()})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := slack.New(slack.Options{AppToken: fake.AppToken(), BotToken: fake.BotToken(), APIURL: fake.APIURL(), Core: eng, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	fake.AddChannel("C0AUDIT", "audit")
	n := channelNotifier{p: sb.Workspace(), channel: "C0AUDIT"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Notify(ctx, "audit head 42 9f86d081884c7d65"); err != nil {
		t.Fatal(err)
	}
	msgs, err := fake.WaitMessages("C0AUDIT", 1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msgs[0].Text+string(msgs[0].Blocks), "9f86d081884c7d65") || msgs[0].Ephemeral {
		t.Fatalf("digest message: %+v", msgs[0])
	}
}

type denyAll struct{}

func (denyAll) Authorize(context.Context, string, *bot.Command, bot.Args) bot.Decision {
	return bot.Decision{}
}
