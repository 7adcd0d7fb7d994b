package audittrail

import (
	"context"
	"errors"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/store"
)

var _ bot.AuditLog = (*Trail)(nil)

// store returns the store to read the log from, after writing what waits
// in the spool (within ctx), so that the log shows every entry made so far.
func (t *Trail) store(ctx context.Context) (*store.Store, error) {
	st := t.o.Store()
	if st == nil && t.o.Wait != nil {
		st = t.o.Wait(ctx)
	}
	if st != nil && t.Pending() > 0 {
		if _, err := t.Flush(ctx); err != nil {
			t.o.Log.WithFields(logrus.Fields{"error": err.Error(), "waiting": t.Pending()}).Warn("spooled audit entries not written before reading the log")
		}
	}
	if st == nil {
		n := t.Pending()
		waiting := fmt.Sprintf("%d entries wait", n)
		if n == 1 {
			waiting = "1 entry waits"
		}
		return nil, fmt.Errorf("the bot's database is unreachable right now (the bot keeps trying; %s in the local spool)", waiting)
	}
	return st, nil
}

// AuditEntries implements bot.AuditLog.
func (t *Trail) AuditEntries(ctx context.Context, q bot.AuditQuery) ([]bot.AuditRecord, error) {
	st, err := t.store(ctx)
	if err != nil {
		return nil, err
	}
	es, err := st.Entries(ctx, store.Filter{Subject: q.Subject, Since: q.Since, Before: q.Before, Limit: q.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]bot.AuditRecord, len(es))
	for i, e := range es {
		out[i] = bot.AuditRecord{ID: e.ID, At: e.At, Occurred: e.Occurred, Subject: e.Subject, Channel: e.Channel,
			Command: e.Command, Args: e.Args, Decision: e.Decision, Approver: e.Approver, Result: e.Result, Duration: e.Duration}
	}
	return out, nil
}

// VerifyAudit implements bot.AuditLog: the chain, against the digest
// file when there is one. An unreadable digest file is a problem of its own.
func (t *Trail) VerifyAudit(ctx context.Context) (bot.AuditReport, error) {
	st, err := t.store(ctx)
	if err != nil {
		return bot.AuditReport{}, err
	}
	var r bot.AuditReport
	d, derr := ReadDigest(t.o.DigestPath)
	var v store.Verification
	if derr == nil {
		v, err = st.VerifyDigest(ctx, d)
		r.DigestID, r.Digest, r.DigestWhere = d.ID, d.Hash, t.o.DigestPath
	} else {
		v, err = st.Verify(ctx, "")
	}
	if err != nil {
		return r, err
	}
	r.Entries, r.LastID, r.Head, r.Problems, r.Uncovered = v.Entries, v.LastID, v.Head, v.Problems, v.Uncovered
	if derr != nil && !errors.Is(derr, ErrNoDigest) {
		r.Problems = append(r.Problems, fmt.Sprintf("the digest kept outside the database is unreadable: %v", derr))
	}
	r.Pending = t.Pending()
	r.Spool = t.AuditSpool()
	return r, nil
}

// AuditSpool implements bot.AuditLog: what waits in the spool and
// why — the database not answering, or what it said — and what was set
// aside.
func (t *Trail) AuditSpool() bot.AuditSpool {
	sp := bot.AuditSpool{Pending: t.Pending()}
	sp.SetAside, sp.SetAsideWhere = t.SetAside()
	if sp.Pending == 0 {
		return sp
	}
	if t.o.Store() == nil {
		sp.Unreachable = true
	} else if err := t.LastError(); err != nil {
		sp.Reason = err.Error()
	}
	return sp
}
