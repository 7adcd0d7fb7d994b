// Package audittrail writes the bot's audit entries: to its database when
// it answers, else to the local spool (internal/spool) under
// SHIFTWISE_DATA_DIR, from which a background replayer writes them to the
// database in order, once, when it is back. It also keeps the audit log's
// running digest outside the database — the latest (entry ID, hash) in a
// file, in the bot's log and, optionally, in an audit channel — so that
// `audit verify` can tell a consistently rewritten log from the real one.
package audittrail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/spool"
	"github.com/shiftwise/shiftwise-bot/internal/storable"
	"github.com/shiftwise/shiftwise-bot/internal/store"
)

// SpoolKind is the spool record kind of an audit entry.
const SpoolKind = "audit"

// DigestFile is the name of the running digest's file in the data directory.
const DigestFile = "audit-head"

// Notifier posts the running digest where the database cannot change it
// (an audit channel). The Slack transport implements it; see main.
type Notifier interface {
	Notify(ctx context.Context, text string) error
}

// Options configure a Trail.
type Options struct {
	// Store returns the bot's store, nil while it is unreachable.
	Store func() *store.Store
	// Wait, when set, returns the store once it has answered, waiting at
	// most until ctx ends (botstore.Lazy.Wait): what reads the log uses it.
	Wait func(ctx context.Context) *store.Store
	// Spool keeps entries the database did not take. Without one (the
	// data directory is unusable) such entries are lost, and Append says so.
	Spool *spool.Spool
	// DigestPath is the file the latest (ID, hash) is written to. Required.
	DigestPath string
	Log        logrus.FieldLogger
	// Notifier, when set, is sent the latest digest at most once per
	// NotifyEvery (default one minute) while the log grows.
	Notifier    Notifier
	NotifyEvery time.Duration
	// Timeout bounds one database write (default 5 s).
	Timeout time.Duration
	// Retry is how often the replayer tries while entries wait (default 5 s).
	Retry time.Duration
}

// Trail is a bot.Auditor that never loses an entry it accepted.
type Trail struct {
	o        Options
	instance string
	seq      atomic.Uint64
	kick     chan struct{}

	notifier atomic.Pointer[Notifier]

	mu       sync.Mutex // orders digest writes
	head     store.Digest
	notified store.Digest
	failing  atomic.Bool // the last replay failed (for the log's sake)

	lastMu  sync.Mutex
	lastErr error // why entries wait: the last write or replay that failed; nil once one succeeds
}

var _ bot.Auditor = (*Trail)(nil)

