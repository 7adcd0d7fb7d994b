package commands

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/bot/slack"
	"github.com/shiftwise/shiftwise-bot/bot/slack/slacktest"
)

const slackWait = 15 * time.Second // hang guard for every wait below

type slackIncidentRig struct {
	*incidentRig
	fake *slacktest.Server
}

// newSlackIncidentRig is the real core, store, spool and Slack transport,
// with the Slack fake as the workspace: users UOPS (Level 1), UDEV
// (Level 2), UONCALL (the on-call group S0ONCALL), and the ops channel.
func newSlackIncidentRig(t *testing.T) *slackIncidentRig {
	t.Helper()
	r := &slackIncidentRig{incidentRig: newIncidentRig(t, nil), fake: slacktest.New(t)}
	for _, u := range []string{"UOPS", "UDEV", "UONCALL", "UARCH"} {
		r.fake.AddUser(slacktest.User{ID: u, Name: strings.ToLower(u[1:])})
	}
	r.fake.AddUserGroup("S0ONCALL", "UONCALL")
	r.fake.AddUserGroup("S0DEV", "UDEV")
	r.fake.AddChannel("C0OPS", "ops")
	sb, err := slack.New(slack.Options{AppToken: r.fake.AppToken(), BotToken: r.fake.BotToken(), APIURL: r.fake.APIURL(), Core: r.e,
		PostEvery: time.Millisecond, PostBurst: 100, Channels: []string{"C0OPS"}, AlsoAllowed: r.in.Holds})
	if err != nil {
		t.Fatal(err)
	}
	r.in.SetWorkspace(sb.Workspace())
	r.fake.Serve(t, 1, slackWait, sb.Run)
	return r
}

func (r *slackIncidentRig) slash(t *testing.T, channel, user, line string) {
	t.Helper()
	env := r.fake.SlashCommand(slacktest.SlashCommand{User: user, Channel: channel, Text: line})
	if _, err := r.fake.WaitAck(env, 3*time.Second); err != nil {
		t.Fatalf("no ack for %q: %v", line, err)
	}
}

// waitMessage waits for a message in channel whose blocks or text hold want.
func (r *slackIncidentRig) waitMessage(t *testing.T, channel, want string) slacktest.Message {
	t.Helper()
	for deadline := time.Now().Add(slackWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, m := range r.fake.Messages(channel) {
			if strings.Contains(blockText(m), want) {
				return m
			}
		}
	}
	var all []string
	for _, m := range r.fake.Messages(channel) {
		all = append(all, blockText(m))
	}
	t.Fatalf("no message in %s with %q; have:\n%s", channel, want, strings.Join(all, "\n---\n"))
	return slacktest.Message{}
}

// waitTop waits for a message outside any thread whose text holds want.
func (r *slackIncidentRig) waitTop(t *testing.T, channel, want string) {
	t.Helper()
	for deadline := time.Now().Add(slackWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, m := range r.fake.Messages(channel) {
			if m.ThreadTS == "" && strings.Contains(blockText(m), want) {
				return
			}
		}
	}
	t.Fatalf("no message outside threads in %s with %q", channel, want)
}

// waitEntry waits for a timeline entry of incident id matching ok.
func (r *slackIncidentRig) waitEntry(t *testing.T, id int64, what string, ok func(bot.TimelineEntry) bool) bot.TimelineEntry {
	t.Helper()
	for deadline := time.Now().Add(slackWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, e := range r.timeline(t, id) {
			if ok(e) {
				return e
			}
		}
	}
	t.Fatalf("no timeline entry %s on INC-%d: %+v", what, id, r.timeline(t, id))
	return bot.TimelineEntry{}
}

// blockText is a message's notification text and its blocks' texts.
func blockText(m slacktest.Message) string { return m.Text + "\n" + slacktest.Texts(m) }

func (r *slackIncidentRig) channelNamed(t *testing.T, name string) slacktest.Channel {
	t.Helper()
	for _, c := range r.fake.Channels() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no channel #%s in %+v", name, r.fake.Channels())
	return slacktest.Channel{}
}

func (r *slackIncidentRig) onlyOpen(t *testing.T) bot.Incident {
	t.Helper()
	open, err := r.store.OpenIncidents(context.Background())
	if err != nil || len(open) != 1 {
		t.Fatalf("open incidents: %+v %v", open, err)
	}
	return open[0]
}

