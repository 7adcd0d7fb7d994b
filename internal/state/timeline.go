package state

// This file is the incident timeline's recorder: entries go to the bot's
// database, else to the spool, and are drained from it in order.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/internal/spool"
	"github.com/shiftwise/shiftwise-bot/internal/storable"
)

// TimelineSpool is the durable spool the timeline falls back on while
// the bot's database is unreachable (internal/spool, adapted by SpoolTimeline):
// Append is durable before it returns; Replay hands the records over
// oldest first, forgets each one fn accepted, and stops at fn's first
// error, except one made by spool.SetAside: that record is set aside
// (kept in a file beside the spool for an operator) and the replay goes
// on; SetAside says how many were and where.
type TimelineSpool interface {
	Append(payload []byte) error
	Len() int
	Replay(ctx context.Context, fn func(ctx context.Context, payload []byte) error) (int, error)
	SetAside() (int, string)
}

// Timeline appends entries to the timeline of the incident open where
// they happened. An entry the database does not take goes to the spool,
// and while the spool holds entries, new ones follow them there, so that
// they reach the database in order; Flush (or Run) writes them back, each
// once: its idempotency key is fixed before it is first tried.
type Timeline struct {
	Store bot.Incidents // nil: nothing to append to, entries are spooled
	Spool TimelineSpool // nil: an entry the database refuses is lost (and logged)
	// Redact removes secrets from what is recorded (the engine's redactor).
	Redact func(string) string
	Log    logrus.FieldLogger
	Now    func() time.Time
	// AppendTimeout bounds one write to the database (default 2 s); a
	// database that does not answer within it sends entries to the spool
	// for RetryAfter (default 5 s) before it is tried again.
	AppendTimeout time.Duration
	RetryAfter    time.Duration

	mu        sync.Mutex
	downUntil time.Time
	link      func(channel, ts string) string // where an entry can be seen; set by SetLink
}

// SetLink gives entries without a link one to where they happened (the
// thread, else the channel); the Slack workspace's Link.
func (t *Timeline) SetLink(link func(channel, ts string) string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.link = link
}

// spooled is one spool record: the entry and the place it happened.
type spooled struct {
	Channel string            `json:"channel"`
	Thread  string            `json:"thread,omitempty"`
	Entry   bot.TimelineEntry `json:"entry"`
}

func (t *Timeline) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Timeline) log() logrus.FieldLogger {
	if t.Log == nil {
		l := logrus.New()
		l.Out = io.Discard
		return l
	}
	return t.Log
}

// newKey is a random idempotency key.
func newKey() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "tl-" + hex.EncodeToString(b)
}