// New returns a Trail; call Run in a running bot to replay and notify.
func New(o Options) (*Trail, error) {
	if o.DigestPath == "" || o.Store == nil || o.Log == nil {
		return nil, errors.New("audittrail: needs a store, a digest path and a logger")
	}
	if o.NotifyEvery <= 0 {
		o.NotifyEvery = time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Retry <= 0 {
		o.Retry = 5 * time.Second
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("audittrail: instance id: %w", err)
	}
	t := &Trail{o: o, instance: "d" + hex.EncodeToString(b), kick: make(chan struct{}, 1)}
	if o.Notifier != nil {
		t.SetNotifier(o.Notifier)
	}
	return t, nil
}

// spooled is an audit entry as it waits in the spool.
type spooled struct {
	Key      string        `json:"key,omitempty"` // set when a direct write was tried first
	At       time.Time     `json:"at"`
	Subject  string        `json:"subject"`
	Channel  string        `json:"channel"`
	Command  string        `json:"command"`
	Args     string        `json:"args"`
	Decision string        `json:"decision"`
	Approver string        `json:"approver,omitempty"`
	Result   string        `json:"result"`
	Duration time.Duration `json:"duration_ns"`
}

// Append makes e durable without waiting on the database: with a spool it
// appends e there (fsynced) and kicks the replayer, which writes it to the
// database in the background, in order and once (the spool record's ID is
// its idempotency key). A database that is down, or accepts connections
// and never answers, therefore never sits in the path of a reply. Without
// a spool (the data directory is unusable) it writes to the database
// directly, within Timeout. It fails only when nothing took the entry.
func (t *Trail) Append(ctx context.Context, e bot.AuditEntry) error {
	now := time.Now().UTC()
	// Storable before the spool too: its JSON would turn invalid UTF-8
	// into U+FFFD without a word.
	e.Subject, e.Channel, e.Command, e.Args = storable.Text(e.Subject), storable.Text(e.Channel), storable.Text(e.Command), storable.Text(e.Args)
	e.Decision, e.Approver, e.Result = storable.Text(e.Decision), storable.Text(e.Approver), storable.Text(e.Result)
	if t.o.Spool == nil {
		key := fmt.Sprintf("%s-%d", t.instance, t.seq.Add(1))
		dbErr := error(bot.ErrStoreUnavailable)
		if st := t.o.Store(); st != nil {
			wctx, cancel := context.WithTimeout(ctx, t.o.Timeout)
			got, err := st.Append(wctx, toStore(e, key, time.Time{}))
			cancel()
			if err == nil {
				t.noteHead(got)
				return nil
			}
			dbErr = err
		}
		return fmt.Errorf("audit entry: the database did not take it and there is no spool (SHIFTWISE_DATA_DIR): %w", dbErr)
	}
	payload, err := json.Marshal(spooled{At: now, Subject: e.Subject, Channel: e.Channel, Command: e.Command,
		Args: e.Args, Decision: e.Decision, Approver: e.Approver, Result: e.Result, Duration: e.Duration})
	if err != nil {
		return fmt.Errorf("audit entry: encode for the spool: %w", err)
	}
	r, err := t.o.Spool.Append(SpoolKind, payload)
	if err != nil {
		return fmt.Errorf("audit entry: the spool did not take it: %w", err)
	}
	t.o.Log.WithFields(logrus.Fields{"spool_id": r.ID, "waiting": t.o.Spool.Len()}).
		Debug("audit entry spooled; the replayer writes it to the bot's database")
	t.Kick()
	return nil
}

func toStore(e bot.AuditEntry, key string, occurred time.Time) store.Entry {
	return store.Entry{Subject: e.Subject, Channel: e.Channel, Command: e.Command, Args: e.Args,
		Decision: e.Decision, Approver: e.Approver, Result: e.Result, Duration: e.Duration,
		Key: key, Occurred: occurred}
}

// Kick asks the replayer to try now.
func (t *Trail) Kick() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// noteErr keeps why entries wait (nil: the last write went through).
func (t *Trail) noteErr(err error) {
	t.lastMu.Lock()
	t.lastErr = err
	t.lastMu.Unlock()
}

// LastError is why entries wait in the spool: the error of the last write
// or replay that failed, nil when the last one went through.
func (t *Trail) LastError() error {
	t.lastMu.Lock()
	defer t.lastMu.Unlock()
	return t.lastErr
}

// SetAside returns how many entries the database refused for good, and
// the file beside the spool that keeps them ("" without a spool).
func (t *Trail) SetAside() (int, string) {
	if t.o.Spool == nil {
		return 0, ""
	}
	return t.o.Spool.SetAsideCount(), t.o.Spool.SetAsidePath()
}

// Pending returns how many entries wait in the spool.
func (t *Trail) Pending() int {
	if t.o.Spool == nil {
		return 0
	}
	return t.o.Spool.Len()
}

// Flush writes the spooled entries to the database, oldest first, and
// returns how many were written; it stops at the first failure.
func (t *Trail) Flush(ctx context.Context) (int, error) {
	st := t.o.Store()
	if t.Pending() == 0 {
		return 0, nil
	}
	if st == nil {
		return 0, bot.ErrStoreUnavailable
	}
	n, err := t.o.Spool.Replay(ctx, t.deliver(st))
	if ctx.Err() == nil {
		t.noteErr(err)
	}
	return n, err
}

// deliver returns the function that writes one spool record to st, with
// the record's key as the entry's idempotency key. A record that can never
// be written — not an audit entry, unreadable, or refused by the database
// for good (storable.ErrRefused) — is set aside (spool.SetAside), so that
// the entries behind it are written; a database that does not answer
// stops the replay, to be tried again.
func (t *Trail) deliver(st *store.Store) func(ctx context.Context, r spool.Record) error {
	return func(ctx context.Context, r spool.Record) error {
		aside := func(err error) error {
			t.o.Log.WithFields(logrus.Fields{"spool_id": r.ID, "set_aside": t.o.Spool.SetAsidePath(), "error": err.Error()}).
				Error("AUDIT ENTRY SET ASIDE: the bot's database refuses it for good; the entries after it are written. It is kept in the set-aside file for an operator")
			return spool.SetAside(err)
		}
		if r.Kind != SpoolKind {
			// Not ours: a spool is shared only by agreement.
			return aside(fmt.Errorf("audit replay: spool record %s is of kind %q", r.ID, r.Kind))
		}
		var s spooled
		if err := json.Unmarshal(r.Payload, &s); err != nil {
			return aside(fmt.Errorf("audit replay: spool record %s is unreadable: %w", r.ID, err))
		}
		key := s.Key
		if key == "" {
			key = r.ID
		}
		wctx, cancel := context.WithTimeout(ctx, t.o.Timeout)
		defer cancel()
		got, err := st.Append(wctx, toStore(bot.AuditEntry{Subject: s.Subject, Channel: s.Channel, Command: s.Command,
			Args: s.Args, Decision: s.Decision, Approver: s.Approver, Result: s.Result, Duration: s.Duration}, key, s.At))
		if storable.Refused(err) {
			return aside(fmt.Errorf("audit replay: spool record %s: %w", r.ID, err))
		}
		if err != nil {
			return fmt.Errorf("audit replay: %w", err)
		}
		t.noteHead(got)
		return nil
	}
}

// Run replays spooled entries whenever kicked and every Retry while some
// wait, and posts the digest to the Notifier, until ctx ends.
func (t *Trail) Run(ctx context.Context) {
	retry := time.NewTicker(t.o.Retry)
	defer retry.Stop()
	notify := time.NewTicker(t.o.NotifyEvery)
	defer notify.Stop()
	t.Kick() // entries left by an earlier run
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.kick:
			t.replay(ctx)
		case <-retry.C:
			if t.Pending() > 0 {
				t.replay(ctx)
			}
		case <-notify.C:
			t.notify(ctx)
		}
	}
}