func noSlackViolations(t *testing.T, f *slacktest.Server) {
	t.Helper()
	if v := f.Violations(); len(v) > 0 {
		t.Errorf("Slack limits violated: %q", v)
	}
}

// TestIncidentInSlack is the third scene over the Slack fake: the
// channel, invitations, header and announcement; a health and an approved
// rollback in the channel, and a mention in one of its threads, land on
// the timeline with requester and approver; resolve uploads the
// postmortem draft to the channel.
func TestIncidentInSlack(t *testing.T) {
	r := newSlackIncidentRig(t)
	r.slash(t, "C0OPS", "UOPS", `incident start sev2 "API 500s"`)
	reply := r.waitMessage(t, "C0OPS", "INC-1 opened: API 500s")
	if reply.Ephemeral {
		t.Errorf("the start's reply is private: %+v", reply)
	}
	name := "inc-" + time.Now().UTC().Format("20060102") + "-api-500s"
	ch := r.channelNamed(t, name)
	for _, u := range []string{"UOPS", "UONCALL"} {
		if !strings.Contains(strings.Join(ch.Members, ","), u) {
			t.Errorf("%s not invited: %v", u, ch.Members)
		}
	}
	header := r.waitMessage(t, ch.ID, "INC-1 · SEV2 · API 500s")
	for _, w := range []string{"Commander", "slack:UOPS", "Started", "Health now", "FAILED", "api /health", "<@UOPS>"} {
		if !strings.Contains(blockText(header), w) {
			t.Errorf("header lacks %q:\n%s", w, blockText(header))
		}
	}
	ann := r.waitMessage(t, "C0OPS", "Incident opened by slack:UOPS in #"+name)
	if !strings.Contains(blockText(ann), "<!subteam^S0ONCALL>") {
		t.Errorf("announcement does not notify the on-call group:\n%s", blockText(ann))
	}
	inc := r.onlyOpen(t)
	if inc.Channel != ch.ID || inc.ThreadTS != "" {
		t.Fatalf("incident place: %+v", inc)
	}

	r.slash(t, ch.ID, "UOPS", "probe api")
	r.waitEntry(t, inc.ID, "probe", func(e bot.TimelineEntry) bool {
		return e.What == "probe api" && e.Who == "slack:UOPS" && strings.HasPrefix(e.Outcome, "ran: ok")
	})
	r.slash(t, ch.ID, "UOPS", "purge sessions")
	req := r.waitMessage(t, ch.ID, "Approval needed: purge")
	id := approvalID.FindString(blockText(req))
	r.fake.BlockAction(slacktest.BlockAction{User: "UDEV", Channel: ch.ID, MessageTS: req.TS, ActionID: bot.ActionApprove, Value: id})
	r.waitMessage(t, ch.ID, "approved by slack:UDEV")
	r.waitEntry(t, inc.ID, "the approved purge's result", func(e bot.TimelineEntry) bool {
		return e.Kind == "result" && e.What == "purge sessions" && e.Who == "slack:UOPS" && e.Approver == "slack:UDEV"
	})
	// A mention in a thread of the incident's channel.
	r.fake.Mention(slacktest.Mention{User: "UOPS", Channel: ch.ID, ThreadTS: header.TS, Text: "<@" + r.fake.BotUserID() + "> probe thread"})
	r.waitEntry(t, inc.ID, "the mention, linked to its thread", func(e bot.TimelineEntry) bool {
		return e.What == "probe thread" && e.Link == "https://slack.com/archives/"+ch.ID+"/p"+strings.ReplaceAll(header.TS, ".", "")
	})
	// A command elsewhere is not on the timeline.
	r.slash(t, "C0OPS", "UOPS", "probe elsewhere")
	r.waitTop(t, "C0OPS", "· probe ·")
	r.slash(t, ch.ID, "UOPS", "incident escalate L2 the API needs a developer")
	page := r.waitMessage(t, ch.ID, "escalated to Level 2")
	if !strings.Contains(blockText(page), "<!subteam^S0DEV>") || !strings.Contains(blockText(page), "dev@company.com") {
		t.Errorf("escalation page:\n%s", blockText(page))
	}
	if !strings.Contains(strings.Join(r.channelNamed(t, name).Members, ","), "UDEV") {
		t.Errorf("the escalated group was not invited")
	}

	r.slash(t, ch.ID, "UOPS", "incident status rolling back the API")
	r.waitMessage(t, "C0OPS", "rolling back the API") // the update reaches the ops channel too
	r.slash(t, ch.ID, "UOPS", "incident resolve rolled back the API")
	r.waitMessage(t, ch.ID, "INC-1 resolved after")
	var md string
	for deadline := time.Now().Add(slackWait); md == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, f := range r.fake.Files() {
			if f.Channel == ch.ID && f.Name == "inc-1-postmortem.md" {
				md = string(f.Content)
			}
		}
	}
	for _, w := range []string{"# INC-1 postmortem (draft): API 500s", "rolled back the API", "Impact window", "probe api", "probe thread",
		"`purge sessions`: requested by slack:UOPS, approved by slack:UDEV", "escalated to Level 2", "rolling back the API", "## Follow-ups"} {
		if !strings.Contains(md, w) {
			t.Errorf("postmortem lacks %q:\n%s", w, md)
		}
	}
	if strings.Contains(md, "elsewhere") {
		t.Errorf("a command in the ops channel is on the timeline:\n%s", md)
	}
	r.waitMessage(t, "C0OPS", "INC-1 resolved after")
	r.slash(t, ch.ID, "UOPS", "incident resolve again")
	again := r.waitMessage(t, ch.ID, "No incident is open here")
	if !again.Ephemeral {
		t.Errorf("second resolve answered publicly: %+v", again)
	}
	noSlackViolations(t, r.fake)
}

