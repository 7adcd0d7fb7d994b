// Package botstore adapts the bot's PostgreSQL store to the interfaces the
// core consumes (bot.Approvals, bot.Auditor), so that package bot never
// imports pgx or the store.
package botstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/store"
)

// Approvals is bot.Approvals over a *store.Store.
type Approvals struct{ S *store.Store }

// Auditor is bot.Auditor over a *store.Store.
type Auditor struct{ S *store.Store }

var _ bot.Approvals = Approvals{}
var _ bot.Auditor = Auditor{}

// Create implements bot.Approvals.
func (a Approvals) Create(ctx context.Context, r bot.Approval, ttl time.Duration) (bot.Approval, error) {
	got, err := a.S.CreateApproval(ctx, toStore(r), ttl)
	if err != nil {
		return bot.Approval{}, mapErr(err)
	}
	return fromStore(got), nil
}

// Decide implements bot.Approvals.
func (a Approvals) Decide(ctx context.Context, id, approver string, approve bool, now time.Time) (bot.Approval, error) {
	got, err := a.S.Decide(ctx, id, approver, approve, now)
	return fromStore(got), mapErr(err)
}

// Withdraw implements bot.Approvals.
func (a Approvals) Withdraw(ctx context.Context, id, requester string, now time.Time) (bot.Approval, error) {
	got, err := a.S.Withdraw(ctx, id, requester, now)
	return fromStore(got), mapErr(err)
}

// MarkExecuted implements bot.Approvals.
func (a Approvals) MarkExecuted(ctx context.Context, id, result string, ok bool) error {
	return mapErr(a.S.MarkExecuted(ctx, id, result, ok))
}

// Expire implements bot.Approvals.
func (a Approvals) Expire(ctx context.Context, now time.Time) ([]bot.Approval, error) {
	got, err := a.S.Expire(ctx, now)
	if err != nil {
		return nil, err
	}
	out := make([]bot.Approval, len(got))
	for i, g := range got {
		out[i] = fromStore(g)
	}
	return out, nil
}

// Get implements bot.Approvals.
func (a Approvals) Get(ctx context.Context, id string) (bot.Approval, error) {
	got, err := a.S.Approval(ctx, id)
	if err != nil {
		return bot.Approval{}, mapErr(err)
	}
	return fromStore(got), nil
}

// SetMessage implements bot.Approvals.
func (a Approvals) SetMessage(ctx context.Context, id, channel, messageTS, threadTS string) error {
	return mapErr(a.S.SetMessage(ctx, id, channel, messageTS, threadTS))
}

// Append implements bot.Auditor.
func (a Auditor) Append(ctx context.Context, e bot.AuditEntry) error {
	_, err := a.S.Append(ctx, store.Entry{
		Subject: e.Subject, Channel: e.Channel, Command: e.Command, Args: e.Args,
		Decision: e.Decision, Approver: e.Approver, Result: e.Result, Duration: e.Duration,
	})
	return err
}

// mapErr wraps the store's sentinel in the core's, keeping both for errors.Is.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range []struct{ from, to error }{
		{store.ErrNotFound, bot.ErrApprovalNotFound},
		{store.ErrAlreadyDecided, bot.ErrApprovalDecided},
		{store.ErrExpired, bot.ErrApprovalExpired},
		{store.ErrSelfApproval, bot.ErrSelfApproval},
		{store.ErrNotRequester, bot.ErrNotRequester},
		{store.ErrNotApproved, bot.ErrApprovalNotApproved},
	} {
		if errors.Is(err, m.from) {
			return fmt.Errorf("%w: %w", m.to, err)
		}
	}
	return err
}

func toStore(r bot.Approval) store.Approval {
	return store.Approval{
		ID: r.ID, Command: r.Command, Args: r.Text, Object: r.Object, Level: int(r.Level),
		Requester: r.Requester, Channel: r.Channel, ThreadTS: r.ThreadTS, MessageTS: r.MessageTS,
		State: r.State, Approver: r.Approver, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
		DecidedAt: r.DecidedAt, Result: r.Result,
	}
}

func fromStore(s store.Approval) bot.Approval {
	return bot.Approval{
		ID: s.ID, Command: s.Command, Text: s.Args, Object: s.Object, Level: bot.Level(s.Level),
		Requester: s.Requester, Channel: s.Channel, ThreadTS: s.ThreadTS, MessageTS: s.MessageTS,
		State: s.State, Approver: s.Approver, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt,
		DecidedAt: s.DecidedAt, Result: s.Result,
	}
}