func (t *Trail) replay(ctx context.Context) {
	if t.Pending() == 0 || t.o.Store() == nil {
		return
	}
	n, err := t.Flush(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		log := t.o.Log.WithFields(logrus.Fields{"written": n, "waiting": t.o.Spool.Len(), "error": err.Error()})
		if t.failing.CompareAndSwap(false, true) {
			log.Error("spooled audit entries not written yet; retrying")
		} else {
			log.Debug("spooled audit entries still not written")
		}
	case n > 0:
		log := t.o.Log.WithField("written", n)
		if t.failing.Swap(false) {
			log.Warn("spooled audit entries written to the bot's database")
		} else {
			log.Debug("audit entries written to the bot's database")
		}
	}
}

// noteHead records e as the latest entry outside the database: the digest
// file (atomically: temp file, rename) and the bot's log.
func (t *Trail) noteHead(e store.Entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.ID <= t.head.ID {
		return // another append of this process got further
	}
	t.head = store.Digest{ID: e.ID, Hash: e.Hash}
	t.o.Log.WithFields(logrus.Fields{"audit_id": e.ID, "audit_digest": e.Hash}).Info("audit log head")
	if err := WriteDigest(t.o.DigestPath, t.head); err != nil {
		t.o.Log.WithField("error", err.Error()).Error("the audit digest was not written outside the database")
	}
}

// SetNotifier sets (or replaces) where the digest is posted.
func (t *Trail) SetNotifier(n Notifier) { t.notifier.Store(&n) }

func (t *Trail) notify(ctx context.Context) {
	np := t.notifier.Load()
	if np == nil || *np == nil {
		return
	}
	n := *np
	t.mu.Lock()
	head := t.head
	due := head.ID != t.notified.ID
	t.mu.Unlock()
	if !due {
		return
	}
	nctx, cancel := context.WithTimeout(ctx, t.o.Timeout)
	defer cancel()
	if err := n.Notify(nctx, DigestText(head)); err != nil {
		t.o.Log.WithField("error", err.Error()).Warn("the audit digest was not posted to the audit channel")
		return
	}
	t.mu.Lock()
	t.notified = head
	t.mu.Unlock()
}

// DigestText is how a digest is posted and logged for people.
func DigestText(d store.Digest) string {
	return fmt.Sprintf("Audit log head: entry %d, SHA-256 %s", d.ID, d.Hash)
}

// WriteDigest replaces the digest file atomically (temp file, rename). It
// does not fsync: that would add milliseconds to every audited command, and
// a digest a power cut leaves behind the log only makes verify report the
// newest entries as not covered (an unreadable file is reported as such).
func WriteDigest(path string, d store.Digest) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("audit digest: %w", err)
	}
	f, err := os.CreateTemp(dir, ".audit-head-*")
	if err != nil {
		return fmt.Errorf("audit digest: %w", err)
	}
	tmp := f.Name()
	_, err = fmt.Fprintf(f, "%d %s\n", d.ID, d.Hash)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("audit digest: %w", err)
	}
	return nil
}

// ErrNoDigest is returned by ReadDigest when no digest was written yet.
var ErrNoDigest = errors.New("no audit digest has been written outside the database yet")

// ReadDigest reads the digest file.
func ReadDigest(path string) (store.Digest, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return store.Digest{}, ErrNoDigest
	}
	if err != nil {
		return store.Digest{}, fmt.Errorf("audit digest: %w", err)
	}
	idText, hash, ok := strings.Cut(strings.TrimSpace(string(data)), " ")
	id, err := strconv.ParseInt(idText, 10, 64)
	if !ok || err != nil || id <= 0 || len(hash) != 64 {
		return store.Digest{}, fmt.Errorf("audit digest: %s does not hold \"<id> <sha256>\"", path)
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return store.Digest{}, fmt.Errorf("audit digest: %s does not hold \"<id> <sha256>\"", path)
	}
	return store.Digest{ID: id, Hash: hash}, nil
}
