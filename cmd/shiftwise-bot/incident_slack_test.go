package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/bot/slack/slacktest"
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
)

const incidentWait = 60 * time.Second // hang guard for every wait below

// waitPosted waits for a message in channel (not private) whose text or
// blocks hold want, and returns its text and blocks.
func waitPosted(t *testing.T, fake *slacktest.Server, channel, want string) slacktest.Message {
	t.Helper()
	for deadline := time.Now().Add(incidentWait); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, m := range fake.Messages(channel) {
			if !m.Ephemeral && strings.Contains(m.Text+string(m.Blocks), want) {
				return m
			}
		}
	}
	var all []string
	for _, m := range fake.Messages(channel) {
		all = append(all, m.Text)
	}
	t.Fatalf("no message in %s with %q; have:\n%s", channel, want, strings.Join(all, "\n---\n"))
	return slacktest.Message{}
}

// TestIncidentInSlackWithRealCommands is the third scene with the
// commands as main wires them, over the Slack fake, on a throwaway project:
// an L1 starts an incident; in its channel a real `health` runs and a real
// `rollback web` is asked by the L1 and approved by an L2; both land on the
// timeline in order with requester and approver, `incident timeline` shows
// them, and `incident resolve` uploads the postmortem listing the rollback
// with requester and approver.
func TestIncidentInSlackWithRealCommands(t *testing.T) {
	d := newDeployedWeb(t, "g, slack:UOPS, level1\ng, slack:UDEV, level2\n")
	fake := slacktest.New(t)
	fake.AddUser(slacktest.User{ID: "UOPS", Name: "ops"})
	fake.AddUser(slacktest.User{ID: "UDEV", Name: "dev"})
	fake.AddChannel("C0OPS", "ops")
	env := copyEnv(d.env, "SHIFTWISE_OPS_CHANNEL", "C0OPS")
	env["SHIFTWISE_SLACK_CHANNELS"] = "C0OPS" // the incident's channel is allowed because it is one
	runSlackBot(t, env, fake)
	slash := func(channel, user, line string) {
		t.Helper()
		e := fake.SlashCommand(slacktest.SlashCommand{User: user, Channel: channel, Text: line})
		if _, err := fake.WaitAck(e, 3*time.Second); err != nil {
			t.Fatalf("no ack for %q: %v", line, err)
		}
	}

	slash("C0OPS", "UOPS", "incident start sev2 web errors")
	waitPosted(t, fake, "C0OPS", "INC-1 opened: web errors")
	name := "inc-" + time.Now().UTC().Format("20060102") + "-web-errors"
	var ch string
	for _, c := range fake.Channels() {
		if c.Name == name {
			ch = c.ID
		}
	}
	if ch == "" {
		t.Fatalf("no channel #%s: %+v", name, fake.Channels())
	}
	waitPosted(t, fake, ch, "INC-1 · SEV2 · web errors")

	st := storetest.Open(t, env["SHIFTWISE_DATABASE_URL"])
	ctx := context.Background()
	open, err := st.OpenIncidents(ctx)
	if err != nil || len(open) != 1 || open[0].Channel != ch {
		t.Fatalf("open incidents: %+v %v", open, err)
	}
	inc := open[0]
	// timeline waits until ok holds for the incident's stored timeline.
	timeline := func(what string, ok func([]store.TimelineEntry) bool) []store.TimelineEntry {
		t.Helper()
		var entries []store.TimelineEntry
		for deadline := time.Now().Add(incidentWait); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			entries, _, err = st.Timeline(ctx, inc.ID, 0, 1000)
			if err == nil && ok(entries) {
				return entries
			}
		}
		t.Fatalf("timeline never had %s: %+v %v", what, entries, err)
		return nil
	}
	find := func(entries []store.TimelineEntry, ok func(store.TimelineEntry) bool) int {
		for i, e := range entries {
			if ok(e) {
				return i
			}
		}
		return -1
	}
	isHealth := func(e store.TimelineEntry) bool {
		return e.Kind == "command" && e.What == "health" && e.Who == "slack:UOPS" && e.Approver == ""
	}
	isRollback := func(e store.TimelineEntry) bool {
		return e.Kind == "result" && e.What == "rollback web" && e.Who == "slack:UOPS" && e.Approver == "slack:UDEV" &&
			strings.HasPrefix(e.Outcome, "executed")
	}

	slash(ch, "UOPS", "health")
	waitPosted(t, fake, ch, "· health ·")
	timeline("the health", func(es []store.TimelineEntry) bool { return find(es, isHealth) >= 0 })

	slash(ch, "UOPS", "rollback web")
	req := waitPosted(t, fake, ch, "Approval needed: rollback")
	if d.image(t) != d.v2ID {
		t.Fatal("web rolled back before the approval")
	}
	id := approvalID(t, req.Text+string(req.Blocks))
	fake.BlockAction(slacktest.BlockAction{User: "UDEV", Channel: ch, MessageTS: req.TS, ActionID: bot.ActionApprove, Value: id})
	waitPosted(t, fake, ch, "Rollback: PASSED")
	if got := d.image(t); got != d.v1ID {
		t.Fatalf("after the approved rollback web runs %s, want v1 %s", got, d.v1ID)
	}
	entries := timeline("the approved rollback's result", func(es []store.TimelineEntry) bool { return find(es, isRollback) >= 0 })
	h, asked, approved, done := find(entries, isHealth), find(entries, func(e store.TimelineEntry) bool {
		return e.Kind == "approval" && e.What == "rollback web" && e.Who == "slack:UOPS" && strings.HasPrefix(e.Outcome, "pending")
	}), find(entries, func(e store.TimelineEntry) bool {
		return e.Kind == "approval" && e.What == "rollback web" && e.Approver == "slack:UDEV" && strings.HasPrefix(e.Outcome, "approved")
	}), find(entries, isRollback)
	if h < 0 || asked < 0 || approved < 0 || done < 0 || !(h < asked && asked < approved && approved < done) {
		t.Errorf("timeline out of order or incomplete: health %d, asked %d, approved %d, done %d\n%+v", h, asked, approved, done, entries)
	}

	slash(ch, "UOPS", "incident timeline")
	page := waitPosted(t, fake, ch, "INC-1 timeline")
	for _, w := range []string{"health", "rollback web", "slack:UOPS", "slack:UDEV"} {
		if !strings.Contains(page.Text+string(page.Blocks), w) {
			t.Errorf("`incident timeline` lacks %q:\n%s\n%s", w, page.Text, page.Blocks)
		}
	}

	slash(ch, "UOPS", "incident resolve rolled back web")
	waitPosted(t, fake, ch, "INC-1 resolved after")
	var md string
	for deadline := time.Now().Add(incidentWait); md == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, f := range fake.Files() {
			if f.Channel == ch && f.Name == "inc-1-postmortem.md" {
				md = string(f.Content)
			}
		}
	}
	for _, w := range []string{"# INC-1 postmortem (draft): web errors", "rolled back web", "`health`",
		"`rollback web`: requested by slack:UOPS, approved by slack:UDEV"} {
		if !strings.Contains(md, w) {
			t.Errorf("postmortem lacks %q:\n%s", w, md)
		}
	}
	if v := fake.Violations(); len(v) > 0 {
		t.Errorf("Slack limits violated: %q", v)
	}
}
