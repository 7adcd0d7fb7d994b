package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// States of an approval. pending → approved | denied | withdrawn |
// expired; approved → executed | failed. No other change happens.
const (
	StatePending   = "pending"
	StateApproved  = "approved"
	StateDenied    = "denied"
	StateWithdrawn = "withdrawn" // by its requester
	StateExpired   = "expired"
	StateExecuted  = "executed"
	StateFailed    = "failed"
)

// Approval is a request to run a command that needs a second person.
type Approval struct {
	ID        string // short and random, e.g. A-7F3K9Q: what a person types or a button carries
	Command   string
	Args      string // already redacted by the caller
	Object    string // the permission object, e.g. rollback or restart:postgres
	Level     int    // the level an approver must hold (checked by the caller at decision time)
	Requester string // namespaced subject
	Channel   string
	ThreadTS  string
	MessageTS string
	State     string
	Approver  string // who approved or denied it
	CreatedAt time.Time
	ExpiresAt time.Time
	DecidedAt time.Time // zero while pending
	Result    string    // what the execution said, once executed or failed
}

// Why a decision or an execution was refused. Decide and MarkExecuted wrap
// them in a *DecisionError that says more; test with errors.Is.
var (
	ErrNotFound        = errors.New("no such approval request")
	ErrAlreadyDecided  = errors.New("approval request already decided")
	ErrExpired         = errors.New("approval request expired")
	ErrSelfApproval    = errors.New("the requester cannot decide their own request")
	ErrNotRequester    = errors.New("only the requester can withdraw a request")
	ErrNotApproved     = errors.New("approval request is not approved")
	ErrInvalidApproval = errors.New("invalid approval request")
)

// DecisionError is why Decide or MarkExecuted changed nothing: Err is one
// of the sentinels above, State and Approver what the request holds now.
type DecisionError struct {
	ID       string
	State    string
	Approver string
	Err      error
}

func (e *DecisionError) Error() string {
	switch e.Err {
	case ErrNotFound:
		return fmt.Sprintf("approval %s: %v", e.ID, e.Err)
	case ErrAlreadyDecided, ErrNotApproved:
		if e.Approver != "" {
			return fmt.Sprintf("approval %s: %v: it is %s (by %s)", e.ID, e.Err, e.State, e.Approver)
		}
		return fmt.Sprintf("approval %s: %v: it is %s", e.ID, e.Err, e.State)
	default:
		return fmt.Sprintf("approval %s: %v", e.ID, e.Err)
	}
}

func (e *DecisionError) Unwrap() error { return e.Err }

// idAlphabet has no 0/O or 1/I/L, so that an ID read aloud or retyped survives.
const idAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

func newApprovalID() string {
	b := make([]byte, 6)
	rand.Read(b) // never fails (crypto/rand panics instead)
	// 31^6 ≈ 8.9e8 IDs; the modulo bias (256 % 31) is harmless for an identifier.
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return "A-" + string(b)
}

const approvalColumns = `id, command, args, object, level, requester, channel, thread_ts, message_ts,
	state, approver, created_at, expires_at, decided_at, result`

func scanApproval(row pgx.Row) (Approval, error) {
	var a Approval
	var decided *time.Time
	err := row.Scan(&a.ID, &a.Command, &a.Args, &a.Object, &a.Level, &a.Requester, &a.Channel,
		&a.ThreadTS, &a.MessageTS, &a.State, &a.Approver, &a.CreatedAt, &a.ExpiresAt, &decided, &a.Result)
	a.CreatedAt, a.ExpiresAt = a.CreatedAt.UTC(), a.ExpiresAt.UTC()
	if decided != nil {
		a.DecidedAt = decided.UTC()
	}
	return a, err
}

func collectApprovals(rows pgx.Rows) ([]Approval, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Approval, error) { return scanApproval(r) })
}

