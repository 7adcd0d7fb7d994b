package slack

import (
	"context"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/bot/slack/slacktest"
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
)

// A press is used up only by being handled: a refused or failed press
// leaves the button as it was, for a later deliberate press (a new
// envelope and a new action_ts). Only a redelivery of one press and a
// second press while the first is still in flight are dropped.

// TestRefusedPressCanBePressedAgain: someone without a level presses
// Approve and is refused; they are granted the level (a policy reload)
// and press again: it is approved and runs once.
func TestRefusedPressCanBePressedAgain(t *testing.T) {
	a := newApprovalRig(t, nil)
	r, fake := a.rig, a.rig.fake
	r.slash(t, "C0OPS", "UOPS", "purge cache")
	req := r.messages(t, "C0OPS", 1)[0]
	id := postedAt(t, a.store, req.TS)

	click := slacktest.BlockAction{User: "UNEW", Channel: "C0OPS", MessageTS: req.TS, ActionID: bot.ActionApprove, Value: id}
	first := fake.BlockAction(click)
	msgs := r.messages(t, "C0OPS", 2)
	if m := msgs[1]; !m.Ephemeral || m.User != "UNEW" || !strings.Contains(texts(m), "Not approved") {
		t.Fatalf("the press without a level: %+v\n%s", m, texts(m))
	}
	pressesHandled(t, a.logs, 1)
	a.levels.grant("slack:UNEW", bot.Level1)

	second := fake.BlockAction(click)
	if first.ID == second.ID || string(first.Payload) == string(second.Payload) {
		t.Fatalf("the second press must be a new envelope with a new action_ts")
	}
	if m := waitText(t, fake, "C0OPS", "approved by slack:UNEW"); m.Ephemeral || m.ThreadTS != req.TS {
		t.Errorf("the press after the grant: %+v\n%s", m, texts(m))
	}
	if n := a.runs.Load(); n != 1 {
		t.Errorf("purge ran %d times; want 1", n)
	}
	if e := ignoredPresses(a.logs); len(e) > 0 {
		t.Errorf("a deliberate press was dropped: %q", e)
	}
	noViolations(t, r)
}

// TestFailedPressCanBePressedAgain: Approve pressed while the bot's
// database is down is answered "try again"; pressed again once it is
// back, it approves and runs once.
func TestFailedPressCanBePressedAgain(t *testing.T) {
	_, dbURL := storetest.OpenTest(t)
	proxy := newSwitchable(t, dbURL)
	s := storetest.Open(t, proxy.via(t, dbURL))
	a := newApprovalRigOn(t, s, nil, nil)
	r, fake := a.rig, a.rig.fake
	r.slash(t, "C0OPS", "UOPS", "purge cache")
	req := r.messages(t, "C0OPS", 1)[0]
	id := postedAt(t, s, req.TS)

	proxy.setDown(true)
	click := slacktest.BlockAction{User: "UDEV", Channel: "C0OPS", MessageTS: req.TS, ActionID: bot.ActionApprove, Value: id}
	fake.BlockAction(click)
	msgs := r.messages(t, "C0OPS", 2)
	if m := msgs[1]; !strings.Contains(texts(m), "Approval not decided") || !strings.Contains(texts(m), "try again") {
		t.Fatalf("the press while the database is down: %+v\n%s", m, texts(m))
	}
	if n := a.runs.Load(); n != 0 {
		t.Fatalf("purge ran %d times with the database down", n)
	}
	pressesHandled(t, a.logs, 1)
	proxy.setDown(false)
	waitStore(t, s, id)

	fake.BlockAction(click)
	if m := waitText(t, fake, "C0OPS", "approved by slack:UDEV"); m.Ephemeral || m.ThreadTS != req.TS {
		t.Errorf("the press after the database came back: %+v\n%s", m, texts(m))
	}
	if n := a.runs.Load(); n != 1 {
		t.Errorf("purge ran %d times; want 1", n)
	}
	if e := ignoredPresses(a.logs); len(e) > 0 {
		t.Errorf("a deliberate press was dropped: %q", e)
	}
	noViolations(t, r)
}

