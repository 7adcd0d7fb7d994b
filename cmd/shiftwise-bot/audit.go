package main

import (
	"context"
	"path/filepath"

	"github.com/sirupsen/logrus"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/commands"
	"github.com/shiftwise/shiftwise-bot/internal/audittrail"
	"github.com/shiftwise/shiftwise-bot/internal/spool"
	"github.com/shiftwise/shiftwise-bot/internal/store/botstore"
)

// auditPoster is what SHIFTWISE_AUDIT_CHANNEL needs from the Slack
// transport: posting a message to a channel (bot.Workspace has it).
type auditPoster interface {
	Post(ctx context.Context, channel, thread string, m bot.Message, notify ...string) (string, error)
}

type channelNotifier struct {
	p       auditPoster
	channel string
}

func (n channelNotifier) Notify(ctx context.Context, text string) error {
	_, err := n.p.Post(ctx, n.channel, "", bot.Message{Title: "Audit digest", Text: text})
	return err
}

// auditChannel has the trail post the running digest to channel.
func (a *Main) auditChannel(p auditPoster, channel string) {
	if channel == "" || a.trail == nil || p == nil {
		return
	}
	a.trail.SetNotifier(channelNotifier{p: p, channel: channel})
}

// openTrail opens the spool under SHIFTWISE_DATA_DIR and the audit trail
// over the (lazily connected) store. An unusable data directory is logged:
// the bot runs, and audit entries the database does not take are lost.
func (a *Main) openTrail(cfg config, lazy *botstore.Lazy, log logrus.FieldLogger) error {
	sp, err := spool.Open(filepath.Join(cfg.DataDir, "audit-spool"))
	if err != nil {
		log.WithField("error", err.Error()).Error("SHIFTWISE_DATA_DIR: no spool; audit entries are LOST while the bot's database is down")
		sp = nil
	} else {
		a.auditSpool = sp
	}
	trail, err := audittrail.New(audittrail.Options{Store: lazy.Store, Wait: lazy.Wait, Spool: sp,
		DigestPath: filepath.Join(cfg.DataDir, audittrail.DigestFile), Log: log})
	if err != nil {
		return err
	}
	a.trail = trail
	// A bot ending with entries spooled writes them if the database answers
	// by then (one-shot mode has no replayer; every entry is spooled first);
	// else the next start does.
	a.flushTrailAtExit = func() {
		if trail.Pending() == 0 || storeAtExit(lazy) == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeExitFlush)
		defer cancel()
		if _, err := trail.Flush(ctx); err != nil {
			log.WithFields(logrus.Fields{"error": err.Error(), "waiting": trail.Pending()}).Warn("spooled audit entries stay in the spool for the next start")
		}
	}
	return nil
}

// reportRecords has `health` say when the bot's own records wait in its
// spools or were set aside, refused for good by its database.
func (a *Main) reportRecords() {
	if a.trail == nil || a.Health == nil {
		return
	}
	trail, tl := a.trail, a.timeline
	a.Health.BotRecords = func() []bot.Check {
		var waiting, aside int
		var where string
		if tl != nil {
			waiting = tl.Pending()
			aside, where = tl.SetAside()
		}
		return commands.BotRecordsCheck(trail.AuditSpool(), waiting, aside, where)
	}
}
