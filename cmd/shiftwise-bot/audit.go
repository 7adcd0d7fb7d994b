package main

import (
	"context"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/audittrail"
	"github.com/shiftwise/shiftwise-bot/internal/spool"
	"github.com/shiftwise/shiftwise-bot/internal/store/botstore"
)

// auditPoster is what SHIFTWISE_AUDIT_CHANNEL needs from the Slack
// transport: posting a message to a channel. bot/slack does not offer it
// yet; once it does, the digest is posted without further wiring.
type auditPoster interface {
	PostMessage(ctx context.Context, channel string, m bot.Message) error
}

type channelNotifier struct {
	p       auditPoster
	channel string
}

func (n channelNotifier) Notify(ctx context.Context, text string) error {
	return n.p.PostMessage(ctx, n.channel, bot.Message{Title: "Audit digest", Text: text})
}

// auditChannel has the trail post the running digest to channel.
func (a *app) auditChannel(transport any, channel string, log logrus.FieldLogger) {
	if channel == "" || a.trail == nil {
		return
	}
	p, ok := transport.(auditPoster)
	if !ok {
		log.Warn("SHIFTWISE_AUDIT_CHANNEL: this Slack transport cannot post to a channel yet; the audit digest goes to the log and SHIFTWISE_DATA_DIR only")
		return
	}
	a.trail.SetNotifier(channelNotifier{p: p, channel: channel})
}

// openTrail opens the spool under SHIFTWISE_DATA_DIR and the audit trail
// over the (lazily connected) store. An unusable data directory is logged:
// the bot runs, and audit entries the database does not take are lost.
func (a *app) openTrail(cfg config, lazy *botstore.Lazy, log logrus.FieldLogger) error {
	sp, err := spool.Open(filepath.Join(cfg.DataDir, "audit-spool"))
	if err != nil {
		log.WithField("error", err.Error()).Error("SHIFTWISE_DATA_DIR: no spool; audit entries are LOST while the bot's database is down")
		sp = nil
	} else {
		a.closers = append(a.closers, func() { sp.Close() })
	}
	trail, err := audittrail.New(audittrail.Options{Store: lazy.Store, Spool: sp,
		DigestPath: filepath.Join(cfg.DataDir, audittrail.DigestFile), Log: log})
	if err != nil {
		return err
	}
	a.trail = trail
	// A bot ending with entries spooled writes them if the database answers
	// by then (one-shot mode has no replayer); else the next start does.
	a.closers = append(a.closers, func() {
		if trail.Pending() == 0 || lazy.Store() == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := trail.Flush(ctx); err != nil {
			log.WithFields(logrus.Fields{"error": err.Error(), "waiting": trail.Pending()}).Warn("spooled audit entries stay in the spool for the next start")
		}
	})
	return nil
}