// Record appends e to the timeline of the incident that holds channel (or
// its thread) at e.At. It returns nil when the database took it (or no
// incident holds the place), an error wrapping bot.ErrSpooled when it waits in
// the spool, and another error when it was lost.
func (t *Timeline) Record(ctx context.Context, channel, thread string, e bot.TimelineEntry) error {
	if e.Key == "" {
		e.Key = newKey()
	}
	if e.At.IsZero() {
		e.At = t.now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	if t.Redact != nil {
		e.What, e.Outcome = t.Redact(e.What), t.Redact(e.Outcome)
	}
	// Storable first (before clipping by runes or the spool's JSON, which
	// would both turn invalid UTF-8 into U+FFFD without a word).
	e.Key, e.Who, e.Kind, e.What = storable.Text(e.Key), storable.Text(e.Who), storable.Text(e.Kind), storable.Text(e.What)
	e.Outcome, e.Approver, e.Link = storable.Text(e.Outcome), storable.Text(e.Approver), storable.Text(e.Link)
	channel, thread = storable.Text(channel), storable.Text(thread)
	e.What, e.Outcome = clipText(e.What, 2000), clipText(e.Outcome, 500)
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.Link == "" && t.link != nil && channel != "console" {
		e.Link = t.link(channel, thread)
	}
	var dbErr error
	if t.Store != nil && !t.backlogLocked() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), durationOr(t.AppendTimeout, 2*time.Second))
		_, _, dbErr = t.Store.AppendTimelineAt(ctx, channel, thread, e)
		cancel()
		if dbErr == nil {
			return nil
		}
		if !storable.Refused(dbErr) {
			// Refused for good is not an outage: the replay sets it aside.
			t.downUntil = t.now().Add(durationOr(t.RetryAfter, 5*time.Second))
		}
	}
	if t.Spool == nil {
		err := fmt.Errorf("timeline entry %s not recorded: %v, and there is no spool", e.Key, dbErr)
		t.log().WithFields(logrus.Fields{"channel": channel, "error": err.Error()}).Error("TIMELINE ENTRY LOST")
		return err
	}
	payload, err := json.Marshal(spooled{Channel: channel, Thread: thread, Entry: e})
	if err == nil {
		err = t.Spool.Append(payload)
	}
	if err != nil {
		err = fmt.Errorf("timeline entry %s not recorded: database: %v; spool: %w", e.Key, dbErr, err)
		t.log().WithFields(logrus.Fields{"channel": channel, "error": err.Error()}).Error("TIMELINE ENTRY LOST")
		return err
	}
	if storable.Refused(dbErr) {
		// Set it aside now rather than keep the entries after it waiting.
		if _, err := t.flushLocked(ctx); err == nil && t.Spool.Len() == 0 {
			n, where := t.Spool.SetAside()
			return fmt.Errorf("timeline entry %s: the bot's database refused it for good (%v); it is set aside in %s (%d there)", e.Key, dbErr, where, n)
		}
	}
	if dbErr != nil {
		t.log().WithFields(logrus.Fields{"channel": channel, "error": dbErr.Error()}).Warn("timeline entry spooled: the bot's database did not take it")
	}
	return fmt.Errorf("timeline entry %s: %w", e.Key, bot.ErrSpooled)
}

// backlogLocked: entries go to the spool while it holds older ones, or
// while the database is known to be down.
func (t *Timeline) backlogLocked() bool {
	return t.Spool != nil && (t.Spool.Len() > 0 || t.now().Before(t.downUntil))
}

// Pending is how many entries wait in the spool.
func (t *Timeline) Pending() int {
	if t.Spool == nil {
		return 0
	}
	return t.Spool.Len()
}

// SetAside is how many spooled entries the database refused for good
// (kept in the file it names, beside the spool, for an operator).
func (t *Timeline) SetAside() (int, string) {
	if t.Spool == nil {
		return 0, ""
	}
	return t.Spool.SetAside()
}

