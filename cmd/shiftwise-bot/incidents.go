package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/commands"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/internal/spool"
	"github.com/shiftwise/shiftwise-bot/internal/state"
)

// incidentConfig is the incidents' part of the environment.
type incidentConfig struct {
	OpsChannel  string
	OnCallGroup string
	Escalations map[bot.Level]commands.Escalation
}

var slackGroupID = regexp.MustCompile(`^S[A-Z0-9]{2,}$`)

// loadIncidentConfig reads the ops channel, the on-call group and the
// escalation groups (the runbook's contacts are built in).
func loadIncidentConfig(get func(string) string) (incidentConfig, error) {
	c := incidentConfig{OpsChannel: get("SHIFTWISE_OPS_CHANNEL"), OnCallGroup: get("SHIFTWISE_ONCALL_GROUP"),
		Escalations: commands.DefaultEscalations()}
	var errs []string
	if c.OpsChannel != "" && !slackChannelID.MatchString(c.OpsChannel) {
		errs = append(errs, fmt.Sprintf("SHIFTWISE_OPS_CHANNEL: %q is not a channel ID (like C0123ABCD)", c.OpsChannel))
	}
	group := func(name string, dst *string) {
		v := get(name)
		if v != "" && !slackGroupID.MatchString(v) {
			errs = append(errs, fmt.Sprintf("%s: %q is not a user group ID (like S0123ABCD)", name, v))
			return
		}
		*dst = v
	}
	group("SHIFTWISE_ONCALL_GROUP", &c.OnCallGroup)
	for _, l := range []bot.Level{bot.Level2, bot.Level3} {
		e := c.Escalations[l]
		group(fmt.Sprintf("SHIFTWISE_ESCALATION_L%d_GROUP", int(l)), &e.Group)
		c.Escalations[l] = e
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return c, nil
}

// newIncidents builds the incident commands and their timeline, without
// a store until attachIncidentStore.
func (a *Main) newIncidents(cfg config, red *redact.Redactor, log logrus.FieldLogger) {
	tl := &state.Timeline{Redact: red.Redact, Log: log.WithField("component", "timeline")}
	a.incidents = &commands.Incidents{Timeline: tl, OpsChannel: cfg.Incidents.OpsChannel, OnCallGroup: cfg.Incidents.OnCallGroup,
		Escalations: cfg.Incidents.Escalations, Log: log.WithField("component", "incidents"), Redact: red.Redact,
		Health: func(ctx context.Context) bot.Message { return a.Health.Run(ctx, cfg.Health.CheckTimeout) }}
}

// openTimelineSpool opens the timeline's spool under SHIFTWISE_DATA_DIR:
// entries the bot's database does not take wait there. Without it they
// are logged and lost.
func (a *Main) openTimelineSpool(cfg config, log logrus.FieldLogger) {
	dir := filepath.Join(cfg.DataDir, "timeline-spool")
	sp, err := spool.Open(dir)
	if err != nil {
		log.WithField("error", err.Error()).Error("SHIFTWISE_DATA_DIR: the timeline spool cannot be opened; timeline entries are lost while the bot's database is down")
		return
	}
	a.timelineSpool = sp
	a.recorder().Spool = state.SpoolTimeline(sp)
}

// recorder is the incidents' timeline recorder, as newIncidents built it.
func (a *Main) recorder() *state.Timeline { return a.incidents.Timeline.(*state.Timeline) }

// attachIncidentStore gives the incidents the bot's store and returns the
// auditor for the engine: next, also writing to the open incident's
// timeline.
func (a *Main) attachIncidentStore(st bot.Incidents, next bot.Auditor) bot.Auditor {
	tl := a.recorder()
	tl.Store = st
	a.incidents.Store = tl.Store
	a.timeline = tl
	// A bot ending (one-shot runs too) writes what waits in the spool if
	// the database answers by then; else the next start does.
	a.flushTimelineAtExit = func() {
		if tl.Pending() == 0 || (a.lazy != nil && storeAtExit(a.lazy) == nil) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeExitFlush)
		defer cancel()
		if _, err := tl.Flush(ctx); err != nil {
			a.incidents.Log.WithFields(logrus.Fields{"error": err.Error(), "waiting": tl.Pending()}).Warn("spooled timeline entries stay in the spool for the next start")
		}
	}
	return state.TimelineAuditor{Next: next, Timeline: tl}
}

// flushTimeline writes spooled timeline entries back while the bot runs.
func (a *Main) flushTimeline(ctx context.Context) {
	if a.timeline == nil {
		return
	}
	a.background.Go(func() { a.timeline.Run(ctx, 5*time.Second) })
}