// TestIncidentChannelNameTaken: a clash gets a suffix.
func TestIncidentChannelNameTaken(t *testing.T) {
	r := newSlackIncidentRig(t)
	name := "inc-" + time.Now().UTC().Format("20060102") + "-cache-misses"
	r.fake.AddChannel("C0TAKEN", name)
	r.slash(t, "C0OPS", "UOPS", "incident start sev3 cache misses")
	r.waitMessage(t, "C0OPS", "INC-1 opened")
	ch := r.channelNamed(t, name+"-2")
	if inc := r.onlyOpen(t); inc.Channel != ch.ID {
		t.Errorf("incident in %s, channel %s", inc.Channel, ch.ID)
	}
	r.waitMessage(t, ch.ID, "INC-1 · SEV3 · cache misses")
	// The allowlist names only the ops channel: the incident's channel
	// takes commands, another channel does not.
	r.slash(t, ch.ID, "UOPS", "probe here")
	r.waitTop(t, ch.ID, "· probe ·")
	r.fake.AddChannel("C0OTHER", "random")
	r.slash(t, "C0OTHER", "UOPS", "probe there")
	if m := r.waitMessage(t, "C0OTHER", "don't run commands in this channel"); !m.Ephemeral {
		t.Errorf("refusal: %+v", m)
	}
}

// TestIncidentWhereChannelsAreForbidden: the incident lives in a thread
// of the ops channel; commands in that thread are on its timeline, the
// rest of the channel is not.
func TestIncidentWhereChannelsAreForbidden(t *testing.T) {
	r := newSlackIncidentRig(t)
	r.fake.Fail("conversations.create", "restricted_action", 1)
	r.slash(t, "C0OPS", "UOPS", "incident start sev1 payments down")
	header := r.waitMessage(t, "C0OPS", "INC-1 · SEV1 · payments down")
	reply := r.waitMessage(t, "C0OPS", "INC-1 opened")
	if !strings.Contains(blockText(reply), "thread of the ops channel") {
		t.Errorf("reply does not say where: %s", blockText(reply))
	}
	for _, c := range r.fake.Channels() {
		if strings.HasPrefix(c.Name, "inc-") {
			t.Errorf("a channel was created: %+v", c)
		}
	}
	inc := r.onlyOpen(t)
	if inc.Channel != "C0OPS" || inc.ThreadTS != header.TS {
		t.Fatalf("incident place: %+v, header %s", inc, header.TS)
	}
	r.fake.Mention(slacktest.Mention{User: "UOPS", Channel: "C0OPS", ThreadTS: header.TS, Text: "<@" + r.fake.BotUserID() + "> probe in thread"})
	r.waitEntry(t, inc.ID, "the mention in the thread", func(e bot.TimelineEntry) bool { return e.What == "probe in thread" })
	// An approval asked for and given in the thread.
	r.fake.Mention(slacktest.Mention{User: "UOPS", Channel: "C0OPS", ThreadTS: header.TS, Text: "<@" + r.fake.BotUserID() + "> purge cache"})
	req := r.waitMessage(t, "C0OPS", "Approval needed: purge")
	if req.ThreadTS != header.TS {
		t.Errorf("request not in the thread: %+v", req)
	}
	r.fake.BlockAction(slacktest.BlockAction{User: "UDEV", Channel: "C0OPS", MessageTS: req.TS, ActionID: bot.ActionApprove, Value: approvalID.FindString(blockText(req))})
	r.waitEntry(t, inc.ID, "the approved purge in the thread", func(e bot.TimelineEntry) bool {
		return e.Kind == "result" && e.What == "purge cache" && e.Approver == "slack:UDEV"
	})
	r.slash(t, "C0OPS", "UOPS", "probe in channel")
	r.waitTop(t, "C0OPS", "· probe ·") // answered: its audit entry was handled
	r.fake.Mention(slacktest.Mention{User: "UOPS", Channel: "C0OPS", ThreadTS: header.TS, Text: "<@" + r.fake.BotUserID() + "> incident resolve fixed"})
	r.waitEntry(t, inc.ID, "resolved", func(e bot.TimelineEntry) bool { return e.Kind == "resolved" })
	for _, e := range r.timeline(t, inc.ID) {
		if e.What == "probe in channel" {
			t.Errorf("the channel outside the thread is on the timeline: %+v", e)
		}
	}
	found := false
	for deadline := time.Now().Add(slackWait); !found && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, f := range r.fake.Files() {
			found = found || f.Channel == "C0OPS" && f.ThreadTS == header.TS && f.Name == "inc-1-postmortem.md"
		}
	}
	if !found {
		t.Errorf("postmortem not uploaded in the thread: %+v", r.fake.Files())
	}
}