// Flush writes the spooled entries to the database, oldest first, each
// once, and returns how many it wrote; it stops at the first the database
// does not take because it does not answer (they stay spooled). An entry
// it refuses for good (storable.ErrRefused), or an unreadable record, is
// set aside and the entries after it are written.
func (t *Timeline) Flush(ctx context.Context) (int, error) {
	if t.Spool == nil || t.Store == nil {
		return 0, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.flushLocked(ctx)
}

func (t *Timeline) flushLocked(ctx context.Context) (int, error) {
	if t.Spool == nil || t.Store == nil || t.Spool.Len() == 0 {
		return 0, nil
	}
	_, where := t.Spool.SetAside()
	aside := func(err error) error {
		t.log().WithFields(logrus.Fields{"set_aside": where, "error": err.Error()}).
			Error("TIMELINE ENTRY SET ASIDE: the bot's database refuses it for good; the entries after it are written. It is kept in the set-aside file for an operator")
		return spool.SetAside(err)
	}
	n, err := t.Spool.Replay(ctx, func(ctx context.Context, payload []byte) error {
		var s spooled
		if err := json.Unmarshal(payload, &s); err != nil || s.Entry.Key == "" {
			// Unreadable: keeping it would block every later entry.
			return aside(fmt.Errorf("unreadable timeline spool record: %v", err))
		}
		actx, cancel := context.WithTimeout(ctx, durationOr(t.AppendTimeout, 2*time.Second))
		defer cancel()
		_, _, err := t.Store.AppendTimelineAt(actx, s.Channel, s.Thread, s.Entry)
		if storable.Refused(err) {
			return aside(fmt.Errorf("timeline entry %s: %w", s.Entry.Key, err))
		}
		return err
	})
	if err != nil {
		t.downUntil = t.now().Add(durationOr(t.RetryAfter, 5*time.Second))
		return n, fmt.Errorf("replay the timeline spool: %w", err)
	}
	t.downUntil = time.Time{}
	if n > 0 {
		t.log().WithField("entries", n).Info("spooled timeline entries written")
	}
	return n, nil
}

// Run flushes the spool every interval until ctx ends (and once at once).
func (t *Timeline) Run(ctx context.Context, every time.Duration) {
	if t.Spool == nil || t.Store == nil {
		return
	}
	tick := time.NewTicker(durationOr(every, 5*time.Second))
	defer tick.Stop()
	for {
		if _, err := t.Flush(ctx); err != nil && ctx.Err() == nil {
			t.log().WithField("error", err.Error()).Warn("timeline spool not flushed yet")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// TimelineAuditor passes every audit entry on to Next and also puts it on
// the timeline of the incident open where it happened: every command run
// in an incident's channel or thread, every approval request and
// decision, every result. The incident commands record their own entries.
type TimelineAuditor struct {
	Next     bot.Auditor // may be nil
	Timeline *Timeline
}

// Append implements bot.Auditor. The timeline entry is written alongside
// the audit entry, not after it: the command's answer waits for the
// slower of the two, not their sum.
func (a TimelineAuditor) Append(ctx context.Context, e bot.AuditEntry) error {
	var wg sync.WaitGroup
	if a.Timeline != nil && e.Command != "incident" && !strings.HasPrefix(e.Command, "incident ") {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = a.Timeline.Record(ctx, e.Channel, e.Thread, EntryFromAudit(e))
		}()
	}
	var err error
	if a.Next != nil {
		err = a.Next.Append(ctx, e)
	}
	wg.Wait()
	return err
}

// EntryFromAudit is the timeline entry of an audit entry: a command run,
// an approval request or decision, or an approved run's result.
func EntryFromAudit(e bot.AuditEntry) bot.TimelineEntry {
	kind := "command"
	switch e.Decision {
	case "pending", "approved", "denied", "withdrawn", "expired":
		kind = "approval"
	case "executed", "failed":
		kind = "result"
	}
	what := e.Args
	if what == "" {
		what = e.Command
	}
	outcome := e.Decision
	if e.Result != "" && e.Result != e.Decision {
		outcome += ": " + e.Result
	}
	if e.Duration > 0 {
		outcome += fmt.Sprintf(" (%s)", e.Duration.Round(time.Millisecond))
	}
	return bot.TimelineEntry{Who: e.Subject, Kind: kind, What: what, Outcome: outcome, Approver: e.Approver}
}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// clipText keeps at most n runes of s.
func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	r = []rune(redact.Builtin(s)) // a secret cut in two is no longer recognised
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n]) + "…"
}

// SpoolTimeline is a TimelineSpool over the bot's durable spool; its
// records are of kind "timeline".
func SpoolTimeline(s *spool.Spool) TimelineSpool { return spoolTimeline{s} }

type spoolTimeline struct{ s *spool.Spool }

func (t spoolTimeline) Append(payload []byte) error {
	_, err := t.s.Append("timeline", payload)
	return err
}

func (t spoolTimeline) Len() int { return t.s.Len() }

func (t spoolTimeline) SetAside() (int, string) { return t.s.SetAsideCount(), t.s.SetAsidePath() }

func (t spoolTimeline) Replay(ctx context.Context, fn func(ctx context.Context, payload []byte) error) (int, error) {
	return t.s.Replay(ctx, func(ctx context.Context, r spool.Record) error { return fn(ctx, r.Payload) })
}