// CreateApproval records a pending request and returns it with its new ID.
// It expires ttl after a.CreatedAt (now when zero). ID, State, Approver,
// DecidedAt, ExpiresAt and Result of a are ignored.
func (s *Store) CreateApproval(ctx context.Context, a Approval, ttl time.Duration) (Approval, error) {
	if ttl <= 0 {
		return Approval{}, fmt.Errorf("create approval: ttl %v: %w", ttl, ErrInvalidApproval)
	}
	if a.Command == "" || a.Requester == "" {
		return Approval{}, fmt.Errorf("create approval: command and requester are required: %w", ErrInvalidApproval)
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = time.Now()
	}
	a.CreatedAt = a.CreatedAt.UTC().Truncate(time.Microsecond)
	a.ExpiresAt = a.CreatedAt.Add(ttl)
	a.State, a.Approver, a.DecidedAt, a.Result = StatePending, "", time.Time{}, ""
	a.makeStorable()
	for attempt := 0; ; attempt++ {
		a.ID = newApprovalID()
		_, err := s.pool.Exec(ctx, `INSERT INTO approvals
			(id, command, args, object, level, requester, channel, thread_ts, message_ts, state, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			a.ID, a.Command, a.Args, a.Object, a.Level, a.Requester, a.Channel, a.ThreadTS, a.MessageTS,
			a.State, a.CreatedAt, a.ExpiresAt)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" && attempt < 5 {
			continue // an ID already taken: draw another
		}
		if err != nil {
			return Approval{}, fmt.Errorf("create approval for %s: %w", a.Command, classify(err))
		}
		return a, nil
	}
}

// SetMessage records where the request was posted (known only after
// posting, and the post names the ID): the message that holds the buttons
// and the thread that follows it.
func (s *Store) SetMessage(ctx context.Context, id, channel, messageTS, threadTS string) error {
	id, channel, messageTS, threadTS = text(id), text(channel), text(messageTS), text(threadTS)
	tag, err := s.pool.Exec(ctx, `UPDATE approvals SET channel = $2, message_ts = $3, thread_ts = $4 WHERE id = $1`,
		id, channel, messageTS, threadTS)
	if err != nil {
		return fmt.Errorf("approval %s: set message: %w", id, classify(err))
	}
	if tag.RowsAffected() == 0 {
		return &DecisionError{ID: id, Err: ErrNotFound}
	}
	return nil
}

// Approval returns the request with this ID, or an error wrapping ErrNotFound.
func (s *Store) Approval(ctx context.Context, id string) (Approval, error) {
	id = text(id)
	a, err := scanApproval(s.pool.QueryRow(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Approval{}, &DecisionError{ID: id, Err: ErrNotFound}
	}
	if err != nil {
		return Approval{}, fmt.Errorf("approval %s: %w", id, err)
	}
	return a, nil
}

// Decide approves or denies a pending request as approver at now. One
// conditional UPDATE decides, whatever the number of clicks, processes or
// redeliveries: exactly one caller gets the decided request back. Every
// other gets a *DecisionError wrapping ErrNotFound, ErrAlreadyDecided
// (with the state and approver it has), ErrSelfApproval or ErrExpired
// (the request is then marked expired), and the request as it stands,
// when there is one. Whether approver holds the level is the caller's
// check, made before calling, at the time of the click.
func (s *Store) Decide(ctx context.Context, id, approver string, approve bool, now time.Time) (Approval, error) {
	state := StateDenied
	if approve {
		state = StateApproved
	}
	now = now.UTC().Truncate(time.Microsecond)
	id, approver = text(id), text(approver)
	a, err := scanApproval(s.pool.QueryRow(ctx, `UPDATE approvals
		SET state = $3, approver = $2, decided_at = $4
		WHERE id = $1 AND state = 'pending' AND expires_at > $4 AND requester <> $2
		RETURNING `+approvalColumns, id, approver, state, now))
	if err == nil {
		return a, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Approval{}, fmt.Errorf("approval %s: decide: %w", id, classify(err))
	}
	// Nothing changed: say why, from the row as it is now.
	cur, err := s.Approval(ctx, id)
	if err != nil {
		return Approval{}, err
	}
	switch {
	case cur.State != StatePending:
		return cur, &DecisionError{ID: id, State: cur.State, Approver: cur.Approver, Err: ErrAlreadyDecided}
	case cur.Requester == approver:
		return cur, &DecisionError{ID: id, State: cur.State, Err: ErrSelfApproval}
	case !cur.ExpiresAt.After(now):
		return s.markExpired(ctx, cur, now)
	default:
		// Pending, not the requester's, not expired, and yet the UPDATE
		// matched nothing: not expected to happen. Report it rather than guess.
		return cur, fmt.Errorf("approval %s: decide: not decided, for no known reason (state %s)", id, cur.State)
	}
}

// markExpired marks cur, pending past its expiry at now, expired (unless
// someone else did first) and returns it with a *DecisionError wrapping
// ErrExpired.
func (s *Store) markExpired(ctx context.Context, cur Approval, now time.Time) (Approval, error) {
	id := cur.ID
	exp, err := scanApproval(s.pool.QueryRow(ctx, `UPDATE approvals SET state = 'expired', decided_at = $2
		WHERE id = $1 AND state = 'pending' AND expires_at <= $2 RETURNING `+approvalColumns, id, now))
	switch {
	case err == nil:
		cur = exp
	case errors.Is(err, pgx.ErrNoRows): // someone else marked it first
		if again, err := s.Approval(ctx, id); err == nil {
			cur = again
		}
	default:
		return cur, fmt.Errorf("approval %s: mark expired: %w", id, err)
	}
	return cur, &DecisionError{ID: id, State: StateExpired, Err: ErrExpired}
}

// Withdraw marks a pending request withdrawn by its requester at now:
// one conditional UPDATE, so a withdrawal and an approval racing are
// decided once between them. Nothing changed, it returns a
// *DecisionError wrapping ErrNotFound, ErrAlreadyDecided (with the state
// and who decided it), ErrNotRequester or ErrExpired (the request is
// then marked expired), and the request as it stands, when there is one.
func (s *Store) Withdraw(ctx context.Context, id, requester string, now time.Time) (Approval, error) {
	now = now.UTC().Truncate(time.Microsecond)
	a, err := scanApproval(s.pool.QueryRow(ctx, `UPDATE approvals
		SET state = 'withdrawn', approver = $2, decided_at = $3
		WHERE id = $1 AND state = 'pending' AND expires_at > $3 AND requester = $2
		RETURNING `+approvalColumns, id, requester, now))
	if err == nil {
		return a, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Approval{}, fmt.Errorf("approval %s: withdraw: %w", id, err)
	}
	cur, err := s.Approval(ctx, id)
	if err != nil {
		return Approval{}, err
	}
	switch {
	case cur.State != StatePending:
		return cur, &DecisionError{ID: id, State: cur.State, Approver: cur.Approver, Err: ErrAlreadyDecided}
	case cur.Requester != requester:
		return cur, &DecisionError{ID: id, State: cur.State, Err: ErrNotRequester}
	case !cur.ExpiresAt.After(now):
		return s.markExpired(ctx, cur, now)
	default:
		return cur, fmt.Errorf("approval %s: withdraw: not withdrawn, for no known reason (state %s)", id, cur.State)
	}
}

// MarkExecuted records the outcome of running an approved request:
// executed when ok, failed otherwise. It succeeds once; afterwards, or
// for a request that is not approved, it returns a *DecisionError
// wrapping ErrAlreadyDecided (already executed or failed), ErrNotApproved
// or ErrNotFound.
func (s *Store) MarkExecuted(ctx context.Context, id, result string, ok bool) error {
	state := StateFailed
	if ok {
		state = StateExecuted
	}
	id, result = text(id), text(result)
	tag, err := s.pool.Exec(ctx, `UPDATE approvals SET state = $2, result = $3 WHERE id = $1 AND state = 'approved'`,
		id, state, result)
	if err != nil {
		return fmt.Errorf("approval %s: mark %s: %w", id, state, classify(err))
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	cur, err := s.Approval(ctx, id)
	if err != nil {
		return err
	}
	if cur.State == StateExecuted || cur.State == StateFailed {
		return &DecisionError{ID: id, State: cur.State, Approver: cur.Approver, Err: ErrAlreadyDecided}
	}
	return &DecisionError{ID: id, State: cur.State, Approver: cur.Approver, Err: ErrNotApproved}
}

// Expire marks every request still pending at now past its expiry as
// expired and returns them, each once across all processes, so that the
// caller can say so in its thread.
func (s *Store) Expire(ctx context.Context, now time.Time) ([]Approval, error) {
	rows, err := s.pool.Query(ctx, `UPDATE approvals SET state = 'expired', decided_at = $1
		WHERE state = 'pending' AND expires_at <= $1 RETURNING `+approvalColumns,
		now.UTC().Truncate(time.Microsecond))
	if err != nil {
		return nil, fmt.Errorf("expire approvals: %w", err)
	}
	out, err := collectApprovals(rows)
	if err != nil {
		return nil, fmt.Errorf("expire approvals: %w", err)
	}
	return out, nil
}