// TestIncidentStartFailsCleanly: a channel Slack will not create leaves
// no record, and a second start in an incident channel changes nothing.
func TestIncidentStartFailsCleanly(t *testing.T) {
	r := newSlackIncidentRig(t)
	r.fake.Fail("conversations.create", "fatal_error", 1)
	r.slash(t, "C0OPS", "UOPS", "incident start sev2 api down")
	r.waitMessage(t, "C0OPS", "could not be created")
	if open, _ := r.store.OpenIncidents(context.Background()); len(open) != 0 {
		t.Fatalf("an incident without its channel: %+v", open)
	}
	r.slash(t, "C0OPS", "UOPS", "incident start sev2 api down")
	r.waitMessage(t, "C0OPS", "opened: api down")
	inc := r.onlyOpen(t)
	r.slash(t, inc.Channel, "UOPS", "incident start sev1 another one")
	msg := r.waitMessage(t, inc.Channel, "already open here")
	if !msg.Ephemeral {
		t.Errorf("refusal is public: %+v", msg)
	}
	r.slash(t, inc.Channel, "UOPS", "incident commander <@UNOBODY>")
	r.waitMessage(t, inc.Channel, "UNOBODY is not a member")
	r.slash(t, inc.Channel, "UOPS", "incident commander <@UDEV|dev>")
	r.waitMessage(t, inc.Channel, "commander: slack:UDEV")
	if got := r.onlyOpen(t); got.Commander != "slack:UDEV" || got.Severity != 2 {
		t.Errorf("after the refusals: %+v", got)
	}
	n := 0
	for _, c := range r.fake.Channels() {
		if strings.HasPrefix(c.Name, "inc-") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d incident channels, want 1", n)
	}
}