// TestRedeliveryAndConcurrentDoubleClickRunOnce: a second press of the
// same button by the same person while the first is still being handled
// is dropped; a redelivered press (the same envelope again, or the same
// payload in a new envelope) is dropped, also after it was handled; two
// people pressing at once are decided by the database: one runs it, the
// other hears it was already approved.
func TestRedeliveryAndConcurrentDoubleClickRunOnce(t *testing.T) {
	s, _ := storetest.OpenTest(t)
	entered := make(chan struct{})
	a := newApprovalRigOn(t, s, entered, nil)
	a.levels.grant("slack:UDEV2", bot.Level1)
	r, fake := a.rig, a.rig.fake
	r.slash(t, "C0OPS", "UOPS", "purge cache")
	req := r.messages(t, "C0OPS", 1)[0]
	id := postedAt(t, s, req.TS)

	click := slacktest.BlockAction{User: "UDEV", Channel: "C0OPS", MessageTS: req.TS, ActionID: bot.ActionApprove, Value: id}
	first := fake.BlockAction(click)
	select {
	case <-entered: // approved and running, not finished
	case <-time.After(wait):
		t.Fatal("purge did not start")
	}
	double := fake.BlockAction(click)
	waitLog(t, a.logs, "slack: button pressed again while its first press is still being handled; ignored", 1)
	again := fake.Redeliver(first)
	waitLog(t, a.logs, "slack: redelivered button press ignored", 1)
	a.release()
	if m := waitText(t, fake, "C0OPS", "approved by slack:UDEV"); m.ThreadTS != req.TS {
		t.Errorf("the approval: %+v\n%s", m, texts(m))
	}
	pressesHandled(t, a.logs, 1)
	// Handled, the press is still not run again by a redelivery, nor by
	// the same envelope delivered twice.
	for _, e := range []slacktest.Envelope{first, double, again} {
		if _, err := fake.WaitAck(e, 3*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	fake.Redeliver(double)
	fake.SendRaw("interactive", first.Payload, slacktest.WithEnvelopeID(first.ID))
	waitLog(t, a.logs, "slack: redelivered button press ignored", 3)

	// Two people at once: the database decides.
	r.slash(t, "C0OPS", "UOPS", "purge more")
	msgs := r.messages(t, "C0OPS", 3)
	req2 := msgs[2]
	id2 := postedAt(t, s, req2.TS)
	for _, u := range []string{"UDEV", "UDEV2"} {
		fake.BlockAction(slacktest.BlockAction{User: u, Channel: "C0OPS", MessageTS: req2.TS, ActionID: bot.ActionApprove, Value: id2})
	}
	pressesHandled(t, a.logs, 3)
	msgs = r.messages(t, "C0OPS", 5)
	var approved, already int
	for _, m := range msgs[3:] {
		if strings.Contains(texts(m), "Purged") {
			approved++
		}
		if m.Ephemeral && strings.Contains(texts(m), "already approved") {
			already++
		}
	}
	if approved != 1 || already != 1 {
		t.Errorf("two presses racing: %d results, %d \"already approved\"; want 1 and 1: %+v", approved, already, msgs[3:])
	}
	if n := a.runs.Load(); n != 2 {
		t.Errorf("purge ran %d times for two requests", n)
	}
	if n := len(fake.Messages("C0OPS")); n != 5 {
		t.Errorf("%d messages; want 5", n)
	}
	noViolations(t, r)
}

// pressesHandled waits until the transport has handled n presses in all
// (answered them, and forgotten that they are in flight).
func pressesHandled(t *testing.T, h *logtest.Hook, n int) {
	t.Helper()
	waitLog(t, h, "slack: button press handled", n)
}

// waitText waits for a message in channel holding text and returns it.
func waitText(t *testing.T, fake *slacktest.Server, channel, text string) slacktest.Message {
	t.Helper()
	for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
		for _, m := range fake.Messages(channel) {
			if strings.Contains(texts(m), text) {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message in %s holds %q", channel, text)
		}
	}
}

// ignoredPresses returns the transport's log lines about presses it dropped.
func ignoredPresses(h *logtest.Hook) []string {
	var out []string
	for _, e := range h.AllEntries() {
		if strings.Contains(e.Message, "press") && strings.Contains(e.Message, "ignored") {
			out = append(out, e.Message)
		}
	}
	return out
}

// waitLog waits until the log holds n lines with this message.
func waitLog(t *testing.T, h *logtest.Hook, msg string, n int) {
	t.Helper()
	for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
		got := 0
		for _, e := range h.AllEntries() {
			if e.Message == msg {
				got++
			}
		}
		if got == n {
			return
		}
		if got > n || time.Now().After(deadline) {
			t.Fatalf("log lines %q: %d, want %d (log: %q)", msg, got, n, ignoredPresses(h))
		}
	}
}

// waitStore waits until the store answers again through its pool (the
// connections the proxy cut are replaced).
func waitStore(t *testing.T, s *store.Store, id string) {
	t.Helper()
	for deadline := time.Now().Add(wait); ; time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := s.Approval(ctx, id)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not answer again: %v", err)
		}
	}
}

// switchable is a TCP proxy to the real PostgreSQL that can be made to
// refuse: down closes every connection it carries and every new one,
// which is what the bot sees of a database that went away. The shared
// server itself is never touched.
type switchable struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newSwitchable(t *testing.T, dbURL string) *switchable {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &switchable{ln: ln, target: u.Host, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *switchable) serve(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

func (p *switchable) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]bool{}
	}
}

// via returns dbURL with its host replaced by the proxy's address.
func (p *switchable) via(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.ln.Addr().String()
	return u.String()
}

// TestRequesterWithdrawsByDeny: the requester's own Deny press withdraws
// the request, said publicly in its thread as a withdrawal; the approve
// that follows is refused privately, and nothing runs.
func TestRequesterWithdrawsByDeny(t *testing.T) {
	a := newApprovalRig(t, nil)
	r, fake := a.rig, a.rig.fake
	r.slash(t, "C0OPS", "UOPS", "purge cache")
	req := r.messages(t, "C0OPS", 1)[0]
	id := postedAt(t, a.store, req.TS)
	fake.BlockAction(slacktest.BlockAction{User: "UOPS", Channel: "C0OPS", MessageTS: req.TS, ActionID: bot.ActionDeny, Value: id})
	m := r.messages(t, "C0OPS", 2)[1]
	if all := texts(m); m.Ephemeral || m.ThreadTS != req.TS || !strings.Contains(all, "Withdrawn: purge ("+id+")") ||
		!strings.Contains(all, "withdrawn by slack:UOPS") || strings.Contains(strings.ToLower(all), "denied") {
		t.Errorf("the requester's Deny: %+v\n%s", m, all)
	}
	fake.BlockAction(slacktest.BlockAction{User: "UDEV", Channel: "C0OPS", MessageTS: req.TS, ActionID: bot.ActionApprove, Value: id})
	m = r.messages(t, "C0OPS", 3)[2]
	if !m.Ephemeral || m.User != "UDEV" || !strings.Contains(texts(m), "already withdrawn by slack:UOPS") {
		t.Errorf("approve after the withdrawal: %+v\n%s", m, texts(m))
	}
	if n := a.runs.Load(); n != 0 {
		t.Errorf("purge ran %d times", n)
	}
	noViolations(t, r)
}