// TestTimelineOf10000EntriesPagesWithinSlackLimits: every page of a long
// timeline is one message within Slack's limits.
func TestTimelineOf10000EntriesPagesWithinSlackLimits(t *testing.T) {
	r := newSlackIncidentRig(t)
	r.slash(t, "C0OPS", "UOPS", "incident start sev2 long one")
	r.waitMessage(t, "C0OPS", "opened: long one")
	inc := r.onlyOpen(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := w; n < 10_000; n += 8 {
				e := bot.TimelineEntry{Key: fmt.Sprintf("bulk-%d", n), At: inc.StartedAt.Add(time.Duration(n+1) * time.Millisecond), Who: "slack:UOPS",
					Kind: "command", What: fmt.Sprintf("health #%d --timeout 5s %s", n, strings.Repeat("x<&>", 10)+strings.Repeat("x", 90)), Outcome: "ran: ok (1.2s) " + strings.Repeat("y", 100)}
				if _, _, err := r.store.AppendTimelineAt(ctx, inc.Channel, "", e); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, page := range []int{1, 201, 401} {
		before := len(r.fake.Messages(inc.Channel))
		r.slash(t, inc.Channel, "UOPS", fmt.Sprintf("incident timeline --page %d", page))
		m := r.waitMessage(t, inc.Channel, fmt.Sprintf("Page %d of 401", page))
		if page == 401 && !strings.Contains(blockText(m), "#9999") {
			t.Errorf("last page lacks the last entry:\n%s", blockText(m))
		}
		if got := len(r.fake.Messages(inc.Channel)) - before; got > 2 {
			t.Errorf("page %d took %d messages", page, got)
		}
	}
	for _, f := range r.fake.Files() {
		if f.Channel == inc.Channel {
			t.Errorf("a page went up as a file: %s", f.Name)
		}
	}
	noSlackViolations(t, r.fake)
}

// TestIncidentRecordFailsAfterItsChannel: the bot's database refuses to
// open the incident after Slack made its channel. The channel is archived
// (no orphan channel), no record stays (not even the reservation), the user
// gets one sentence; with the database back a start works, beside the
// archived channel whose name Slack keeps.
func TestIncidentRecordFailsAfterItsChannel(t *testing.T) {
	r := newSlackIncidentRig(t)
	r.store.failActivate.Store(true)
	r.slash(t, "C0OPS", "UOPS", "incident start sev2 db gone")
	reply := r.waitMessage(t, "C0OPS", "nothing was started")
	if text := blockText(reply); !strings.Contains(text, "the bot's database did not take the incident") || strings.Contains(text, "opened:") {
		t.Errorf("reply:\n%s", text)
	}
	name := "inc-" + time.Now().UTC().Format("20060102") + "-db-gone"
	ch := r.channelNamed(t, name)
	calls, err := r.fake.WaitCalls("conversations.archive", 1, slackWait)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || calls[0].Param("channel") != ch.ID || calls[0].Error != "" {
		t.Errorf("archive calls: %+v", calls)
	}
	if ch = r.channelNamed(t, name); !ch.Archived {
		t.Errorf("the channel without its record is not archived: %+v", ch)
	}
	if msgs := r.fake.Messages(ch.ID); len(msgs) != 0 {
		t.Errorf("the undone channel got messages: %+v", msgs)
	}
	for _, m := range r.fake.Messages("C0OPS") {
		if strings.Contains(blockText(m), "Incident opened by") {
			t.Errorf("an announcement for an incident that was not opened: %s", blockText(m))
		}
	}
	if n := len(r.fake.Calls("conversations.invite")); n != 0 {
		t.Errorf("%d invitations to the undone channel", n)
	}
	if open, err := r.store.OpenIncidents(context.Background()); err != nil || len(open) != 0 {
		t.Fatalf("open incidents after the failed start: %+v %v", open, err)
	}
	// The reservation is gone: the real store can no longer open it.
	id := r.store.reserved.Load()
	if id == 0 {
		t.Fatal("ActivateIncident was never called")
	}
	if got, err := r.store.Incidents.ActivateIncident(context.Background(), id, "C0LATE", "", ""); err == nil {
		t.Fatalf("the reserved INC-%d survived the failed start: %+v", id, got)
	}

	r.store.failActivate.Store(false)
	r.slash(t, "C0OPS", "UOPS", "incident start sev2 db gone")
	r.waitMessage(t, "C0OPS", "opened: db gone")
	again := r.channelNamed(t, name+"-2")
	if inc := r.onlyOpen(t); inc.Channel != again.ID || again.Archived {
		t.Errorf("incident %+v in channel %+v", inc, again)
	}
	noSlackViolations(t, r.fake)
}

// When Slack also refuses to archive the channel that lost its record, the
// user is told the channel stays and must be archived by hand.
func TestIncidentChannelThatCannotBeArchivedIsNamed(t *testing.T) {
	r := newSlackIncidentRig(t)
	r.store.failActivate.Store(true)
	r.fake.Fail("conversations.archive", "not_authed", 1)
	r.slash(t, "C0OPS", "UOPS", "incident start sev2 db gone again")
	reply := r.waitMessage(t, "C0OPS", "archive it by hand")
	name := "inc-" + time.Now().UTC().Format("20060102") + "-db-gone-again"
	ch := r.channelNamed(t, name)
	if text := blockText(reply); !strings.Contains(text, ch.ID) || !strings.Contains(text, "could not be archived") {
		t.Errorf("reply does not name the channel left behind:\n%s", text)
	}
	if ch.Archived {
		t.Errorf("channel archived although Slack refused: %+v", ch)
	}
}
